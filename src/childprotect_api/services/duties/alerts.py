"""Alerts: one row per recipient, so each officer acknowledges their own. Recipients are the
active county officers of the child's county and, where asked, the township supervisors of
its township; nobody outside that area."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.models.care import Alert, AlertKind
from childprotect_api.models.user import Role, User


async def recipients(
    session: AsyncSession, area_code: str, *, township_too: bool = False
) -> list[uuid.UUID]:
    county = area_code[:6]
    township = area_code[:9]
    cond = (col(User.role) == Role.county_officer.value) & (col(User.area_code) == county)
    if township_too and len(area_code) >= 9:
        cond = cond | (
            (col(User.role) == Role.township_supervisor.value) & (col(User.area_code) == township)
        )
    stmt = select(col(User.id)).where(cond, col(User.is_active).is_(True)).order_by(col(User.id))
    return list((await session.execute(stmt)).scalars())


async def raise_alert(
    session: AsyncSession,
    kind: AlertKind,
    area_code: str,
    *,
    child_id: uuid.UUID | None = None,
    duty_kind: str | None = None,
    source_id: uuid.UUID | None = None,
    township_too: bool = False,
    at: datetime | None = None,
) -> list[Alert]:
    """Put the alert in the inbox of everyone it is for; the caller decides it is due once."""
    made = []
    for user_id in await recipients(session, area_code, township_too=township_too):
        alert = Alert(
            recipient_id=user_id,
            kind=kind.value,
            child_id=child_id,
            county_code=area_code[:6],
            area_code=area_code,
            duty_kind=duty_kind,
            source_id=source_id,
        )
        if at is not None:
            alert.created_at = at
        session.add(alert)
        made.append(alert)
    if made:
        await session.flush()
    return made
