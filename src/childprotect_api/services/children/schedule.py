"""The visit policy: how often a child must be visited for its risk level, and its next due
date (= last visit, or registration when never visited, + the interval of its current level).

Raising a child's risk level lives here too, since it moves the due date closer at once; so do
the county's own intervals (a change reschedules the county's children in one statement) and
the effect of a visit on the child's last visit and due date."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core.errors import NotFound, PreconditionFailed
from childprotect_api.models.area import Area, AreaLevel
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child, ChildRiskChange
from childprotect_api.models.visit import Visit
from childprotect_api.models.visit_policy import DEFAULT_INTERVAL_DAYS, VisitPolicy
from childprotect_api.schemas.visit_policy import VisitPolicyRead, VisitPolicyUpdate
from childprotect_api.security.scope import Action, Scope
from childprotect_api.services.duties import duties

_CACHE = "visit_intervals"


async def intervals_for(session: AsyncSession, county_code: str) -> dict[str, int]:
    cache: dict[str, dict[str, int]] | None = session.info.get(_CACHE)
    if cache is not None and county_code in cache:
        return cache[county_code]
    policy = await session.get(VisitPolicy, county_code)
    intervals = policy.interval_days() if policy else dict(DEFAULT_INTERVAL_DAYS)
    if cache is not None:
        cache[county_code] = intervals
    return intervals


@contextmanager
def intervals_cached(session: AsyncSession) -> Iterator[None]:
    """For a batch of visits (the sync push): each county's intervals are read once, not once
    per visit (a county without its own policy has no row the session could keep). Nothing in
    a batch changes a policy."""
    session.info[_CACHE] = {}
    try:
        yield
    finally:
        session.info.pop(_CACHE, None)


def compute_next_due(
    last_visit_at: datetime | None,
    registered_at: datetime | None,
    level: str,
    intervals: dict[str, int],
) -> datetime:
    base = last_visit_at or registered_at or utcnow()
    return base + timedelta(days=intervals[level])


async def refresh_due(session: AsyncSession, child: Child) -> None:
    """Recompute `next_visit_due` from the child's last visit and current level."""
    intervals = await intervals_for(session, child.county_code)
    child.next_visit_due = compute_next_due(
        child.last_visit_at, child.created_at, child.risk_level, intervals
    )


async def set_risk_level(
    session: AsyncSession,
    child: Child,
    level: str,
    reason: str,
    *,
    set_by: uuid.UUID | None,
    source: str = "manual",
    source_id: uuid.UUID | None = None,
) -> ChildRiskChange | None:
    """Change the level (no-op when unchanged), keep it in the history, move the due date.
    Permission rules (who may set which level) are the caller's to check."""
    if child.risk_level == level:
        return None
    old_level = child.risk_level
    now = utcnow()
    change = ChildRiskChange(
        child_id=child.id,
        county_code=child.county_code,
        area_code=child.area_code,
        old_level=child.risk_level,
        new_level=level,
        reason=reason,
        source=source,
        source_id=source_id,
        set_by=set_by,
    )
    session.add(change)
    child.risk_level = level
    child.risk_reason = reason
    child.risk_set_by = set_by
    child.risk_set_at = now
    child.version += 1
    child.updated_at = now
    child.updated_by = set_by
    await refresh_due(session, child)
    await session.flush()
    await duties.on_risk_change(session, child, old_level, level)
    return change


def _touch(child: Child, by: uuid.UUID | None) -> None:
    child.version += 1
    child.updated_at = utcnow()
    child.updated_by = by


async def record_visit(
    session: AsyncSession, child: Child, visited_at: datetime, by: uuid.UUID | None
) -> bool:
    """A visit took place: the child's last visit is the latest one ever recorded (a late,
    older visit never moves it backwards) and the due date follows. The caller holds the
    child's row lock. Answers whether the child changed."""
    if child.last_visit_at is not None and visited_at <= child.last_visit_at:
        return False
    child.last_visit_at = visited_at
    # What the visits' statistics trigger would set on the visit's insert (migration
    # 0024visited), in this same update when the caller records the child first.
    if child.stats_visited_at is None or visited_at > child.stats_visited_at:
        child.stats_visited_at = visited_at
    await refresh_due(session, child)
    _touch(child, by)
    await session.flush()
    return True


async def recompute_last_visit(session: AsyncSession, child: Child, by: uuid.UUID | None) -> bool:
    """After a correction: the last visit is the latest of the current versions (a corrected
    date may move it either way). The caller holds the child's row lock."""
    latest = (
        await session.execute(
            select(func.max(col(Visit.visited_at))).where(
                col(Visit.county_code) == child.county_code,
                col(Visit.child_id) == child.id,
                col(Visit.is_current),
            )
        )
    ).scalar_one_or_none()
    if latest is None or latest == child.last_visit_at:
        return False
    child.last_visit_at = latest
    await refresh_due(session, child)
    _touch(child, by)
    await session.flush()
    return True


# --- the county's own intervals ----------------------------------------------------------


def policy_etag(policy: VisitPolicy | None) -> str:
    """The policy row has no version column; its last change time serves as one."""
    if policy is None or policy.updated_at is None:
        return '"0"'
    return f'"{int(policy.updated_at.timestamp() * 1_000_000)}"'


def _policy_read(
    county_code: str, policy: VisitPolicy | None, rescheduled: int | None = None
) -> VisitPolicyRead:
    days = policy.interval_days() if policy else DEFAULT_INTERVAL_DAYS
    return VisitPolicyRead(
        county_code=county_code,
        blue_days=days["blue"],
        yellow_days=days["yellow"],
        orange_days=days["orange"],
        red_days=days["red"],
        is_default=policy is None,
        updated_by=policy.updated_by if policy else None,
        updated_at=policy.updated_at if policy else None,
        children_rescheduled=rescheduled,
    )


async def county_area(session: AsyncSession, county_code: str) -> Area:
    area = await session.get(Area, county_code)
    if area is None or area.level != AreaLevel.county:
        raise NotFound("no such county")
    return area


async def read_policy(
    session: AsyncSession, scope: Scope, county_code: str
) -> tuple[VisitPolicyRead, str]:
    """The county's intervals, for anyone working in the county or above it."""
    scope.require(Action.visit_policy_read)
    if not scope.overlaps(county_code):
        raise NotFound("no such county")
    await county_area(session, county_code)
    policy = await session.get(VisitPolicy, county_code)
    return _policy_read(county_code, policy), policy_etag(policy)


async def update_policy(
    session: AsyncSession,
    scope: Scope,
    county_code: str,
    data: VisitPolicyUpdate,
    if_match: str | None,
) -> tuple[VisitPolicyRead, str]:
    """Set a county's intervals (its county officers) and reschedule its active children.
    If-Match is honoured when sent (412 when stale); a full replacement needs no guard."""
    scope.require(Action.visit_policy_manage)
    if not scope.covers(county_code):
        raise NotFound("no such county")
    await county_area(session, county_code)
    policy = await session.get(VisitPolicy, county_code, with_for_update=True)
    if if_match is not None and if_match.strip() not in ("*", policy_etag(policy)):
        raise PreconditionFailed("the visit policy changed since you read it")
    if policy is None:
        policy = VisitPolicy(county_code=county_code)
        session.add(policy)
    policy.blue_days, policy.yellow_days = data.blue_days, data.yellow_days
    policy.orange_days, policy.red_days = data.orange_days, data.red_days
    policy.updated_by = scope.user_id
    policy.updated_at = utcnow()
    await session.flush()
    rescheduled = await reschedule_county(
        session, county_code, policy.interval_days(), by=scope.user_id
    )
    return _policy_read(county_code, policy, rescheduled), policy_etag(policy)


def _due_expression(intervals: dict[str, int]) -> ColumnElement[datetime]:
    days = case(
        *((col(Child.risk_level) == level, n) for level, n in intervals.items()),
        else_=intervals["blue"],
    )
    base = func.coalesce(col(Child.last_visit_at), col(Child.created_at))
    # Whole hours, as compute_next_due's timedelta: never shifted by a session time zone.
    return base + func.make_interval(0, 0, 0, 0, days * 24)


async def reschedule_county(
    session: AsyncSession, county_code: str, intervals: dict[str, int], *, by: uuid.UUID | None
) -> int:
    """One set-based UPDATE of the county's active children whose due date changes (the
    same rule as compute_next_due). Answers how many changed."""
    due = _due_expression(intervals)
    stmt = (
        update(Child)
        .where(
            col(Child.county_code) == county_code,
            col(Child.status) == "active",
            col(Child.next_visit_due).is_distinct_from(due),
        )
        .values(
            next_visit_due=due,
            version=col(Child.version) + 1,
            updated_at=func.now(),
            updated_by=by,
        )
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)
