"""Listing the registry: the caller's scope, the filters, keyset order on the scope index
(county, area, id). Each child served is audited (one `child.list` row per child, one
INSERT per page), so the log answers "who saw this child"."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.models.child import Child
from childprotect_api.security.scope import Action, Scope, apply_scope
from childprotect_api.services import audit
from childprotect_api.services import child_rules as rules
from childprotect_api.services.children import RESOURCE


@dataclass
class ChildFilters:
    area: str | None = None
    categories: list[str] = field(default_factory=list)
    risk_levels: list[str] = field(default_factory=list)
    status: str | None = None
    q: str | None = None
    school: str | None = None
    assigned_to: uuid.UUID | None = None
    age_min: int | None = None
    age_max: int | None = None
    updated_since: datetime | None = None


def list_query(
    scope: Scope, f: ChildFilters, limit: int, after: tuple[str, str, uuid.UUID] | None
) -> Select[Child]:
    """The list's SELECT: the scope's prefix filter (led by the county code, like the scope
    index), the filters, and keyset order on the scope index (county, area, id)."""
    stmt = apply_scope(select(Child), scope, col(Child.area_code), col(Child.county_code))
    if f.area:
        # The same prefix filter for the requested area (intersected with the scope above).
        stmt = apply_scope(
            stmt, replace(scope, area_code=f.area), col(Child.area_code), col(Child.county_code)
        )
    if f.categories:
        stmt = stmt.where(col(Child.categories).contains(f.categories))
    if f.risk_levels:
        stmt = stmt.where(col(Child.risk_level).in_(f.risk_levels))
    if f.status:
        stmt = stmt.where(col(Child.status) == f.status)
    if f.q:
        stmt = stmt.where(col(Child.name).contains(f.q, autoescape=True))
    if f.school:
        stmt = stmt.where(col(Child.school) == f.school)
    if f.assigned_to:
        stmt = stmt.where(col(Child.assigned_director_id) == f.assigned_to)
    today = rules.today()
    if f.age_min is not None:
        stmt = stmt.where(col(Child.birth_date) <= rules.years_before(today, f.age_min))
    if f.age_max is not None:
        stmt = stmt.where(col(Child.birth_date) > rules.years_before(today, f.age_max + 1))
    if f.updated_since is not None:
        stmt = stmt.where(col(Child.updated_at) >= f.updated_since)
    key = tuple_(col(Child.county_code), col(Child.area_code), col(Child.id))
    if after is not None:
        stmt = stmt.where(key > tuple_(*after))
    return stmt.order_by(col(Child.county_code), col(Child.area_code), col(Child.id)).limit(limit)


async def list_children(
    session: AsyncSession,
    scope: Scope,
    filters: ChildFilters,
    limit: int,
    after: tuple[str, str, uuid.UUID] | None,
) -> list[Child]:
    scope.require(Action.children_read)
    children = list((await session.execute(list_query(scope, filters, limit, after))).scalars())
    await audit.record_many(
        session, scope, "child.list", RESOURCE, [(c.id, c.area_code) for c in children]
    )
    return children
