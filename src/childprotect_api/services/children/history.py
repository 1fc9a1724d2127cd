"""Reading a child's history: its risk levels, and its transfers, closing and reopening.
The child must be in the caller's scope; its whole history follows it from village to
village. Each read is audited."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit
from childprotect_api.models.child import ChildEvent, ChildRiskChange
from childprotect_api.security.scope import Scope
from childprotect_api.services.children.registry import RESOURCE, get_child


async def list_risk_changes(
    session: AsyncSession, scope: Scope, child_id: uuid.UUID, limit: int, before_id: int | None
) -> list[ChildRiskChange]:
    """Newest first. The child must be in scope; its whole history follows it."""
    child = await get_child(session, scope, child_id)
    stmt = select(ChildRiskChange).where(col(ChildRiskChange.child_id) == child.id)
    if before_id is not None:
        stmt = stmt.where(col(ChildRiskChange.id) < before_id)
    stmt = stmt.order_by(col(ChildRiskChange.id).desc()).limit(limit)
    rows = list((await session.execute(stmt)).scalars())
    await audit.record(
        session, scope, "child.risk_history_read", RESOURCE, child.id, child.area_code
    )
    return rows


async def list_events(
    session: AsyncSession, scope: Scope, child_id: uuid.UUID, limit: int, before_id: int | None
) -> list[ChildEvent]:
    """Transfers, closing and reopening, newest first."""
    child = await get_child(session, scope, child_id)
    stmt = select(ChildEvent).where(col(ChildEvent.child_id) == child.id)
    if before_id is not None:
        stmt = stmt.where(col(ChildEvent.id) < before_id)
    stmt = stmt.order_by(col(ChildEvent.id).desc()).limit(limit)
    rows = list((await session.execute(stmt)).scalars())
    await audit.record(session, scope, "child.history_read", RESOURCE, child.id, child.area_code)
    return rows
