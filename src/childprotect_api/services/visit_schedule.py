"""The visit policy: how often a child must be visited for its risk level, and its next due
date (= last visit, or registration when never visited, + the interval of its current level).

Raising a child's risk level lives here too, since it moves the due date closer at once."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child, ChildRiskChange
from childprotect_api.models.visit_policy import DEFAULT_INTERVAL_DAYS, VisitPolicy


async def intervals_for(session: AsyncSession, county_code: str) -> dict[str, int]:
    policy = await session.get(VisitPolicy, county_code)
    return policy.interval_days() if policy else dict(DEFAULT_INTERVAL_DAYS)


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
    return change
