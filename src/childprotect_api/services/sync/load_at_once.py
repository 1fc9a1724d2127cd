"""A page of a user's sync INITIAL LOAD in ONE statement, in autocommit (issue #23).

The other half of at_once.py (the changes pages): the first page of a phone's load (no
cursor) and the pages after it (a cursor of the initial phase) when the app has no read
replica. One statement does all of it:

- the login session checked and the request counted against the `sync` rate limit (at_once.py:
  the same session frame, counter CTE and gate: nothing is read or audited without a live
  session within the limit);
- on the first page, the horizon the changes phase will start from (feed.HORIZON_SQL), from
  the statement's own snapshot: the one every record of the page is read in, so nothing
  committed after the horizon is missed by the load and not caught by the changes after it;
- the records after the cursor across types in feed.py's order and keysets (children by id,
  agreements by id, visits by (visited_at, id), then the types this statement does not
  render), each type scoped by `scope_filter` on its own area and county columns and kept by
  feed.py's rule (not anonymised, not closed before the cut-off): a UNION ALL of one branch
  per type under one LIMIT of `limit + 1` rows (the extra row says whether there is more).
  PostgreSQL runs a UNION ALL's branches in order and stops at the LIMIT (an Append; never a
  parallel one here: a statement that writes runs no parallel plan), so a page of children
  reads no visit;
- the audit rows of what the page serves, as feed.py's `_Shaper.audit` writes them: each
  child, then each agreement, in page order, then one `sync` row for the visits of the page.

Reports, pairings, cases, alerts, sites, activities and category applications are not
rendered here: a page that would serve any of them is "not covered" (the statement then
reads nothing into the answer and audits nothing, only counts the request) and feed.py's
path answers it. So does a cursor inside one of those types (one feed.py made).

With a read replica (DATABASE_REPLICA_URL) the load keeps feed.py's path, so that the
replica carries it (docs/sync.md); so do integration clients, a malformed, expired or
foreign cursor (feed.py answers 422 or 410) and a role or area changed since the token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    column,
    exists,
    func,
    literal,
    literal_column,
    null,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.types import Uuid

from childprotect_api.core import audit
from childprotect_api.core.db import Database
from childprotect_api.core.errors import Gone, Unprocessable
from childprotect_api.core.rawsql import Raw
from childprotect_api.models.activity import Activity, Site
from childprotect_api.models.agreement import Agreement
from childprotect_api.models.benefit import CategoryApplication
from childprotect_api.models.care import Alert, Case, Pairing
from childprotect_api.models.child import Child
from childprotect_api.models.report import Report
from childprotect_api.models.sync import Xid8
from childprotect_api.models.visit import Visit
from childprotect_api.security.scope import (
    SESSION_COLUMNS,
    Action,
    Scope,
    scope_filter,
    session_frame,
)
from childprotect_api.services.sync import at_once, feed

# The types this statement renders: the first three of feed.ENTITIES, in its order.
RENDERED = ("child", "agreement", "visit")
assert feed.ENTITIES[: len(RENDERED)] == RENDERED

_children = Child.__table__  # type: ignore[attr-defined]
_agreements = Agreement.__table__  # type: ignore[attr-defined]
_visits = Visit.__table__  # type: ignore[attr-defined]
_reports = Report.__table__  # type: ignore[attr-defined]
# The other types, in feed.ENTITIES order: whether the caller has any of them.
_SCOPED_OTHERS: dict[str, Any] = {
    "pairing": Pairing.__table__,  # type: ignore[attr-defined]
    "case": Case.__table__,  # type: ignore[attr-defined]
    "site": Site.__table__,  # type: ignore[attr-defined]
    "activity": Activity.__table__,  # type: ignore[attr-defined]
    "category_application": CategoryApplication.__table__,  # type: ignore[attr-defined]
}
_OF_A_CHILD = ("pairing", "case")  # kept by their child (feed.py `_initial_rows`)
_alerts = Alert.__table__  # type: ignore[attr-defined]

_TIMESTAMP = DateTime(timezone=True)


@dataclass(frozen=True)
class LoadStart:
    """Where a page of the load starts: `cursor` None for the first page."""

    cursor: feed.SyncCursor | None


def load_start(scope: Scope, cursor: str | None, now: datetime, log_days: int) -> LoadStart | None:
    """The start when this path can serve the page (no cursor, or a valid initial-phase
    cursor of this token's scope at a rendered type, or at the start of another: the page
    after one that filled up exactly at the end of the visits, which the statement answers
    when nothing of the other types is there); None otherwise: feed.py's path answers it (the
    changes phase is at_once.py's), after the session check, as before."""
    if scope.is_client or not scope.can(Action.sync):
        return None
    if cursor is None:
        return LoadStart(None)
    try:
        parsed = feed.SyncCursor.decode(cursor)
        feed.check_cursor(scope, parsed, now, log_days)
    except (Unprocessable, Gone):
        return None
    if parsed.phase != feed._INITIAL or parsed.kind >= len(feed.ENTITIES):
        return None
    if parsed.kind >= len(RENDERED) and parsed.after is not None:
        return None  # inside a type it does not render: feed.py's
    return LoadStart(parsed)


def _branches(scope: Scope, kind: int, after: bool) -> list[Any]:
    """One SELECT per type from `kind` on (k, id, the visit's visited_at, area, the visit's
    item), each in its keyset order, up to `limit_more` rows; the type at `kind` after the
    cursor's keyset when `after`."""
    more = bindparam("limit_more", type_=Integer)
    after_id = bindparam("after_id", type_=Uuid)

    def scoped(table: Any) -> Any:
        return scope_filter(scope, table.c.area_code, table.c.county_code).clause

    def kept_by(child: Any) -> Any:
        return at_once._kept(child.c.anonymised_at, child.c.status, child.c.closed_at)

    def of_a_kept_child(table: Any, name: str) -> Any:
        """The record's child looked up by its key, row by row (a LATERAL probe: a township's
        or county's records are sorted whole, and a hash join would read every child)."""
        child = _children.alias(name)
        probe = (
            select(literal_column("1").label("kept"))
            .where(child.c.id == table.c.child_id, kept_by(child))
            .limit(1)
            .lateral(f"{name}_kept")
        )
        return table.join(probe, true())

    def row(k: int, table: Any, at: Any = None, item: Any = None) -> Any:
        return (
            literal_column(str(k), Integer).label("k"),
            table.c.id.label("id"),
            (at if at is not None else cast(null(), _TIMESTAMP)).label("at"),
            table.c.area_code.label("area"),
            (item if item is not None else cast(null(), Text)).label("item"),
        )

    found: list[Any] = []
    # Children (by id).
    ch = _children
    stmt: Any = select(*row(0, ch)).where(scoped(ch), kept_by(ch))
    if after and kind == 0:
        stmt = stmt.where(ch.c.id > after_id)
    found.append(stmt.order_by(ch.c.id).limit(more))
    # Agreements (by id), kept by their child.
    ag = _agreements
    stmt = select(*row(1, ag)).select_from(of_a_kept_child(ag, "ac")).where(scoped(ag))
    if after and kind == 1:
        stmt = stmt.where(ag.c.id > after_id)
    found.append(stmt.order_by(ag.c.id).limit(more))
    # Current visits (by (visited_at, id): the visits' scope index), kept by their child,
    # rendered by PostgreSQL as feed.py renders them.
    vi = _visits
    stmt = (
        select(*row(2, vi, vi.c.visited_at, feed.visit_upsert_json()))
        .select_from(of_a_kept_child(vi, "vc"))
        .where(scoped(vi), vi.c.is_current)
    )
    if after and kind == 2:
        stmt = stmt.where(
            tuple_(vi.c.visited_at, vi.c.id)
            > tuple_(bindparam("after_at", type_=_TIMESTAMP), after_id)
        )
    found.append(stmt.order_by(vi.c.visited_at, vi.c.id).limit(more))

    # The other types: whether the caller has one (any one: a page reaching them is feed.py's).
    # Their conditions are feed.py `_initial_rows`'s, so a page is covered only when feed.py
    # would serve nothing of them.
    def one(k: int, table: Any, *where: Any, child: str | None = None) -> Any:
        stmt = select(*row(k, table))
        if child is not None:
            stmt = stmt.select_from(of_a_kept_child(table, child))
        return stmt.where(*where).limit(1)

    user = bindparam("user_id", type_=Uuid)
    for k in range(len(RENDERED), len(feed.ENTITIES)):
        entity = feed.ENTITIES[k]
        if entity == "report":
            found.append(one(k, _reports, _reports.c.reporter_user_id == user))
        elif entity == "alert":
            found.append(one(k, _alerts, _alerts.c.recipient_id == user))
        elif entity in _OF_A_CHILD:
            table = _SCOPED_OTHERS[entity]
            found.append(one(k, table, scoped(table), child=f"{entity}_child"))
        else:
            table = _SCOPED_OTHERS[entity]
            found.append(one(k, table, scoped(table)))
    return found[kind:]


_STATEMENTS: dict[tuple[str, int, bool, bool], Raw] = {}


def _statement(scope: Scope, kind: int, after: bool, first: bool) -> Raw:
    """Built once per scope shape and start (the type the cursor is at, after a keyset or
    not, the first page or not): each keyset a plain range, so every plan follows an index."""
    shape = scope_filter(scope, _children.c.area_code, _children.c.county_code).shape
    key = (shape, kind, after, first)
    stmt = _STATEMENTS.get(key)
    if stmt is not None:
        return stmt
    counted = at_once._counted()
    allowed = at_once._allowed(counted)
    limit = bindparam("limit", type_=Integer)
    rows = union_all(*_branches(scope, kind, after)).subquery("rows")
    # Read only with a live session within the rate limit; up to limit + 1 rows in the
    # branches' order (numbered as they come: the Append's order, nothing sorts them again).
    taken = (
        select(rows).where(allowed).limit(bindparam("limit_more", type_=Integer)).subquery("taken")
    )
    page = select(*taken.c, func.row_number().over().label("n")).cte("page")
    served = page.c.n <= limit
    covered = ~exists(
        select(literal_column("1"))
        .select_from(page)
        .where(served, page.c.k >= len(RENDERED))
        .correlate(None)
    )

    # The audit rows (feed.py `_Shaper.audit`): the children, then the agreements served, in
    # page order, then one row for the visits; only for a page this statement answers.
    def audit_rows(k: int, resource: str) -> Any:
        return select(
            literal(k, Integer).label("ord"),
            page.c.n,
            literal(resource, String).label("resource"),
            page.c.id,
            page.c.area,
        ).where(served, page.c.k == k)

    visits_served = exists(
        select(literal_column("1")).select_from(page).where(served, page.c.k == 2).correlate(None)
    )
    one_visit = select(
        literal(2, Integer),
        literal(0, Integer),
        literal("visit", String),
        cast(null(), Uuid),
        bindparam("audit_area", type_=String),
    ).where(visits_served)
    audited = union_all(audit_rows(0, "child"), audit_rows(1, "agreement"), one_visit).subquery(
        "audited"
    )
    audit_insert = audit.insert_from(
        select(
            bindparam("user_id", type_=Uuid),
            bindparam("claimed_role", type_=String),
            null(),
            literal("sync", String),
            audited.c.resource,
            audited.c.id,
            audit.county_of(audited.c.area),
            audited.c.area,
            bindparam("request_id", type_=String),
        )
        .where(covered)
        .order_by(audited.c.ord, audited.c.n)
    ).cte("audited_rows")

    cc = _children.alias("cc")
    ca = _agreements.alias("ca")
    columns: list[Any] = [
        *SESSION_COLUMNS,
        counted.c.count.label("rate_count"),
        covered.label("covered"),
        page.c.k,
        page.c.n,
        page.c.id,
        page.c.at,
        case((served, page.c.item)).label("item"),
        *(c.label("c_" + c.name) for c in cc.c),
        *(c.label("a_" + c.name) for c in ca.c),
    ]
    frame = session_frame().outerjoin(counted, true())
    if first:
        # The first page's horizon: from this statement's snapshot (feed.py takes it before
        # reading, in the transaction that then reads; here it is the same snapshot).
        horizon = (
            text(feed.HORIZON_SQL)
            .columns(column("xmin", Xid8()), column("at", DateTime))
            .cte("horizon")
        )
        columns += [cast(horizon.c.xmin, Text).label("horizon"), horizon.c.at.label("horizon_at")]
        frame = frame.outerjoin(horizon, true())
    # The records of a page it answers, with the rows of the children and agreements served.
    rendered = and_(served, covered)
    built = (
        select(*columns)
        .select_from(
            frame.outerjoin(page, covered)
            .outerjoin(cc, and_(rendered, page.c.k == 0, cc.c.id == page.c.id))
            .outerjoin(ca, and_(rendered, page.c.k == 1, ca.c.id == page.c.id))
        )
        .order_by(page.c.n)
        .add_cte(audit_insert)
    )
    stmt = _STATEMENTS[key] = Raw(built)
    return stmt


def _next_cursor(
    cursor: feed.SyncCursor, found: list[Any], page: list[Any], limit: int
) -> feed.SyncCursor:
    """As feed.py `initial_page` makes it: the keyset of the last record served when more of
    its type follow; the next type when the page filled up exactly at the end of one; the
    changes phase from the first page's horizon when the load is done."""
    keep = (cursor.user_id, cursor.role, cursor.area, cursor.txid, 0, cursor.floor)
    if len(page) == limit:
        last = page[-1]
        if len(found) > limit and found[limit]["k"] == last["k"]:
            key: tuple[str, ...] = (str(last["id"]),)
            if feed.ENTITIES[last["k"]] == "visit":
                key = (last["at"].isoformat(), *key)
            return feed.SyncCursor(feed._INITIAL, *keep, last["k"], key)
        # (A rendered type is never the last one: the next type is still of the load.)
        return feed.SyncCursor(feed._INITIAL, *keep, last["k"] + 1)
    return feed.SyncCursor(feed._CHANGES, *keep)


async def load_at_once(
    db: Database,
    request: Any,
    scope: Scope,
    start: LoadStart,
    limit: int,
    *,
    now: datetime,
    keep_closed_days: int,
    rate_limit: int,
) -> tuple[str | None, bool]:
    """(the page as JSON, counted); the page is None when feed.py's path must answer (see
    the module docstring), `counted` whether this request was counted against the limit."""
    count = at_once._Count(scope, rate_limit)
    cursor = start.cursor
    kind = cursor.kind if cursor is not None else 0
    after = cursor.after if cursor is not None else None
    params: dict[str, Any] = {
        **count.params(),
        **scope_filter(scope, _children.c.area_code, _children.c.county_code).params,
        "limit": limit,
        "limit_more": limit + 1,
        "closed_cutoff": feed._closed_cutoff(now, keep_closed_days),
        "audit_area": scope.area_code or None,
    }
    if after is not None:
        params["after_id"] = uuid.UUID(after[-1])
        if len(after) == 2:
            params["after_at"] = datetime.fromisoformat(after[0])
    stmt = _statement(scope, kind, after is not None, cursor is None)
    rows = await stmt.fetch_alone(db, params)
    head = rows[0] if rows else None
    if not count.admitted(request, head):
        return None, False  # the role or area changed: nothing counted, read or audited
    assert head is not None
    if not head["covered"]:
        return None, True  # a record of another type: feed.py's path answers (counted)
    if cursor is None:
        cursor = feed.first_cursor(scope, head["horizon"], head["horizon_at"])
    found = [r for r in rows if r["k"] is not None]
    page = found[:limit]
    shaper = feed._shaper(scope)
    items: list[str] = []
    for r in page:
        if r["k"] == 0:
            items.append(shaper.child(at_once._Attrs(r, "c_")))  # type: ignore[arg-type]
        elif r["k"] == 1:
            items.append(shaper.agreement(at_once._Attrs(r, "a_")))  # type: ignore[arg-type]
        else:
            items.append(r["item"])
    # The load always has more: after its last page, the phone asks once more to catch up.
    return feed.page_json(items, _next_cursor(cursor, found, page, limit), True), True
