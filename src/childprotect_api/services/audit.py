"""The audit log's scoped read (county officers, auditors, admins). The writer is
core/audit.py: every change records its event in its own transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.models.audit import AuditEvent
from childprotect_api.security.scope import Action, Scope, apply_scope


async def list_events(
    session: AsyncSession,
    scope: Scope,
    *,
    resource_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    since: datetime | None,
    limit: int,
    before_id: int | None,
) -> list[AuditEvent]:
    """Newest first, in the caller's scope (by the area of the record each row is about)."""
    scope.require(Action.audit_read)
    stmt = apply_scope(
        select(AuditEvent), scope, col(AuditEvent.area_code), col(AuditEvent.county_code)
    )
    if resource_id is not None:
        stmt = stmt.where(col(AuditEvent.resource_id) == resource_id)
    if actor_id is not None:
        stmt = stmt.where(col(AuditEvent.actor_id) == actor_id)
    if since is not None:
        stmt = stmt.where(col(AuditEvent.at) >= since)
    if before_id is not None:
        stmt = stmt.where(col(AuditEvent.id) < before_id)
    stmt = stmt.order_by(col(AuditEvent.id).desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())
