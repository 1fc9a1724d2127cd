"""The worklist: the active children in the caller's scope that are overdue or due soon, most
overdue first, with what the last visit left open; plus the caller's visits sent back.

Built to stay fast at province scale: the page, each of its children's latest visit and the
counts are one statement over `ix_children_worklist` (county callers: walked in due order,
stopping at the page size) or `ix_children_worklist_area` (village and township callers: their
villages' range); the returned visits are one probe of a small partial index. With the token
check and the audit event that is four statements per request, however long the page."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.visit import Visit
from childprotect_api.schemas.visit import FollowUpAction
from childprotect_api.schemas.worklist import (
    ChildSummary,
    ReturnedVisit,
    Worklist,
    WorklistCounts,
    WorklistItem,
)
from childprotect_api.security.scope import Action, Scope, in_scope
from childprotect_api.services import audit

RETURNED_LIMIT = 50
_DAY = 86400

# Literals, not parameters: the planner must see them to use the partial indexes.
_ACTIVE = col(Child.status) == literal_column("'active'")
_RETURNED = col(Visit.status) == literal_column("'returned'")


def _due_filter(scope: Scope, horizon: datetime) -> list[ColumnElement[bool]]:
    return [
        in_scope(scope, col(Child.area_code), col(Child.county_code)),
        _ACTIVE,
        col(Child.next_visit_due) <= horizon,
    ]


async def _page_and_counts(
    session: AsyncSession,
    scope: Scope,
    now: datetime,
    horizon: datetime,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> tuple[list[Any], WorklistCounts]:
    """One statement: the counts over the whole range (an index-only scan), and the page
    (cut to `limit` first, then each child's latest visit joined laterally, so a township's
    hundreds of due children cost one probe per row served, not per row matched)."""
    due = col(Child.next_visit_due)
    counts = (
        select(
            func.count().filter(due < now).label("overdue"),
            func.count().filter(due >= now).label("due_soon"),
        )
        .where(*_due_filter(scope, horizon))
        .cte("counts")
    )
    page_stmt = (
        select(
            col(Child.id),
            col(Child.county_code),
            col(Child.name),
            col(Child.area_code),
            col(Child.risk_level),
            col(Child.categories),
            col(Child.next_visit_due),
            col(Child.last_visit_at),
        )
        .where(*_due_filter(scope, horizon))
        .order_by(due, col(Child.id))
        .limit(limit)
    )
    if after is not None:
        page_stmt = page_stmt.where(tuple_(due, col(Child.id)) > tuple_(*after))
    page = page_stmt.subquery("page")
    latest = (
        select(col(Visit.id), col(Visit.follow_up_actions))
        .where(
            col(Visit.county_code) == page.c.county_code,
            col(Visit.child_id) == page.c.id,
            col(Visit.is_current),
        )
        .order_by(col(Visit.visited_at).desc(), col(Visit.id).desc())
        .limit(1)
        .lateral("latest")
    )
    stmt = (
        select(
            counts.c.overdue,
            counts.c.due_soon,
            page,
            latest.c.id.label("latest_visit_id"),
            latest.c.follow_up_actions,
        )
        .select_from(counts.outerjoin(page.outerjoin(latest, true()), true()))
        .order_by(page.c.next_visit_due, page.c.id)
    )
    rows = list((await session.execute(stmt)).all())
    totals = WorklistCounts(overdue=rows[0].overdue, due_soon=rows[0].due_soon)
    return [r for r in rows if r.id is not None], totals


async def _returned(session: AsyncSession, scope: Scope) -> list[ReturnedVisit]:
    stmt = (
        select(
            col(Visit.id),
            col(Visit.child_id),
            col(Child.name),
            col(Visit.visited_at),
            col(Visit.review_comment),
            col(Visit.reviewed_by),
            col(Visit.reviewed_at),
            col(Visit.version),
        )
        .join(Child, col(Child.id) == col(Visit.child_id))
        .where(
            col(Visit.visitor_id) == scope.user_id,
            _RETURNED,
            col(Visit.is_current),
            # Scoped by the child (where it lives now), so the planner probes the small
            # partial index by visitor rather than intersecting it with the scope index.
            in_scope(scope, col(Child.area_code), col(Child.county_code)),
        )
        .order_by(col(Visit.reviewed_at).desc())
        .limit(RETURNED_LIMIT)
    )
    rows = (await session.execute(stmt)).all()
    return [
        ReturnedVisit(
            id=r.id,
            child_id=r.child_id,
            child_name=r.name,
            visited_at=r.visited_at,
            review_comment=r.review_comment,
            reviewed_by=r.reviewed_by,
            reviewed_at=r.reviewed_at,
            version=r.version,
        )
        for r in rows
    ]


def _item(row: Any, now: datetime) -> WorklistItem:
    due: datetime = row.next_visit_due
    late = (now - due).total_seconds()
    follow_ups = [FollowUpAction.model_validate(a) for a in row.follow_up_actions or []]
    return WorklistItem(
        child=ChildSummary(
            id=row.id,
            name=row.name,
            area_code=row.area_code,
            risk_level=row.risk_level,
            categories=row.categories,
        ),
        next_visit_due=due,
        last_visit_at=row.last_visit_at,
        overdue=late > 0,
        days_overdue=int(late // _DAY) if late > 0 else 0,
        open_follow_ups=[a for a in follow_ups if not a.done],
        latest_visit_id=row.latest_visit_id,
    )


async def worklist(
    session: AsyncSession,
    scope: Scope,
    *,
    within_days: int,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    now: datetime | None = None,
) -> tuple[Worklist, tuple[datetime, uuid.UUID] | None]:
    """Answers the page and the sort key of its last row when more may follow."""
    scope.require(Action.visit_log)
    now = now or utcnow()
    horizon = now + timedelta(days=within_days)
    rows, counts = await _page_and_counts(session, scope, now, horizon, limit, after)
    returned = await _returned(session, scope)
    # One audit event per screen: it shows the names of the children listed.
    await audit.record(session, scope, "list", "worklist", None, scope.area_code or None)
    last = (rows[-1].next_visit_due, rows[-1].id) if len(rows) == limit else None
    page = Worklist(
        items=[_item(r, now) for r in rows],
        counts=counts,
        returned_visits=returned,
        as_of=now,
        within_days=within_days,
    )
    return page, last
