"""Time-driven agreement changes, run by a background loop in the app (config `jobs_enabled`):

- `expire_agreements`: active agreements whose `ends_on` has passed become `expired` (one
  set-based UPDATE, with a history row each);
- `notify_expiring`: an `agreement.expiring` outbox event, once per agreement, when it enters
  the 30-day window before its end (remembered in `expiring_notified_at`).

Reads do not wait for the job: an active agreement past its end already reads as expired."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Table, func, insert, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.core import outbox
from childprotect_api.models.agreement import Agreement, AgreementStatusChange
from childprotect_api.services.children.rules import CHINA_TZ

log = logging.getLogger(__name__)

# Dates in agreements are Chinese calendar dates (UTC+8 all year, no daylight saving).
EXPIRING_WINDOW_DAYS = 30
# One runner at a time across API processes (pg_try_advisory_xact_lock key).
_JOB_LOCK_KEY = 0x43504147  # "CPAG"

_agreements: Table = Agreement.metadata.tables["agreements"]
_changes: Table = AgreementStatusChange.metadata.tables["agreement_status_changes"]


def china_today() -> date:
    return datetime.now(UTC).astimezone(CHINA_TZ).date()


async def expire_agreements(
    session: AsyncSession, today: date, *, child_id: uuid.UUID | None = None
) -> int:
    """Mark active agreements that ended before `today` expired; answer how many."""
    expired = (
        update(_agreements)
        .where(_agreements.c.status == "active", _agreements.c.ends_on < today)
        .values(
            status="expired",
            version=_agreements.c.version + 1,
            updated_at=func.now(),
            updated_by=None,
        )
        .returning(_agreements.c.id, _agreements.c.county_code, _agreements.c.area_code)
    )
    if child_id is not None:
        expired = expired.where(_agreements.c.child_id == child_id)
    cte = expired.cte("expired")
    stmt = insert(_changes).from_select(
        ["agreement_id", "county_code", "area_code", "old_status", "new_status", "reason"],
        select(
            cte.c.id,
            cte.c.county_code,
            cte.c.area_code,
            literal("active"),
            literal("expired"),
            literal("ends_on_passed"),
        ),
    )
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


async def notify_expiring(
    session: AsyncSession, today: date, window_days: int = EXPIRING_WINDOW_DAYS
) -> int:
    """Emit `agreement.expiring` for active agreements that entered the window and were not
    announced yet; answer how many."""
    stmt = (
        update(_agreements)
        .where(
            _agreements.c.status == "active",
            _agreements.c.expiring_notified_at.is_(None),
            _agreements.c.ends_on >= today,
            _agreements.c.ends_on <= today + timedelta(days=window_days),
        )
        .values(expiring_notified_at=func.now())
        .returning(
            _agreements.c.id,
            _agreements.c.child_id,
            _agreements.c.area_code,
        )
    )
    rows = (await session.execute(stmt)).all()
    for row in rows:
        await outbox.emit(
            session,
            "agreement.expiring",
            resource_type="agreement",
            resource_id=row.id,
            area_code=row.area_code,
            payload={"agreement_id": str(row.id), "child_id": str(row.child_id)},
        )
    return len(rows)


async def run_once(session: AsyncSession, today: date) -> tuple[int, int] | None:
    """Both steps in the caller's transaction; None when another process holds the job."""
    locked = (
        await session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _JOB_LOCK_KEY})
    ).scalar()
    if not locked:
        return None
    expired = await expire_agreements(session, today)
    announced = await notify_expiring(session, today)
    return expired, announced


async def periodic(session: AsyncSession, now: datetime) -> int:
    """The hourly background job (services/periodic.py): expire and announce, as of China's date."""
    done = await run_once(session, now.astimezone(CHINA_TZ).date())
    return sum(done) if done else 0
