"""A page of the sync changes for a user in ONE statement, in autocommit (issue #23).

The common case of GET /sync/changes: a village director's (or any staff user's) phone
asking, with its cursor, what changed. One statement does all of it:

- the login session checked (security/scope.py: SESSION_CHECK_CTE: the account active, the
  session not revoked, role and area still the token's);
- the request counted against the `sync` rate limit (the counter's upsert, gated on the
  session: its row lock lasts this one statement, as security/rate_limit.py's own transaction);
- the horizon and the log rows after the cursor, in the token's scope (`scope_filter`),
  read only when the session holds and the count is within the limit;
- the current state of each child, agreement and visit of the page (in scope);
- the audit rows of what the page serves (each child and agreement kept on phones, one
  `sync` row for the visits: feed.py `_Shaper.audit`), inserted by data-modifying CTEs, so the
  read and its audit rows stand or fall together.

The page is then shaped in Python exactly as feed.py's `changes_page` shapes it (the same
functions: `_gone_reason`, `child_item`, `AgreementRead.from_row`, the visits' JSON from
PostgreSQL, the same order and cursor).

What it does not cover answers None and the request takes feed.py's path (one transaction,
the scope by the account's row): integration clients, a cursor that is malformed, expired
or made for another scope, a role or area changed since the token, and a page holding records
of other types (reports, alerts, care records: then nothing was read or audited, only
counted). The initial load (no cursor or an initial-phase cursor) is load_at_once.py's, which
shares this module's counter CTE, gate (`_allowed`, `_Count`), kept rule and row attributes,
or feed.py's when a read replica carries it.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
    or_,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from childprotect_api.core import audit
from childprotect_api.core.db import Database
from childprotect_api.core.errors import Gone, TooManyRequests, Unprocessable
from childprotect_api.core.rawsql import Raw
from childprotect_api.models.agreement import Agreement
from childprotect_api.models.child import Child
from childprotect_api.models.rate_limit import RateLimitCounter
from childprotect_api.models.sync import SyncChange, Xid8
from childprotect_api.models.visit import Visit
from childprotect_api.schemas.sync import TombstoneReason
from childprotect_api.security import rate_limit as rate_limiting
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
from childprotect_api.services.sync import feed

# The types whose current state the statement reads; a page with any other goes feed.py's way.
COVERED = ("child", "agreement", "visit")


def _among(names: tuple[str, ...]) -> list[Any]:
    """Constants in the statement's text (an IN list of parameters would be expanded per
    execution, which a statement compiled once for the driver cannot do)."""
    return [literal_column(f"'{name}'") for name in names]


_log = SyncChange.__table__  # type: ignore[attr-defined]
_children = Child.__table__  # type: ignore[attr-defined]
_agreements = Agreement.__table__  # type: ignore[attr-defined]
_visits = Visit.__table__  # type: ignore[attr-defined]
_counters = RateLimitCounter.__table__  # type: ignore[attr-defined]


class _Attrs:
    """A row's columns under a prefix, as attributes (feed.py's shapers read attributes)."""

    __slots__ = ("_prefix", "_row")

    def __init__(self, row: Any, prefix: str) -> None:
        self._row = row
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        return self._row[self._prefix + name]


def _kept(anonymised_at: Any, status: Any, closed_at: Any) -> Any:
    """feed.py's `_child_kept` with the cut-off as a parameter (the statement is built once)."""
    return and_(
        anonymised_at.is_(None),
        or_(
            status != "closed",
            closed_at.is_(None),
            closed_at >= bindparam("closed_cutoff", type_=DateTime(timezone=True)),
        ),
    )


def _counted() -> Any:
    """The rate-limit counter's upsert (security/rate_limit.py `_UPSERT`), only with a live
    session: the new count."""
    ins = pg_insert(_counters).from_select(
        ["key", "window_start", "count"],
        select(
            bindparam("rate_key", type_=String),
            bindparam("rate_window", type_=DateTime(timezone=True)),
            literal(1, Integer),
        ).where(SESSION_HELD),
    )
    ins = ins.on_conflict_do_update(
        index_elements=[_counters.c.key],
        set_={
            "count": case(
                (_counters.c.window_start == ins.excluded.window_start, _counters.c.count + 1),
                else_=1,
            ),
            "window_start": ins.excluded.window_start,
        },
    )
    return ins.returning(_counters.c.count).cte("counted")


def _allowed(counted: Any) -> Any:
    """What gates every read and audit row of the statement: a live session, and the request
    within the rate limit (its count, `counted`, at most `rate_limit`)."""
    return and_(
        SESSION_HELD,
        exists(
            select(literal_column("1"))
            .select_from(counted)
            .where(counted.c.count <= bindparam("rate_limit", type_=Integer))
        ),
    )


@dataclass(frozen=True)
class _Count:
    """The request's count against the `sync` rate limit, on the rate limit's own clock
    (security/rate_limit.py): the statement's parameters, then what its row says."""

    scope: Scope
    limit: int
    at: datetime = field(default_factory=lambda: rate_limiting.clock())

    @property
    def window(self) -> datetime:
        return self.at.replace(second=0, microsecond=0)

    def params(self) -> dict[str, Any]:
        return {
            **session_params(self.scope),
            "request_id": self.scope.request_id,
            "rate_key": f"sync:{self.scope.actor_type}:{self.scope.actor_id}",
            "rate_window": self.window,
            "rate_limit": self.limit,
        }

    def admitted(self, request: Any, head: Any) -> bool:
        """After the statement: 401 without a live session, 429 over the limit (counted,
        nothing read); False when the role or area changed since the token (nothing counted,
        read or audited: feed.py's path answers)."""
        if checked_scope(request, self.scope, head) is None:
            return False
        if head["rate_count"] is None or head["rate_count"] > self.limit:
            retry = (self.window + timedelta(minutes=1) - self.at).total_seconds()
            raise TooManyRequests(
                f"at most {self.limit} requests a minute to this resource",
                code="rate_limited",
                headers={"Retry-After": str(max(1, math.ceil(retry)))},
            )
        return True


_STATEMENTS: dict[str, Raw] = {}


def _statement(scope: Scope) -> Raw:
    log_flt = scope_filter(scope, _log.c.area_code, _log.c.county_code)
    stmt = _STATEMENTS.get(log_flt.shape)
    if stmt is not None:
        return stmt
    counted = _counted()
    allowed = _allowed(counted)
    horizon = (
        text(feed.HORIZON_SQL)
        .columns(column("xmin", Xid8()), column("at", DateTime))
        .cte("horizon")
    )
    after = tuple_(_log.c.txid, _log.c.seq) > tuple_(
        cast(bindparam("after_txid", type_=String), Xid8()),
        bindparam("after_seq", type_=Integer),
    )
    below = _log.c.txid < select(horizon.c.xmin).scalar_subquery()
    more = bindparam("limit_more", type_=Integer)
    columns = [
        _log.c.txid,
        _log.c.seq,
        _log.c.entity_type,
        _log.c.entity_id,
        _log.c.op,
        _log.c.reason,
        _log.c.changed_at,
    ]
    in_area = (
        select(*columns)
        .where(log_flt.clause, _log.c.entity_type.not_in(_among(feed._OWN)), after, below, allowed)
        .order_by(_log.c.txid, _log.c.seq)
        .limit(more)
    )
    filed = (
        select(*columns)
        .where(
            _log.c.filer_id == bindparam("user_id"),
            _log.c.entity_type.in_(_among(feed._OWN)),
            after,
            below,
            allowed,
        )
        .order_by(_log.c.txid, _log.c.seq)
        .limit(more)
    )
    rows = union_all(in_area, filed).subquery("rows")
    page = (
        select(
            *rows.c,
            func.row_number().over(order_by=(rows.c.txid, rows.c.seq)).label("rn"),
        )
        .order_by(rows.c.txid, rows.c.seq)
        .limit(more)
        .cte("page")
    )
    served = page.c.rn <= bindparam("limit", type_=Integer)
    covered = ~exists(
        select(literal_column("1"))
        .select_from(page)
        .where(served, page.c.entity_type.not_in(_among(COVERED)))
    )
    ents = (
        select(page.c.entity_type, page.c.entity_id).where(served, covered).distinct().cte("ents")
    )

    def of(kind: str, id_col: Any) -> Any:
        return exists(
            select(literal_column("1"))
            .select_from(ents)
            .where(ents.c.entity_type == kind, ents.c.entity_id == id_col)
        )

    cc = _children.alias("cc")
    cc_flt = scope_filter(scope, cc.c.area_code, cc.c.county_code)
    cur_child = select(cc).where(of("child", cc.c.id), cc_flt.clause).cte("cur_child")

    ac = _children.alias("ac")
    ag_flt = scope_filter(scope, _agreements.c.area_code, _agreements.c.county_code)
    cur_agreement = (
        select(
            _agreements,
            ac.c.anonymised_at.label("ac_anonymised_at"),
            ac.c.status.label("ac_status"),
            ac.c.closed_at.label("ac_closed_at"),
        )
        .join_from(_agreements, ac, ac.c.id == _agreements.c.child_id)
        .where(of("agreement", _agreements.c.id), ag_flt.clause)
        .cte("cur_agreement")
    )

    vc = _children.alias("vc")
    v_flt = scope_filter(scope, _visits.c.area_code, _visits.c.county_code)
    cur_visit = (
        select(
            feed.visit_upsert_json(),
            _visits.c.id,
            _visits.c.is_current,
            vc.c.anonymised_at.label("vc_anonymised_at"),
            vc.c.status.label("vc_status"),
            vc.c.closed_at.label("vc_closed_at"),
        )
        .join_from(_visits, vc, vc.c.id == _visits.c.child_id)
        .where(of("visit", _visits.c.id), v_flt.clause)
        .cte("cur_visit")
    )

    def audit_rows(resource: str, source: Any, rid: Any, area: Any, where: Any) -> Any:
        return audit.insert_from(
            select(
                bindparam("user_id"),
                bindparam("claimed_role"),
                null(),
                literal("sync", String),
                literal(resource, String),
                rid,
                audit.county_of(area),
                area,
                bindparam("request_id", type_=String),
            )
            .select_from(source)
            .where(where)
        )

    audit_area = bindparam("audit_area", type_=String)
    one_visit = (
        select(literal_column("1").label("one"))
        .where(
            exists(
                select(literal_column("1"))
                .select_from(cur_visit)
                .where(
                    cur_visit.c.is_current,
                    _kept(
                        cur_visit.c.vc_anonymised_at,
                        cur_visit.c.vc_status,
                        cur_visit.c.vc_closed_at,
                    ),
                )
            )
        )
        .subquery("one_visit")
    )
    audited = [
        audit_rows(
            "child",
            cur_child,
            cur_child.c.id,
            cur_child.c.area_code,
            _kept(cur_child.c.anonymised_at, cur_child.c.status, cur_child.c.closed_at),
        ).cte("audited_children"),
        audit_rows(
            "agreement",
            cur_agreement,
            cur_agreement.c.id,
            cur_agreement.c.area_code,
            _kept(
                cur_agreement.c.ac_anonymised_at,
                cur_agreement.c.ac_status,
                cur_agreement.c.ac_closed_at,
            ),
        ).cte("audited_agreements"),
        audit_rows("visit", one_visit, null(), audit_area, true()).cte("audited_visits"),
    ]

    # The state of each record rides on its log rows of the page (not on the extra row that
    # only says there is more).
    joined = and_(served, page.c.entity_id.isnot(None))
    built = (
        select(
            *SESSION_COLUMNS,
            counted.c.count.label("rate_count"),
            cast(horizon.c.xmin, Text).label("horizon"),
            horizon.c.at.label("horizon_at"),
            covered.label("covered"),
            cast(page.c.txid, Text).label("txid"),
            page.c.seq,
            page.c.entity_type,
            page.c.entity_id,
            page.c.op,
            page.c.reason,
            page.c.changed_at,
            *(c.label("c_" + c.name) for c in cur_child.c),
            *(c.label("a_" + c.name) for c in cur_agreement.c),
            cur_visit.c.item.label("v_item"),
            cur_visit.c.id.label("v_id"),
            cur_visit.c.is_current.label("v_is_current"),
            cur_visit.c.vc_anonymised_at.label("v_anonymised_at"),
            cur_visit.c.vc_status.label("v_status"),
            cur_visit.c.vc_closed_at.label("v_closed_at"),
        )
        .select_from(
            session_frame()
            .outerjoin(counted, true())
            .outerjoin(horizon, true())
            .outerjoin(page, true())
            .outerjoin(
                cur_child,
                and_(joined, page.c.entity_type == "child", cur_child.c.id == page.c.entity_id),
            )
            .outerjoin(
                cur_agreement,
                and_(
                    joined,
                    page.c.entity_type == "agreement",
                    cur_agreement.c.id == page.c.entity_id,
                ),
            )
            .outerjoin(
                cur_visit,
                and_(joined, page.c.entity_type == "visit", cur_visit.c.id == page.c.entity_id),
            )
        )
        .order_by(page.c.txid, page.c.seq)
    )
    for cte in audited:
        built = built.add_cte(cte)
    stmt = _STATEMENTS[log_flt.shape] = Raw(built)
    return stmt


def fast_cursor(
    scope: Scope, cursor: str | None, now: datetime, log_days: int
) -> feed.SyncCursor | None:
    """The cursor when this path can serve it (a valid changes-phase cursor of this token's
    scope); None otherwise: feed.py's path answers it (422, 410, the initial load) after the
    session check, as before."""
    if cursor is None or scope.is_client or not scope.can(Action.sync):
        return None
    try:
        parsed = feed.SyncCursor.decode(cursor)
        if parsed.phase != feed._CHANGES:
            return None
        feed.check_cursor(scope, parsed, now, log_days)
    except (Unprocessable, Gone):
        return None
    return parsed


async def changes_at_once(
    db: Database,
    request: Any,
    scope: Scope,
    cursor: feed.SyncCursor,
    limit: int,
    *,
    now: datetime,
    keep_closed_days: int,
    rate_limit: int,
) -> tuple[str | None, bool]:
    """(the page as JSON, counted); the page is None when feed.py's path must answer (see
    the module docstring), `counted` whether this request was counted against the limit."""
    count = _Count(scope, rate_limit)
    closed_cutoff = feed._closed_cutoff(now, keep_closed_days)
    flt = scope_filter(scope, _log.c.area_code, _log.c.county_code)
    params = {
        **count.params(),
        **flt.params,
        "after_txid": str(cursor.txid),
        "after_seq": cursor.seq,
        "limit": limit,
        "limit_more": limit + 1,
        "closed_cutoff": closed_cutoff,
        "audit_area": scope.area_code or None,
    }
    rows = await _statement(scope).fetch_alone(db, params)
    head = rows[0] if rows else None
    if not count.admitted(request, head):
        return None, False  # the role or area changed: nothing counted, read or audited
    assert head is not None
    if not head["covered"]:
        return None, True
    logged = [r for r in rows if r["seq"] is not None]
    has_more = len(logged) > limit
    page = logged[:limit]
    entities = feed._dedupe([_Attrs(r, "") for r in page])
    shaper = feed._shaper(scope)
    upserts: dict[uuid.UUID, str] = {}
    gone: dict[uuid.UUID, TombstoneReason] = {}
    for r in page:
        kind = r["entity_type"]
        if kind == "child" and r["c_id"] is not None:
            c = _Attrs(r, "c_")
            reason = feed._gone_reason(c.anonymised_at, c.status, c.closed_at, closed_cutoff)
            if reason is None:
                upserts[c.id] = shaper.child(c)  # type: ignore[arg-type]
            else:
                gone[c.id] = reason
        elif kind == "agreement" and r["a_id"] is not None:
            a = _Attrs(r, "a_")
            reason = feed._gone_reason(
                a.ac_anonymised_at, a.ac_status, a.ac_closed_at, closed_cutoff
            )
            if reason is None:
                upserts[a.id] = shaper.agreement(a)  # type: ignore[arg-type]
            else:
                gone[a.id] = reason
        elif kind == "visit" and r["v_id"] is not None:
            reason = feed._gone_reason(
                r["v_anonymised_at"], r["v_status"], r["v_closed_at"], closed_cutoff
            )
            if reason is None and not r["v_is_current"]:
                reason = TombstoneReason.superseded
            if reason is None:
                upserts[r["v_id"]] = r["v_item"]
            else:
                gone[r["v_id"]] = reason
    items = feed.ordered_items(entities, upserts, gone)
    nxt = feed.next_cursor(cursor, page, has_more, head["horizon"], head["horizon_at"])
    return feed.page_json(items, nxt, has_more), True
