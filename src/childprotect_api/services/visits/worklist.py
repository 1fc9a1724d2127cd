"""The worklist: the active children in the caller's scope that are overdue or due soon, most
overdue first, with what the last visit left open; plus the caller's visits sent back.

Built to stay fast at province scale. The page, each of its children's latest visit and the
counts are one statement over `ix_children_worklist` (county callers: walked in due order,
stopping at the page size) or `ix_children_worklist_area` (village and township callers:
their villages' range); the returned visits are one probe of a small partial index. For a
user (without the agreement lists) all of it, the session check and the audit event are ONE
statement in autocommit (`worklist_at_once`, issue #23); otherwise (integration clients, the
agreement lists, a role or area changed since the token) five in the request's transaction
(`worklist_data`), whatever the page size.
The agreement follow-up lists add their own: two short pages, two scoped counts, and the
audit rows of what they show (services/agreements/lists.py).
The two statements are built once per shape of scope and compiled for the driver (rawsql), then
only executed with parameters (building them, and SQLAlchemy's work per execution, cost more
than running them), and their prepared forms keep generic plans. The page is assembled as plain
data and serialised once (`worklist_data`); `worklist` answers it as the validated model."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Select,
    String,
    Uuid,
    and_,
    any_,
    bindparam,
    func,
    literal,
    literal_column,
    null,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.core import audit
from childprotect_api.core.db import Database
from childprotect_api.core.rawsql import Raw
from childprotect_api.models.base import utcnow
from childprotect_api.models.care import ChildDuty
from childprotect_api.models.child import Child
from childprotect_api.models.visit import Visit
from childprotect_api.schemas.agreement import AgreementRead
from childprotect_api.schemas.worklist import AgreementFollowUps, Worklist
from childprotect_api.security.scope import (
    SESSION_COLUMNS,
    SESSION_HELD,
    Action,
    Scope,
    ScopeFilter,
    checked_scope,
    scope_filter,
    session_frame,
    session_params,
)
from childprotect_api.services.agreements import lists as agreement_lists
from childprotect_api.services.agreements.expiry import EXPIRING_WINDOW_DAYS, china_today

RETURNED_LIMIT = 50
FOLLOW_UP_LIMIT = 20
_DAY = 86400

# Plain Core columns: these statements are executed on every opening of the app, and the
# ORM layer would add its own work to each execution.
_children = Child.__table__  # type: ignore[attr-defined]
_C = _children.c
_V = Visit.__table__.c  # type: ignore[attr-defined]

# Literals, not parameters: the planner must see them to use the partial indexes.
_ACTIVE = _C.status == literal_column("'active'")
_RETURNED = _V.status == literal_column("'returned'")

_D = ChildDuty.__table__.c  # type: ignore[attr-defined]
# Red and orange children with open duties come first among equally overdue ones.
_URGENT_LEVELS = ("red", "orange")

# (statement, shape of scope, with a cursor, only children with open duties) -> the
# statement, built on first use.
_STATEMENTS: dict[tuple[str, str, bool, bool], Raw] = {}


def _has_open_duty(child_id: Any, county_code: Any) -> ColumnElement[bool]:
    """A probe of `uq_child_duties_open` (child_id, kind) WHERE met_at IS NULL."""
    return (
        select(_D.id)
        .where(_D.child_id == child_id, _D.county_code == county_code, _D.met_at.is_(None))
        .exists()
    )


def _due_filter(
    scope_clause: ColumnElement[bool], with_duties: bool, gated: bool = False
) -> list[ColumnElement[bool]]:
    conds = [
        scope_clause,
        _ACTIVE,
        _C.next_visit_due <= bindparam("horizon"),
    ]
    if with_duties:
        conds.append(_has_open_duty(_C.id, _C.county_code))
    if gated:  # read only when the login session holds (the one-statement form)
        conds.append(SESSION_HELD)
    return conds


def _page_parts(flt: ScopeFilter, with_cursor: bool, with_duties: bool, gated: bool) -> Any:
    """The counts (a CTE), the page's keys (a subquery), the children read and their latest
    visits: the parts of the page statement, alone or in the one-statement form."""
    due = _C.next_visit_due
    now: Any = bindparam("now")
    counts = (
        select(
            func.count().filter(due < now).label("overdue"),
            func.count().filter(due >= now).label("due_soon"),
        )
        .where(*_due_filter(flt.clause, with_duties, gated))
        .cte("counts")
    )
    keys = (
        select(_C.id, _C.county_code, _C.next_visit_due)
        .where(*_due_filter(flt.clause, with_duties, gated))
        .order_by(due, _C.id)
        .limit(bindparam("page_limit", type_=Integer))
    )
    if with_cursor:
        after = tuple_(bindparam("after_due"), bindparam("after_id"))
        keys = keys.where(tuple_(due, _C.id) > after)
    page = keys.subquery("page")
    child = _children.alias("child")
    latest = (
        select(_V.id, _V.follow_up_actions)
        .where(
            _V.county_code == page.c.county_code,
            _V.child_id == page.c.id,
            _V.is_current,
        )
        .order_by(_V.visited_at.desc(), _V.id.desc())
        .limit(1)
        .lateral("latest")
    )
    return counts, page, child, latest


def _page_statement(flt: ScopeFilter, with_cursor: bool, with_duties: bool) -> Select[Any]:
    """Counts over the whole range, and the page: its keys cut to the page size first from the
    index alone (index-only scans: a township's hundreds of due children are never read from
    the table), then only the page's rows read, each joined to the child's latest visit."""
    counts, page, child, latest = _page_parts(flt, with_cursor, with_duties, gated=False)
    rows = page.join(
        child, and_(child.c.id == page.c.id, child.c.county_code == page.c.county_code)
    ).outerjoin(latest, true())
    # _item unpacks these columns by position.
    return (
        select(*_page_columns(counts, child, latest))
        .select_from(counts.outerjoin(rows, true()))
        .order_by(page.c.next_visit_due, page.c.id)
    )


def _page_columns(counts: Any, child: Any, latest: Any) -> list[Any]:
    return [
        counts.c.overdue,
        counts.c.due_soon,
        child.c.id,
        child.c.county_code,
        child.c.name,
        child.c.area_code,
        child.c.risk_level,
        child.c.categories,
        child.c.next_visit_due,
        child.c.last_visit_at,
        latest.c.id.label("latest_visit_id"),
        latest.c.follow_up_actions,
    ]


def _returned_statement(flt: ScopeFilter) -> Select[Any]:
    stmt: Any = (
        select(
            _V.id,
            _V.child_id,
            _C.name,
            _V.visited_at,
            _V.review_comment,
            _V.reviewed_by,
            _V.reviewed_at,
            _V.version,
        )
        .join(_children, _C.id == _V.child_id)
        .where(
            _V.visitor_id == bindparam("visitor_id"),
            _RETURNED,
            _V.is_current,
            # Scoped by the child (where it lives now), so the planner probes the small
            # partial index by visitor rather than intersecting it with the scope index.
            flt.clause,
        )
        .order_by(_V.reviewed_at.desc())
        .limit(RETURNED_LIMIT)
    )
    return stmt


def _duties_statement() -> Select[Any]:
    """The open duties of the page's children (one probe of the partial unique index each)."""
    return (
        select(_D.child_id, _D.kind, _D.due_at, _D.case_id)
        .where(_D.child_id == any_(bindparam("child_ids", type_=ARRAY(Uuid))), _D.met_at.is_(None))
        .order_by(_D.due_at, _D.id)
    )


def _statement(
    kind: str, flt: ScopeFilter, with_cursor: bool = False, with_duties: bool = False
) -> Raw:
    key = (kind, flt.shape, with_cursor, with_duties)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        if kind == "page":
            built = _page_statement(flt, with_cursor, with_duties)
        elif kind == "duties":
            built = _duties_statement()
        else:
            built = _returned_statement(flt)
        stmt = _STATEMENTS[key] = Raw(built)
    return stmt


# --- one round trip (issue #23) -----------------------------------------------------------
#
# The worklist of a user in ONE statement sent in autocommit (rawsql.Raw.fetch_alone: no
# BEGIN, no COMMIT): the login session checked (security/scope.py: SESSION_CHECK_CTE), the
# counts, the page, its children's latest visits, their open duties (an array per row) and the
# caller's returned visits (an array, on every row) read in the token's scope only when the
# session holds, and the screen's audit row inserted by a data-modifying CTE only then (the
# statement is atomic: the read and its audit row stand or fall together).
_AT_ONCE: dict[tuple[str, bool, bool], Raw] = {}


def _at_once_statement(flt: ScopeFilter, with_cursor: bool, with_duties: bool) -> Raw:
    key = (flt.shape, with_cursor, with_duties)
    stmt = _AT_ONCE.get(key)
    if stmt is None:
        stmt = _AT_ONCE[key] = Raw(_build_at_once(flt, with_cursor, with_duties))
    return stmt


def _build_at_once(flt: ScopeFilter, with_cursor: bool, with_duties: bool) -> Select[Any]:
    counts, page, child, latest = _page_parts(flt, with_cursor, with_duties, gated=True)
    duties = (
        select(
            func.array_agg(
                aggregate_order_by(tuple_(_D.kind, _D.due_at, _D.case_id), _D.due_at, _D.id)
            ).label("duties")
        )
        .where(_D.child_id == page.c.id, _D.met_at.is_(None))
        .lateral("open_duties")
    )
    rows = (
        page.join(child, and_(child.c.id == page.c.id, child.c.county_code == page.c.county_code))
        .outerjoin(latest, true())
        .outerjoin(duties, true())
    )
    returned = _returned_statement(flt).where(SESSION_HELD).cte("returned")
    returned_list = (
        select(
            func.array_agg(aggregate_order_by(tuple_(*returned.c), returned.c.reviewed_at.desc()))
        )
        .select_from(returned)
        .scalar_subquery()
        .label("returned")
    )
    audited = audit.insert_from(
        select(
            bindparam("user_id"),
            bindparam("claimed_role"),
            null(),
            literal("list", String),
            literal("worklist", String),
            null(),
            audit.county_of(bindparam("audit_area", type_=String)),
            bindparam("audit_area", type_=String),
            bindparam("request_id", type_=String),
        ).where(SESSION_HELD)
    ).cte("audited")
    # _item reads the first twelve columns by position, as from the page statement.
    return (
        select(
            *_page_columns(counts, child, latest),
            duties.c.duties,
            returned_list,
            *SESSION_COLUMNS,
        )
        .select_from(session_frame().outerjoin(counts, true()).outerjoin(rows, true()))
        .order_by(page.c.next_visit_due, page.c.id)
        .add_cte(audited)
    )


async def worklist_at_once(
    db: Database,
    request: Any,
    scope: Scope,
    *,
    within_days: int,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    with_duties: bool = False,
    now: datetime | None = None,
) -> tuple[Scope, dict[str, Any], tuple[datetime, uuid.UUID] | None] | None:
    """GET /worklist for a user (without the agreement lists) in one round trip: the scope
    (confirmed by the account's row), the page as `worklist_data` shapes it and its last sort
    key when more may follow; 401 without a live session. None when the token's role may not
    log visits or its role or area are no longer the account's: nothing was read or audited,
    and the caller takes `worklist_data`'s path (scoped by the row: 403 there, or the page)."""
    if not scope.can(Action.visit_log):
        return None
    now = now or utcnow()
    flt = scope_filter(scope, _C.area_code, _C.county_code)
    params: dict[str, Any] = {
        **session_params(scope),
        **flt.params,
        "now": now,
        "horizon": now + timedelta(days=within_days),
        "page_limit": limit,
        "visitor_id": scope.user_id,
        "audit_area": scope.area_code or None,
        "request_id": scope.request_id,
    }
    if after is not None:
        params["after_due"], params["after_id"] = after
    rows = await _at_once_statement(flt, after is not None, with_duties).fetch_alone(db, params)
    head = rows[0] if rows else None
    confirmed = checked_scope(request, scope, head)
    if confirmed is None:
        return None
    assert head is not None  # checked_scope answers 401 without one
    items = [r for r in rows if r["id"] is not None]
    page = {
        "items": sorted((_item(r, now, _duties(r["duties"], now)) for r in items), key=_rank),
        "next_cursor": None,
        "counts": {"overdue": head["overdue"], "due_soon": head["due_soon"]},
        "returned_visits": [_returned_visit(v) for v in head["returned"] or ()],
        "as_of": now,
        "within_days": within_days,
        "agreement_follow_ups": None,
    }
    last = (items[-1]["next_visit_due"], items[-1]["id"]) if len(items) == limit else None
    return confirmed, page, last


def _duties(duties: Any, now: datetime) -> list[dict[str, Any]]:
    """WorklistDuty items as data from the row's array of (kind, due_at, case_id)."""
    return [
        {"kind": kind, "due_at": due, "overdue": due <= now, "case_id": case}
        for kind, due, case in duties or ()
    ]


def _follow_up(action: dict[str, Any]) -> dict[str, Any]:
    # FollowUpAction's fields, in order (stored validated by the visit's schema).
    return {"action": action["action"], "due_on": action["due_on"], "done": False}


def _item(row: Any, now: datetime, duties: list[dict[str, Any]]) -> dict[str, Any]:
    """A WorklistItem as data. Unpacked by position (the page statement's column order):
    this runs for every child on the screen."""
    child_id, name, area_code, level = row[2], row[4], row[5], row[6]
    categories, due, last, latest_id, actions = row[7], row[8], row[9], row[10], row[11]
    late = (now - due).total_seconds()
    return {
        "child": {
            "id": child_id,
            "name": name,
            "area_code": area_code,
            "risk_level": level,
            "categories": categories,
        },
        "next_visit_due": due,
        "last_visit_at": last,
        "overdue": late > 0,
        "days_overdue": int(late // _DAY) if late > 0 else 0,
        "open_follow_ups": [_follow_up(a) for a in actions or () if not a.get("done")],
        "latest_visit_id": latest_id,
        "duties": duties,
    }


def _rank(item: dict[str, Any]) -> tuple[int, int]:
    """Among equally overdue children (whole days), red and orange ones with open duties
    first; the sort is stable, so the due order holds otherwise."""
    urgent = item["child"]["risk_level"] in _URGENT_LEVELS and bool(item["duties"])
    return (-item["days_overdue"], 0 if urgent else 1)


async def _agreement_follow_ups(session: AsyncSession, scope: Scope) -> AgreementFollowUps:
    today = china_today()
    window = EXPIRING_WINDOW_DAYS
    gaps = await agreement_lists.children_without_agreement(
        session, scope, today, area=None, limit=FOLLOW_UP_LIMIT, after=None
    )
    ending = await agreement_lists.ending_soon(
        session, scope, today, within_days=window, area=None, limit=FOLLOW_UP_LIMIT, after=None
    )
    return AgreementFollowUps(
        as_of=today,
        within_days=window,
        no_active_agreement=gaps,
        no_active_agreement_count=await agreement_lists.count_children_without_agreement(
            session, scope, today, area=None
        ),
        ending_soon=[AgreementRead.from_row(a, today) for a in ending],
        ending_soon_count=await agreement_lists.count_ending_soon(
            session, scope, today, within_days=window, area=None
        ),
        limit=FOLLOW_UP_LIMIT,
    )


def _returned_visit(row: Any) -> dict[str, Any]:
    """A ReturnedVisit as data (the statement's columns, in order)."""
    vid, child_id, name, visited_at, comment, reviewed_by, reviewed_at, version = row
    return {
        "id": vid,
        "child_id": child_id,
        "child_name": name,
        "visited_at": visited_at,
        "review_comment": comment,
        "reviewed_by": reviewed_by,
        "reviewed_at": reviewed_at,
        "version": version,
    }


async def worklist(
    session: AsyncSession,
    scope: Scope,
    *,
    within_days: int,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    now: datetime | None = None,
    include_agreements: bool = False,
    with_duties: bool = False,
) -> tuple[Worklist, tuple[datetime, uuid.UUID] | None]:
    """The page as the validated model, and the sort key of its last row when more may
    follow."""
    data, last = await worklist_data(
        session,
        scope,
        within_days=within_days,
        limit=limit,
        after=after,
        now=now,
        include_agreements=include_agreements,
        with_duties=with_duties,
    )
    return Worklist.model_validate(data), last


async def worklist_data(
    session: AsyncSession,
    scope: Scope,
    *,
    within_days: int,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    now: datetime | None = None,
    include_agreements: bool = False,
    with_duties: bool = False,
) -> tuple[dict[str, Any], tuple[datetime, uuid.UUID] | None]:
    """The page as data shaped as the Worklist schema, field by field and in order (the
    router serialises it once; tests hold it to the schema), and the sort key of its last
    row when more may follow."""
    scope.require(Action.visit_log)
    now = now or utcnow()
    flt = scope_filter(scope, _C.area_code, _C.county_code)
    params: dict[str, Any] = {
        **flt.params,
        "now": now,
        "horizon": now + timedelta(days=within_days),
        "page_limit": limit,
    }
    if after is not None:
        params["after_due"], params["after_id"] = after
    rows = await _statement("page", flt, after is not None, with_duties).fetch(session, params)
    items = [r for r in rows if r["id"] is not None]
    open_duties: dict[uuid.UUID, list[dict[str, Any]]] = {r["id"]: [] for r in items}
    if items:
        for d in await _statement("duties", flt).fetch(session, {"child_ids": list(open_duties)}):
            open_duties[d["child_id"]].append(
                {
                    "kind": d["kind"],
                    "due_at": d["due_at"],
                    "overdue": d["due_at"] <= now,
                    "case_id": d["case_id"],
                }
            )
    returned = await _statement("returned", flt).fetch(
        session, {**flt.params, "visitor_id": scope.user_id}
    )
    # One audit event per screen: it shows the names of the children listed.
    await audit.record(session, scope, "list", "worklist", None, scope.area_code or None)
    last = (items[-1]["next_visit_due"], items[-1]["id"]) if len(items) == limit else None
    page = {
        # The cursor is the last row in due order; the ranking moves rows within the page.
        "items": sorted((_item(r, now, open_duties[r["id"]]) for r in items), key=_rank),
        "next_cursor": None,
        "counts": {"overdue": rows[0]["overdue"], "due_soon": rows[0]["due_soon"]},
        "returned_visits": [_returned_visit(r) for r in returned],
        "as_of": now,
        "within_days": within_days,
        "agreement_follow_ups": (
            await _agreement_follow_ups(session, scope)
            if include_agreements and after is None and scope.can(Action.agreement_read)
            else None
        ),
    }
    return page, last
