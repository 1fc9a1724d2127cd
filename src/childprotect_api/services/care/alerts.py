"""The alert inbox: each user reads and acknowledges their own alerts (in scope)."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core.errors import NotFound
from childprotect_api.models.base import utcnow
from childprotect_api.models.care import Alert
from childprotect_api.security.scope import Action, Scope, apply_scope
from childprotect_api.services.care.common import after_id


def _mine(scope: Scope) -> Select[Alert]:
    return apply_scope(
        select(Alert).where(col(Alert.recipient_id) == scope.actor_id),
        scope,
        col(Alert.area_code),
        col(Alert.county_code),
    )


async def list_alerts(
    session: AsyncSession,
    scope: Scope,
    *,
    acknowledged: bool | None,
    limit: int,
    cursor: str | None,
) -> list[Alert]:
    scope.require(Action.alerts_read)
    stmt = _mine(scope)
    if acknowledged is not None:
        stmt = stmt.where(
            col(Alert.acknowledged_at).is_not(None)
            if acknowledged
            else col(Alert.acknowledged_at).is_(None)
        )
    if (after := after_id(cursor)) is not None:
        stmt = stmt.where(col(Alert.id) > after)
    return list((await session.execute(stmt.order_by(col(Alert.id)).limit(limit))).scalars())


async def acknowledge(session: AsyncSession, scope: Scope, alert_id: uuid.UUID) -> Alert:
    """Acknowledge one's own alert; acknowledging again answers it as it is."""
    scope.require(Action.alerts_read)
    stmt = _mine(scope).where(col(Alert.id) == alert_id).with_for_update()
    alert = (await session.execute(stmt)).scalar_one_or_none()
    if alert is None:
        raise NotFound("no such alert")
    if alert.acknowledged_at is None:
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by = scope.user_id
        alert.version += 1
        await session.flush()
    return alert
