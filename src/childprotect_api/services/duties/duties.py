"""The risk duties of DESIGN.md's table, kept true in the same transaction as the change
that opens or meets them:

| duty | opens when | met when | overdue after |
| `needs_pairing` | orange or red, no active pairing | an active pairing exists | 7 days |
| `needs_case` | red, no open case, no accepted/referred report | either | 24 hours |
| `case_review_due` | an open case's `review_on` passes | reviewed or closed | at once |

`recompute(session, child)` is the one entry: it reads the child's pairings, cases and
reports and opens or meets each duty. Open duties are rows of child_duties with `met_at`
null; a partial unique index keeps one open duty of a kind per child, so racing writers
cannot open two (INSERT ... ON CONFLICT DO NOTHING)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, exists, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.models.base import utcnow
from childprotect_api.models.care import (
    AlertKind,
    Case,
    CaseStatus,
    ChildDuty,
    DutyKind,
    Pairing,
    PairingStatus,
)
from childprotect_api.models.child import Child, ChildStatus
from childprotect_api.models.report import Report
from childprotect_api.services.duties.alerts import raise_alert

OVERDUE_AFTER: dict[DutyKind, timedelta] = {
    DutyKind.needs_pairing: timedelta(days=7),
    DutyKind.needs_case: timedelta(hours=24),
    DutyKind.case_review_due: timedelta(0),
}
# Report statuses that meet `needs_case`: someone has taken the child's situation in hand.
_HANDLED_REPORT = ("accepted", "referred")
_duties = ChildDuty.__table__  # type: ignore[attr-defined]


async def _has_active_pairing(session: AsyncSession, child_id: uuid.UUID) -> bool:
    stmt = select(
        exists().where(
            col(Pairing.child_id) == child_id, col(Pairing.status) == PairingStatus.active.value
        )
    )
    return bool((await session.execute(stmt)).scalar())


async def _open_case(session: AsyncSession, child_id: uuid.UUID) -> Case | None:
    stmt = (
        select(Case)
        .where(col(Case.child_id) == child_id, col(Case.status) == CaseStatus.open.value)
        .order_by(col(Case.review_on).asc().nulls_last(), col(Case.id))
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


async def _has_handled_report(session: AsyncSession, child_id: uuid.UUID) -> bool:
    stmt = select(
        exists().where(col(Report.child_id) == child_id, col(Report.status).in_(_HANDLED_REPORT))
    )
    return bool((await session.execute(stmt)).scalar())


async def _open(
    session: AsyncSession,
    child: Child,
    kind: DutyKind,
    now: datetime,
    *,
    due_at: datetime | None = None,
    case_id: uuid.UUID | None = None,
) -> None:
    stmt = (
        insert(_duties)
        .values(
            child_id=child.id,
            county_code=child.county_code,
            area_code=child.area_code,
            kind=kind.value,
            case_id=case_id,
            opened_at=now,
            due_at=due_at or now + OVERDUE_AFTER[kind],
        )
        .on_conflict_do_nothing(
            index_elements=["child_id", "kind"], index_where=_duties.c.met_at.is_(None)
        )
    )
    await session.execute(stmt)


async def _meet(session: AsyncSession, child_id: uuid.UUID, kind: DutyKind, now: datetime) -> None:
    await session.execute(
        update(_duties)
        .where(
            _duties.c.child_id == child_id,
            _duties.c.kind == kind.value,
            _duties.c.met_at.is_(None),
        )
        .values(met_at=now)
    )


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


async def recompute(session: AsyncSession, child: Child, *, now: datetime | None = None) -> None:
    """Open or meet each duty of the child so that they say what its state demands now."""
    if session.new or session.dirty:
        await session.flush()
    now = now or utcnow()
    active = child.status == ChildStatus.active.value
    level = child.risk_level
    wants_pairing = active and level in ("orange", "red")
    if wants_pairing and not await _has_active_pairing(session, child.id):
        await _open(session, child, DutyKind.needs_pairing, now)
    else:
        await _meet(session, child.id, DutyKind.needs_pairing, now)

    case = await _open_case(session, child.id) if active else None
    if (
        active
        and level == "red"
        and case is None
        and not await _has_handled_report(session, child.id)
    ):
        await _open(session, child, DutyKind.needs_case, now)
    else:
        await _meet(session, child.id, DutyKind.needs_case, now)

    review_due = case is not None and case.review_on is not None and case.review_on <= now.date()
    if review_due and case is not None and case.review_on is not None:
        # A moved review date is a new duty: meet the old one if it named another date.
        await session.execute(
            update(_duties)
            .where(
                _duties.c.child_id == child.id,
                _duties.c.kind == DutyKind.case_review_due.value,
                _duties.c.met_at.is_(None),
                _duties.c.due_at != _start_of(case.review_on),
            )
            .values(met_at=now)
        )
        await _open(
            session,
            child,
            DutyKind.case_review_due,
            now,
            due_at=_start_of(case.review_on),
            case_id=case.id,
        )
    else:
        await _meet(session, child.id, DutyKind.case_review_due, now)


async def on_risk_change(
    session: AsyncSession, child: Child, old_level: str, new_level: str
) -> None:
    """A level changed: recompute the duties; a child newly raised to red alerts the county
    officers of its county at once."""
    await recompute(session, child)
    if new_level == "red" and old_level != "red":
        await raise_alert(session, AlertKind.child_red, child.area_code, child_id=child.id)


async def open_duties(
    session: AsyncSession, child_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[ChildDuty]]:
    """The open duties of these children, by child (for the child's record and the worklist)."""
    out: dict[uuid.UUID, list[ChildDuty]] = {cid: [] for cid in child_ids}
    if not child_ids:
        return out
    stmt = (
        select(ChildDuty)
        .where(col(ChildDuty.child_id).in_(child_ids), col(ChildDuty.met_at).is_(None))
        .order_by(col(ChildDuty.due_at), col(ChildDuty.id))
    )
    for duty in (await session.execute(stmt)).scalars():
        out[duty.child_id].append(duty)
    return out


async def refresh_reviews(session: AsyncSession, today: date, limit: int = 1000) -> int:
    """Open `case_review_due` for open cases whose review date has come (nothing else changes
    then, so the periodic job does it). Answers how many children it looked at."""
    stmt = (
        select(Child)
        .join(Case, and_(col(Case.child_id) == col(Child.id)))
        .where(
            col(Case.status) == CaseStatus.open.value,
            col(Case.review_on) <= today,
            ~exists().where(
                _duties.c.child_id == col(Child.id),
                _duties.c.kind == DutyKind.case_review_due.value,
                _duties.c.met_at.is_(None),
            ),
        )
        .limit(limit)
    )
    children = list((await session.execute(stmt)).scalars().unique())
    for child in children:
        await recompute(session, child)
    return len(children)


async def alert_overdue(session: AsyncSession, now: datetime, limit: int = 1000) -> int:
    """Alert each open duty past its due time once: the row is claimed (FOR UPDATE SKIP
    LOCKED, so several processes share the work) and stamped `overdue_alerted_at` in the
    same transaction as its alerts. Answers how many duties it alerted."""
    stmt = (
        select(ChildDuty)
        .where(
            col(ChildDuty.met_at).is_(None),
            col(ChildDuty.overdue_alerted_at).is_(None),
            col(ChildDuty.due_at) <= now,
        )
        .order_by(col(ChildDuty.due_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    duties = list((await session.execute(stmt)).scalars())
    for duty in duties:
        duty.overdue_alerted_at = now
        if duty.kind == DutyKind.case_review_due.value:
            await raise_alert(
                session,
                AlertKind.case_review_due,
                duty.area_code,
                child_id=duty.child_id,
                duty_kind=duty.kind,
                source_id=duty.case_id,
            )
        else:
            await raise_alert(
                session,
                AlertKind.duty_overdue,
                duty.area_code,
                child_id=duty.child_id,
                duty_kind=duty.kind,
                township_too=duty.kind == DutyKind.needs_pairing.value,
            )
    await session.flush()
    return len(duties)


async def recompute_for(session: AsyncSession, child_id: uuid.UUID | None) -> None:
    """`recompute` for a child known by id (a report's, a case's, a pairing's)."""
    if child_id is None:
        return
    child = await session.get(Child, child_id)
    if child is not None:
        await recompute(session, child)
