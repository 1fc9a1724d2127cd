"""Agreement lists, all keyset-paginated and scoped: a child's agreements, the agreements in
scope (by status, end date, area), and the follow-up lists (一人一协议): left-behind children
with no active agreement, and active agreements ending soon.

"Active" here is what reads as active: status active and `ends_on` not passed."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, cast, exists, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit
from childprotect_api.models.agreement import Agreement, AgreementStatus
from childprotect_api.models.child import Category, Child, ChildStatus
from childprotect_api.schemas.agreement import ChildGap
from childprotect_api.security.scope import Action, Scope, in_scope
from childprotect_api.services.agreements.service import RESOURCE, load_child


def status_filter(status: AgreementStatus, today: date) -> ColumnElement[bool]:
    s, ends = col(Agreement.status), col(Agreement.ends_on)
    if status == AgreementStatus.active:
        return and_(s == "active", ends >= today)
    if status == AgreementStatus.expired:
        return or_(s == "expired", and_(s == "active", ends < today))
    return s == status.value


def _area_filter(area: str | None, area_col: Any, county_col: Any) -> list[ColumnElement[bool]]:
    """The caller's optional `area` narrowing (the scope filter is applied separately)."""
    if not area:
        return []
    conds = [area_col.startswith(area, autoescape=True)]
    if len(area) >= 6:
        conds.append(county_col == area[:6])
    return conds


async def _audit_reads(
    session: AsyncSession, scope: Scope, resource_type: str, rows: list[tuple[uuid.UUID, str]]
) -> None:
    await audit.record_many(session, scope, "list", resource_type, rows)


def _agreement_filter(
    scope: Scope,
    today: date,
    status: AgreementStatus | None,
    expiring_within_days: int | None,
    area: str | None,
) -> list[ColumnElement[bool]]:
    """The WHERE of `list_agreements` (and of its count)."""
    conds = [
        in_scope(scope, col(Agreement.area_code), col(Agreement.county_code)),
        *_area_filter(area, col(Agreement.area_code), col(Agreement.county_code)),
    ]
    if status is not None:
        conds.append(status_filter(status, today))
    if expiring_within_days is not None:
        conds += [
            status_filter(AgreementStatus.active, today),
            col(Agreement.ends_on) <= today + timedelta(days=expiring_within_days),
        ]
    return conds


def _gap_filter(scope: Scope, today: date, area: str | None) -> list[ColumnElement[bool]]:
    """The WHERE of `children_without_agreement` (and of its count)."""
    has_active = exists().where(
        col(Agreement.child_id) == col(Child.id), status_filter(AgreementStatus.active, today)
    )
    return [
        in_scope(scope, col(Child.area_code), col(Child.county_code)),
        *_area_filter(area, col(Child.area_code), col(Child.county_code)),
        col(Child.status) == ChildStatus.active.value,
        col(Child.categories).contains([Category.left_behind.value]),
        ~has_active,
    ]


async def list_for_child(
    session: AsyncSession,
    scope: Scope,
    child_id: uuid.UUID,
    *,
    limit: int,
    after: tuple[date, uuid.UUID] | None,
) -> list[Agreement]:
    """A child's agreements, newest start first."""
    scope.require(Action.agreement_read)
    child = await load_child(session, scope, child_id)
    stmt = select(Agreement).where(col(Agreement.child_id) == child.id)
    if after:
        stmt = stmt.where(tuple_(col(Agreement.starts_on), col(Agreement.id)) < tuple_(*after))
    stmt = stmt.order_by(col(Agreement.starts_on).desc(), col(Agreement.id).desc()).limit(limit)
    rows = list((await session.execute(stmt)).scalars())
    await _audit_reads(session, scope, RESOURCE, [(a.id, a.area_code) for a in rows])
    return rows


async def list_agreements(
    session: AsyncSession,
    scope: Scope,
    today: date,
    *,
    status: AgreementStatus | None,
    expiring_within_days: int | None,
    area: str | None,
    limit: int,
    after: tuple[date, uuid.UUID] | None,
) -> list[Agreement]:
    """Agreements in scope ordered by end date (soonest first)."""
    scope.require(Action.agreement_read)
    stmt = select(Agreement).where(
        *_agreement_filter(scope, today, status, expiring_within_days, area)
    )
    if after:
        stmt = stmt.where(tuple_(col(Agreement.ends_on), col(Agreement.id)) > tuple_(*after))
    stmt = stmt.order_by(col(Agreement.ends_on), col(Agreement.id)).limit(limit)
    rows = list((await session.execute(stmt)).scalars())
    await _audit_reads(session, scope, RESOURCE, [(a.id, a.area_code) for a in rows])
    return rows


async def children_without_agreement(
    session: AsyncSession,
    scope: Scope,
    today: date,
    *,
    area: str | None,
    limit: int,
    after: tuple[str, uuid.UUID] | None,
) -> list[ChildGap]:
    """Active left-behind children in scope with no agreement that reads as active, by
    village then id."""
    scope.require(Action.agreement_read)
    mine = col(Agreement.child_id) == col(Child.id)
    has_draft = exists().where(mine, col(Agreement.status) == AgreementStatus.draft.value)
    ended_on = func.coalesce(
        cast(func.timezone("Asia/Shanghai", col(Agreement.terminated_at)), Date),
        col(Agreement.ends_on),
    )
    last_ended = (
        select(func.max(ended_on))
        .where(mine, col(Agreement.status) != AgreementStatus.draft.value)
        .scalar_subquery()
    )
    stmt = select(
        col(Child.id),
        col(Child.name),
        col(Child.area_code),
        col(Child.risk_level),
        has_draft.label("has_draft"),
        last_ended.label("last_ended_on"),
    ).where(*_gap_filter(scope, today, area))
    if after:
        stmt = stmt.where(tuple_(col(Child.area_code), col(Child.id)) > tuple_(*after))
    stmt = stmt.order_by(col(Child.area_code), col(Child.id)).limit(limit)
    rows = (await session.execute(stmt)).all()
    gaps = [
        ChildGap(
            child_id=r.id,
            name=r.name,
            area_code=r.area_code,
            risk_level=r.risk_level,
            has_draft=bool(r.has_draft),
            last_ended_on=r.last_ended_on,
        )
        for r in rows
    ]
    await _audit_reads(session, scope, "child", [(g.child_id, g.area_code) for g in gaps])
    return gaps


async def ending_soon(
    session: AsyncSession,
    scope: Scope,
    today: date,
    *,
    within_days: int,
    area: str | None,
    limit: int,
    after: tuple[date, uuid.UUID] | None,
) -> list[Agreement]:
    return await list_agreements(
        session,
        scope,
        today,
        status=None,
        expiring_within_days=within_days,
        area=area,
        limit=limit,
        after=after,
    )


async def count_children_without_agreement(
    session: AsyncSession, scope: Scope, today: date, *, area: str | None
) -> int:
    """How many children `children_without_agreement` lists in all (one scoped COUNT)."""
    scope.require(Action.agreement_read)
    stmt = select(func.count()).select_from(Child).where(*_gap_filter(scope, today, area))
    return int((await session.execute(stmt)).scalar_one())


async def count_ending_soon(
    session: AsyncSession, scope: Scope, today: date, *, within_days: int, area: str | None
) -> int:
    """How many agreements `ending_soon` lists in all (one scoped COUNT)."""
    scope.require(Action.agreement_read)
    stmt = (
        select(func.count())
        .select_from(Agreement)
        .where(*_agreement_filter(scope, today, None, within_days, area))
    )
    return int((await session.execute(stmt)).scalar_one())
