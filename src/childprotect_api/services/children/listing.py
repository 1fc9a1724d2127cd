"""Listing the registry: the caller's scope, the filters, keyset order on the scope index
(county, area, id). Each child served is audited (one `child.list` row per child, one
INSERT per page), so the log answers "who saw this child". For a user the page, its session
check and its audit rows are one statement in autocommit (`list_children_at_once`, #23).

The list is read on every opening of a village's registry: its statement is built once per
shape (which filters are given, the shape of the scope) with named parameters and compiled
for the driver (rawsql); a request only executes it. It reads the columns a ChildSummary
shows, not the whole record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Integer,
    String,
    any_,
    bindparam,
    literal,
    null,
    select,
    true,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.core import audit
from childprotect_api.core.db import Database
from childprotect_api.core.rawsql import Raw
from childprotect_api.models.child import Child
from childprotect_api.schemas.child import ChildSummary
from childprotect_api.security.scope import (
    SESSION_COLUMNS,
    SESSION_HELD,
    Action,
    Scope,
    checked_scope,
    scope_filter,
    session_frame,
    session_params,
)
from childprotect_api.services.children import rules
from childprotect_api.services.children.registry import RESOURCE

_children = Child.__table__  # type: ignore[attr-defined]
_C = _children.c

# What a ChildSummary shows (age and the masked ID number are derived), and the sort key.
_COMPUTED = {"age": "birth_date", "id_number": "id_number_masked"}
SUMMARY_COLUMNS = tuple(
    dict.fromkeys(
        ["county_code", *(_COMPUTED.get(name, name) for name in ChildSummary.model_fields)]
    )
)


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


def _like_contains(text: str) -> str:
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


# shape -> the compiled statement, built on first use.
_STATEMENTS: dict[tuple[Any, ...], Raw] = {}


def list_statement(
    scope: Scope,
    f: ChildFilters,
    limit: int,
    after: tuple[str, str, uuid.UUID] | None,
    *,
    at_once: bool = False,
) -> tuple[Raw, dict[str, Any]]:
    """The list's SELECT and its parameters: the scope's prefix filter (led by the county
    code, like the scope index), the filters, and keyset order on the scope index (county,
    area, id)."""
    flt = scope_filter(scope, _C.area_code, _C.county_code)
    # The same prefix filter for the requested area (intersected with the scope).
    area = (
        scope_filter(replace(scope, area_code=f.area), _C.area_code, _C.county_code, prefix="area")
        if f.area
        else None
    )
    today = rules.today()
    optional: dict[str, Any] = {
        "categories": f.categories or None,
        "risk_levels": f.risk_levels or None,
        "status": f.status,
        "name_pattern": _like_contains(f.q) if f.q else None,
        "school": f.school,
        "assigned_to": f.assigned_to,
        "born_by": rules.years_before(today, f.age_min) if f.age_min is not None else None,
        "born_after": rules.years_before(today, f.age_max + 1) if f.age_max is not None else None,
        "updated_since": f.updated_since,
    }
    given = tuple(name for name, value in optional.items() if value is not None)
    key = (flt.shape, area.shape if area else None, given, after is not None, at_once)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        built = _build(flt, area, given, after is not None)
        stmt = _STATEMENTS[key] = Raw(_with_session_and_audit(built) if at_once else built)
    params: dict[str, Any] = {**flt.params, "page_limit": limit}
    if area is not None:
        params.update(area.params)
    params.update((name, optional[name]) for name in given)
    if after is not None:
        params["after_county"], params["after_area"], params["after_id"] = after
    return stmt, params


_CONDITIONS: dict[str, Any] = {
    "categories": lambda: _C.categories.contains(bindparam("categories")),
    "risk_levels": lambda: _C.risk_level == any_(bindparam("risk_levels", type_=ARRAY(String))),
    "status": lambda: _C.status == bindparam("status"),
    "name_pattern": lambda: _C.name.like(bindparam("name_pattern"), escape="/"),
    "school": lambda: _C.school == bindparam("school"),
    "assigned_to": lambda: _C.assigned_director_id == bindparam("assigned_to"),
    "born_by": lambda: _C.birth_date <= bindparam("born_by"),
    "born_after": lambda: _C.birth_date > bindparam("born_after"),
    "updated_since": lambda: _C.updated_at >= bindparam("updated_since"),
}


def _build(flt: Any, area: Any, given: tuple[str, ...], with_cursor: bool) -> Any:
    stmt = select(*(_C[name] for name in SUMMARY_COLUMNS)).where(flt.clause)
    if area is not None:
        stmt = stmt.where(area.clause)
    for name in given:
        stmt = stmt.where(_CONDITIONS[name]())
    if with_cursor:
        key = tuple_(_C.county_code, _C.area_code, _C.id)
        stmt = stmt.where(
            key
            > tuple_(
                bindparam("after_county", type_=_C.county_code.type),
                bindparam("after_area", type_=_C.area_code.type),
                bindparam("after_id", type_=_C.id.type),
            )
        )
    return stmt.order_by(_C.county_code, _C.area_code, _C.id).limit(
        bindparam("page_limit", type_=Integer)
    )


def _with_session_and_audit(page: Any) -> Any:
    """The page in one statement with its session check and audit rows (issue #23): read
    only when the login session holds (security/scope.py: SESSION_CHECK_CTE), and one
    `child.list` row per child served inserted by a data-modifying CTE, in page order."""
    page = page.where(SESSION_HELD).cte("page")
    audited = audit.insert_from(
        select(
            bindparam("user_id"),
            bindparam("claimed_role"),
            null(),
            literal("child.list", String),
            literal(RESOURCE, String),
            page.c.id,
            audit.county_of(page.c.area_code),
            page.c.area_code,
            bindparam("request_id", type_=String),
        ).order_by(page.c.county_code, page.c.area_code, page.c.id)
    ).cte("audited")
    return (
        select(*SESSION_COLUMNS, *page.c)
        .select_from(session_frame().outerjoin(page, true()))
        .order_by(page.c.county_code, page.c.area_code, page.c.id)
        .add_cte(audited)
    )


async def list_children_at_once(
    db: Database,
    request: Any,
    scope: Scope,
    filters: ChildFilters,
    limit: int,
    after: tuple[str, str, uuid.UUID] | None,
) -> tuple[Scope, list[Any]] | None:
    """GET /children for a user in one round trip, every filter included: the scope
    (confirmed by the account's row) and the page's rows (SUMMARY_COLUMNS, by name), each
    child audited in the same statement; 401 without a live session. None when the token's
    role may not read children or its role or area are no longer the account's: nothing was
    read or audited, and the caller takes `list_children`'s path (scoped by the row)."""
    if not scope.can(Action.children_read):
        return None
    stmt, params = list_statement(scope, filters, limit, after, at_once=True)
    params.update(session_params(scope), request_id=scope.request_id)
    rows = await stmt.fetch_alone(db, params)
    confirmed = checked_scope(request, scope, rows[0] if rows else None)
    if confirmed is None:
        return None
    return confirmed, [r for r in rows if r["id"] is not None]


async def list_children(
    session: AsyncSession,
    scope: Scope,
    filters: ChildFilters,
    limit: int,
    after: tuple[str, str, uuid.UUID] | None,
) -> list[Any]:
    """The page's rows (SUMMARY_COLUMNS, by name)."""
    scope.require(Action.children_read)
    stmt, params = list_statement(scope, filters, limit, after)
    rows = await stmt.fetch(session, params)
    await audit.record_many(
        session, scope, "child.list", RESOURCE, [(r["id"], r["area_code"]) for r in rows]
    )
    return rows
