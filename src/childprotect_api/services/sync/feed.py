"""The offline sync feed: a phone's copy of its scope, kept current by a cursor.

Two phases behind one opaque cursor:

1. **Initial load** (no cursor): every child, agreement and visit in the caller's scope that
   the app keeps (not anonymised, not closed longer than `sync_keep_closed_days`; visits:
   the current version) and the caller's own reports, read from the base tables in a stable
   keyset order (children, agreements, visits by (visited_at, id), reports, then the sites and
   care activities of the scope), pages filled
   across types. Its first page records where the change log is to be read from afterwards:
   `(pg_snapshot_xmin(pg_current_snapshot()), seq 0)`, taken BEFORE anything is read.
2. **Incremental**: rows of `sync_changes` in scope (area prefix via security.scope; reports
   by filer), ordered by (txid, seq), each entity answered once per page with its CURRENT
   state: an upsert in the shape of its GET endpoint, or a tombstone when the caller no
   longer sees it (moved away, closed past keeping, anonymised, a superseded visit version).

Why it never skips a change, how long a cursor lives (410 `sync_cursor_expired`) and why the
initial load may read a replica: docs/sync.md."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, get_args

from sqlalchemy import (
    ColumnElement,
    DateTime,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    column,
    delete,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit
from childprotect_api.core.errors import Gone, Unprocessable
from childprotect_api.models.activity import Activity, Site
from childprotect_api.models.agreement import Agreement
from childprotect_api.models.base import utcnow
from childprotect_api.models.benefit import CategoryApplication
from childprotect_api.models.care import Alert, Case, CaseMeasure, Pairing
from childprotect_api.models.child import Child
from childprotect_api.models.report import Report
from childprotect_api.models.sync import SyncChange, Xid8
from childprotect_api.models.visit import Visit
from childprotect_api.schemas.activity import ActivityRead, SiteRead
from childprotect_api.schemas.agreement import AgreementRead
from childprotect_api.schemas.benefit import CategoryApplicationRead
from childprotect_api.schemas.care import AlertRead, PairingRead
from childprotect_api.schemas.child import ChildRead
from childprotect_api.schemas.child_json import child_read_json
from childprotect_api.schemas.sync import (
    ActivityUpsert,
    AgreementUpsert,
    AlertUpsert,
    CaseUpsert,
    CategoryApplicationUpsert,
    PairingUpsert,
    ReportUpsert,
    SiteUpsert,
    SyncTombstone,
    TombstoneReason,
)
from childprotect_api.schemas.visit import VisitRead
from childprotect_api.security.scope import Action, Scope, in_scope
from childprotect_api.services.agreements.expiry import china_today
from childprotect_api.services.care import cases as case_service
from childprotect_api.services.children import rules as child_rules
from childprotect_api.services.children.id_numbers import age_on
from childprotect_api.services.reports.access import report_access, to_filed

DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
# The longest a transaction writing children, visits, agreements or reports may run (API
# requests are one short transaction each; the jobs work in batches). Only the cursor's
# expiry depends on it, with a whole day of margin against `sync_log_days`.
LONGEST_TRANSACTION = timedelta(hours=12)

# New types go at the end: a cursor's `kind` indexes this tuple (a site comes before the
# activities held at it).
ENTITIES = (
    "child",
    "agreement",
    "visit",
    "report",
    "pairing",
    "case",
    "alert",
    "site",
    "activity",
    "category_application",
)
# Read by the caller's own rows (the filer of a report, the recipient of an alert), not area.
_OWN = ("report", "alert")
# Area-scoped records that are not a child's: in scope or not, nothing else decides.
_CARE: dict[str, Any] = {
    "site": Site,
    "activity": Activity,
    "category_application": CategoryApplication,
}
_INITIAL, _CHANGES = "i", "c"


def _bad_cursor() -> Unprocessable:
    return Unprocessable.field("cursor", "is not a valid cursor", code="invalid_cursor")


def expired(detail: str) -> Gone:
    return Gone(
        f"{detail}: reload from scratch (call without a cursor)", code="sync_cursor_expired"
    )


# --- the cursor ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncCursor:
    """Where a phone is. `txid`/`seq`: the change-log position (for the initial phase, the
    position the incremental phase will start from, with `seq` 0). `kind`/`after`: the
    initial phase's keyset (entity index, last sort key). `floor`: the lower bound of
    `changed_at` of every log row not served yet (module docstring)."""

    phase: str
    user_id: uuid.UUID
    role: str
    area: str
    txid: int
    seq: int
    floor: datetime
    kind: int = 0
    after: tuple[str, ...] | None = None

    def encode(self) -> str:
        values = [
            self.phase,
            str(self.user_id),
            self.role,
            self.area,
            str(self.txid),
            self.seq,
            self.floor.isoformat(),
            self.kind,
            list(self.after) if self.after is not None else None,
        ]
        raw = json.dumps(values, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> SyncCursor:
        """Anything malformed is 422 `invalid_cursor`, as for every list cursor."""
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        except (binascii.Error, ValueError, UnicodeDecodeError) as e:
            raise _bad_cursor() from e
        if not isinstance(values, list) or len(values) != 9:
            raise _bad_cursor()
        phase, user, role, area, txid, seq, floor, kind, after = values
        if (
            phase not in (_INITIAL, _CHANGES)
            or not all(isinstance(v, str) for v in (user, role, area, txid, floor))
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in (seq, kind))
            or not (txid.isascii() and txid.isdigit())
            or len(str(txid)) > 19
            or seq < 0
            or not 0 <= kind <= len(ENTITIES)
            or not (after is None or _after_fits(kind, after))
        ):
            raise _bad_cursor()
        try:
            parsed_after = None
            if after is not None:
                *key, last_id = after
                parsed_after = (*(datetime.fromisoformat(str(k)).isoformat() for k in key),)
                parsed_after = (*parsed_after, str(uuid.UUID(str(last_id))))
            floor_at = datetime.fromisoformat(floor)
            if floor_at.tzinfo is None:
                raise ValueError("naive")
            return cls(
                phase, uuid.UUID(user), role, area, int(txid), seq, floor_at, kind, parsed_after
            )
        except (ValueError, TypeError) as e:
            raise _bad_cursor() from e


def _after_fits(kind: int, after: object) -> bool:
    """The initial phase's keyset: (visited_at, id) for visits, (id) for the others."""
    size = 2 if kind < len(ENTITIES) and ENTITIES[kind] == "visit" else 1
    return isinstance(after, list) and len(after) == size and kind < len(ENTITIES)


def check_cursor(scope: Scope, cursor: SyncCursor, now: datetime, log_days: int) -> None:
    if (
        cursor.user_id != scope.actor_id
        or cursor.role != scope.role
        or cursor.area != scope.area_code
    ):
        raise expired("this cursor was made for another user or scope")
    if cursor.floor < now - timedelta(days=log_days):
        raise expired("this cursor is older than the kept change log")


# --- what the app keeps, and the records' shapes -------------------------------------------


def _closed_cutoff(now: datetime, keep_closed_days: int) -> datetime:
    return now - timedelta(days=keep_closed_days)


def _child_kept(closed_cutoff: datetime) -> ColumnElement[bool]:
    """A child the phone keeps: not anonymised, and not closed before the cut-off."""
    return and_(
        col(Child.anonymised_at).is_(None),
        or_(
            col(Child.status) != "closed",
            col(Child.closed_at).is_(None),
            col(Child.closed_at) >= closed_cutoff,
        ),
    )


def _gone_reason(
    anonymised_at: datetime | None,
    status: str,
    closed_at: datetime | None,
    closed_cutoff: datetime,
) -> TombstoneReason | None:
    """Why a child (or a record of a child) is no longer kept on phones; None: it is."""
    if anonymised_at is not None:
        return TombstoneReason.anonymised
    if status == "closed" and closed_at is not None and closed_at < closed_cutoff:
        return TombstoneReason.closed
    return None


_CHILD_COLUMNS = tuple(name for name in ChildRead.model_fields if name not in ("age", "id_number"))


def child_item(child: Child, today: date) -> str:
    """A child's upsert item (ChildUpsert's JSON by alias), its data as GET /children/{id}
    answers it, the ID number masked: written from the record's values by
    schemas/child_json.py (byte for byte the model's: tests/children/test_child_json.py), not
    validated again by ChildUpsert and ChildRead."""
    data = {name: getattr(child, name) for name in _CHILD_COLUMNS}
    data["age"] = age_on(child.birth_date, today)
    data["id_number"] = child.id_number_masked
    version = "null" if child.version is None else str(int(child.version))
    return (
        f'{{"id":"{child.id}","op":"upsert","version":{version},"kind":"child",'
        f'"type":"child","data":{child_read_json(data).decode()}}}'
    )


@dataclass
class _Shaper:
    """Renders the items of a page (each a JSON object, as text) and remembers what personal
    data it served (audit). Dumped by alias, as FastAPI answers the GET endpoints (a child's
    `subsidies[].from`): tests/sync/test_feed_equals_get.py compares every type."""

    scope: Scope
    today: date
    china_today: date
    children: list[tuple[uuid.UUID, str]]
    agreements: list[tuple[uuid.UUID, str]]
    visits: int = 0
    pairings: list[tuple[uuid.UUID, str]] = dataclasses.field(default_factory=list)
    cases: list[tuple[uuid.UUID, str]] = dataclasses.field(default_factory=list)

    def child(self, c: Child) -> str:
        self.children.append((c.id, c.area_code))
        return child_item(c, self.today)

    def agreement(self, a: Agreement) -> str:
        self.agreements.append((a.id, a.area_code))
        data = AgreementRead.from_row(a, self.china_today)
        return AgreementUpsert(id=a.id, version=a.version, data=data).model_dump_json(by_alias=True)

    def visit(self, row: Any) -> str:
        """A row of `visit_upsert_json()`: rendered by PostgreSQL already."""
        self.visits += 1
        text_: str = row.item
        return text_

    def report(self, r: Report) -> str:
        return ReportUpsert(id=r.id, version=r.version, data=to_filed(r)).model_dump_json(
            by_alias=True
        )

    def pairing(self, p: Pairing) -> str:
        self.pairings.append((p.id, p.area_code))
        data = PairingRead.model_validate(p)
        return PairingUpsert(id=p.id, version=p.version, data=data).model_dump_json()

    def case(self, row: tuple[Case, list[CaseMeasure]]) -> str:
        c, measures = row
        self.cases.append((c.id, c.area_code))
        data = case_service.to_read(c, measures)
        return CaseUpsert(id=c.id, version=c.version, data=data).model_dump_json()

    def alert(self, a: Alert) -> str:
        data = AlertRead.model_validate(a)
        return AlertUpsert(id=a.id, version=a.version, data=data).model_dump_json()

    def site(self, s: Site) -> str:
        data = SiteRead.model_validate(s)
        return SiteUpsert(id=s.id, version=s.version, data=data).model_dump_json()

    def activity(self, a: Activity) -> str:
        data = ActivityRead.model_validate(a)
        return ActivityUpsert(id=a.id, version=a.version, data=data).model_dump_json()

    def category_application(self, a: CategoryApplication) -> str:
        data = CategoryApplicationRead.model_validate(a)
        return CategoryApplicationUpsert(id=a.id, version=a.version, data=data).model_dump_json()

    async def audit(self, session: AsyncSession) -> None:
        """Each child and agreement served is recorded (as the lists do); visits as one
        `sync` row per page (as the visit list does). The caller's own reports carry no
        one else's personal data."""
        await audit.record_many(session, self.scope, "sync", "child", self.children)
        await audit.record_many(session, self.scope, "sync", "agreement", self.agreements)
        await audit.record_many(session, self.scope, "sync", "pairing", self.pairings)
        await audit.record_many(session, self.scope, "sync", "case", self.cases)
        if self.visits:
            await audit.record(session, self.scope, "sync", "visit", None, self.scope.area_code)


# Visits are nine in ten records of a load (two years of them), so their items are rendered
# by PostgreSQL: the fields of VisitRead (read from the schema, so they follow it), each as
# pydantic writes it — timestamps in UTC with "Z" and microseconds unless zero, UUIDs,
# dates and the JSONB columns as they are (stored from the same schema's dump). The one
# difference is the text of a whole float ("12" rather than "12.0"): the same JSON number.
# tests/sync/test_sync_feed.py checks the items against GET /visits/{id}. Rendering them through
# pydantic cost ~90 µs a visit here, most of an initial load.
_visits = Visit.__table__  # type: ignore[attr-defined]
_TIME = '\'YYYY-MM-DD"T"HH24:MI:SS"Z"\''
_TIME_US = '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\''


def _pydantic_time(c: Any) -> Any:
    whole = func.date_trunc("second", c) == c
    return func.to_char(
        func.timezone("UTC", c),
        case((whole, literal_column(_TIME)), else_=literal_column(_TIME_US)),
    )


def _is_datetime(annotation: Any) -> bool:
    return annotation is datetime or datetime in get_args(annotation)


def _key(name: str) -> Any:
    return literal_column(f"'{name}'")


def visit_upsert_json() -> Any:
    """A visit's upsert item (SyncItem `VisitUpsert`) as JSON text."""
    data: list[Any] = []
    for name, field in VisitRead.model_fields.items():
        c = _visits.c[name]
        data += [_key(name), _pydantic_time(c) if _is_datetime(field.annotation) else c]
    item = func.json_build_object(
        _key("kind"),
        _key("visit"),
        _key("type"),
        _key("visit"),
        _key("id"),
        _visits.c.id,
        _key("op"),
        _key("upsert"),
        _key("version"),
        _visits.c.version,
        _key("data"),
        func.json_build_object(*data),
    )
    return cast(item, Text).label("item")


def _shaper(scope: Scope) -> _Shaper:
    return _Shaper(scope, child_rules.today(), china_today(), [], [])


# --- the initial load ----------------------------------------------------------------------

# The horizon of this statement's snapshot. Transaction ids are cluster-wide, so the plain
# `pg_snapshot_xmin` would also wait for transactions of OTHER databases on the same server
# (another application's long batch, a CREATE DATABASE...), which never write this log. The
# in-progress ids of the snapshot are therefore taken one by one, leaving out only those
# proven to belong to a backend of another database (pg_stat_activity; a backend stays in
# its database for life). Whatever cannot be proven stays in (conservative: it may delay
# the feed, never make it skip): a transaction that ended since the snapshot, a prepared
# transaction, a replica's view of the primary's transactions. With none left, the horizon
# is the snapshot's xmax (every id below it has ended).
HORIZON_SQL = """
    SELECT coalesce(
        (SELECT min(x) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
         WHERE (x::text::bigint % 4294967296) NOT IN (
             SELECT a.backend_xid::text::bigint FROM pg_stat_activity a
             WHERE a.backend_xid IS NOT NULL
               AND a.datname IS DISTINCT FROM current_database())),
        pg_snapshot_xmax(pg_current_snapshot())
    ) AS xmin, now() AS at
"""
_HORIZON = text(f"SELECT h.xmin::text, h.at FROM ({HORIZON_SQL}) h")


async def _initial_rows(
    session: AsyncSession,
    scope: Scope,
    kind: int,
    after: tuple[str, ...] | None,
    limit: int,
    closed_cutoff: datetime,
) -> list[Any]:
    """Up to `limit` records of one entity type after the keyset position `after`."""
    entity = ENTITIES[kind]
    kept = _child_kept(closed_cutoff)
    if entity == "child":
        stmt: Any = select(Child).where(
            in_scope(scope, col(Child.area_code), col(Child.county_code)), kept
        )
        key: Any = col(Child.id)
        order: list[Any] = [col(Child.id)]
    elif entity == "agreement":
        stmt = (
            select(Agreement)
            .join(Child, col(Child.id) == col(Agreement.child_id))
            .where(in_scope(scope, col(Agreement.area_code), col(Agreement.county_code)), kept)
        )
        key, order = col(Agreement.id), [col(Agreement.id)]
    elif entity == "visit":
        # (visited_at, id) follows the visits' scope index (county, area, visited_at, id).
        stmt = (
            select(visit_upsert_json(), col(Visit.visited_at), col(Visit.id))
            .join(Child, col(Child.id) == col(Visit.child_id))
            .where(
                in_scope(scope, col(Visit.area_code), col(Visit.county_code)),
                col(Visit.is_current),
                kept,
            )
        )
        key = tuple_(col(Visit.visited_at), col(Visit.id))
        order = [col(Visit.visited_at), col(Visit.id)]
    elif entity == "pairing":
        stmt = (
            select(Pairing)
            .join(Child, col(Child.id) == col(Pairing.child_id))
            .where(in_scope(scope, col(Pairing.area_code), col(Pairing.county_code)), kept)
        )
        key, order = col(Pairing.id), [col(Pairing.id)]
    elif entity == "case":
        stmt = (
            select(Case)
            .join(Child, col(Child.id) == col(Case.child_id))
            .where(in_scope(scope, col(Case.area_code), col(Case.county_code)), kept)
        )
        key, order = col(Case.id), [col(Case.id)]
    elif entity == "alert":
        stmt = select(Alert).where(col(Alert.recipient_id) == scope.actor_id)
        key, order = col(Alert.id), [col(Alert.id)]
    elif entity in _CARE:
        model: Any = _CARE[entity]
        stmt = select(model).where(in_scope(scope, model.area_code, model.county_code))
        key, order = model.id, [model.id]
    else:
        stmt = select(Report).where(report_access(scope).filed)
        key, order = col(Report.id), [col(Report.id)]
    if after is not None:
        if entity == "visit":
            stmt = stmt.where(
                key
                > tuple_(literal(datetime.fromisoformat(after[0])), literal(uuid.UUID(after[1])))
            )
        else:
            stmt = stmt.where(key > uuid.UUID(after[-1]))
    result = await session.execute(stmt.order_by(*order).limit(limit))
    if entity == "case":
        cases = list(result.scalars())
        measures = await case_service.measures_of(session, [c.id for c in cases])
        return [_CaseRow(c, measures[c.id]) for c in cases]
    return list(result.all() if entity == "visit" else result.scalars())


class _CaseRow(tuple[Case, list[CaseMeasure]]):
    """A case and its measures, with the case's id (the keyset key) at hand."""

    def __new__(cls, case: Case, measures: list[CaseMeasure]) -> _CaseRow:
        return super().__new__(cls, (case, measures))

    @property
    def id(self) -> uuid.UUID:
        case: Case = self[0]
        return case.id


def _initial_key(entity: str, row: Any) -> tuple[str, ...]:
    if entity == "visit":
        return (row.visited_at.isoformat(), str(row.id))
    return (str(row.id),)


def first_cursor(scope: Scope, xmin: str, at: datetime) -> SyncCursor:
    """The load's position from its first page's horizon (xmin as text, the time taken)."""
    return SyncCursor(
        _INITIAL, scope.actor_id, scope.role, scope.area_code, int(xmin), 0,
        at - 2 * LONGEST_TRANSACTION,
    )  # fmt: skip


async def initial_page(
    read_session: AsyncSession,
    scope: Scope,
    cursor: SyncCursor | None,
    limit: int,
    *,
    now: datetime,
    keep_closed_days: int,
) -> tuple[list[str], _Shaper, SyncCursor, bool]:
    if cursor is None:
        # Taken before any record is read: see the module docstring.
        xmin, at = (await read_session.execute(_HORIZON)).one()
        cursor = first_cursor(scope, xmin, at)
    shaper = _shaper(scope)
    closed_cutoff = _closed_cutoff(now, keep_closed_days)
    items: list[str] = []
    kind, after = cursor.kind, cursor.after
    while kind < len(ENTITIES) and len(items) < limit:
        room = limit - len(items)
        rows = await _initial_rows(read_session, scope, kind, after, room + 1, closed_cutoff)
        entity = ENTITIES[kind]
        make = getattr(shaper, entity)
        items.extend(make(r) for r in rows[:room])
        if len(rows) > room:
            after = _initial_key(entity, rows[room - 1])
            nxt = SyncCursor(
                _INITIAL,
                cursor.user_id,
                cursor.role,
                cursor.area,
                cursor.txid,
                0,
                cursor.floor,
                kind,
                after,
            )
            return items, shaper, nxt, True
        kind, after = kind + 1, None
    if kind < len(ENTITIES):  # the page filled up exactly at the end of a type
        nxt = SyncCursor(
            _INITIAL, cursor.user_id, cursor.role, cursor.area, cursor.txid, 0, cursor.floor, kind
        )
        return items, shaper, nxt, True
    # Loaded: from now on, the change log from the position recorded on the first page (what
    # changed during the load comes again). has_more: the phone asks once more to catch up.
    nxt = SyncCursor(
        _CHANGES, cursor.user_id, cursor.role, cursor.area, cursor.txid, 0, cursor.floor
    )
    return items, shaper, nxt, True


# --- the incremental phase -----------------------------------------------------------------

_log = SyncChange.__table__  # type: ignore[attr-defined]


def _changes_statement(scope: Scope, limit: int) -> Any:
    """One statement, so that the horizon and the rows come from one snapshot: the horizon
    (xmin and the time) left-joined with up to `limit + 1` log rows after the cursor and
    below the horizon, in (txid, seq) order. Area rows and the caller's report rows are two
    index range scans merged."""
    horizon = (
        text(HORIZON_SQL).columns(column("xmin", Xid8()), column("at", DateTime)).cte("horizon")
    )
    after = tuple_(_log.c.txid, _log.c.seq) > tuple_(
        cast(bindparam("after_txid", type_=String), Xid8()), bindparam("after_seq")
    )
    below = _log.c.txid < select(horizon.c.xmin).scalar_subquery()
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
        .where(
            in_scope(scope, _log.c.area_code, _log.c.county_code),
            _log.c.entity_type.not_in(_OWN),
            after,
            below,
        )
        .order_by(_log.c.txid, _log.c.seq)
        .limit(limit + 1)
    )
    filed = (
        select(*columns)
        .where(
            _log.c.filer_id == scope.actor_id,
            _log.c.entity_type.in_(_OWN),
            after,
            below,
        )
        .order_by(_log.c.txid, _log.c.seq)
        .limit(limit + 1)
    )
    rows = union_all(in_area, filed).subquery("rows")
    return (
        select(
            cast(horizon.c.xmin, Text).label("horizon"),
            horizon.c.at.label("horizon_at"),
            cast(rows.c.txid, Text).label("txid"),
            rows.c.seq,
            rows.c.entity_type,
            rows.c.entity_id,
            rows.c.op,
            rows.c.reason,
            rows.c.changed_at,
        )
        .select_from(horizon.outerjoin(rows, true()))
        .order_by(rows.c.txid, rows.c.seq)
        .limit(limit + 1)
    )


@dataclass
class _Entity:
    type: str
    id: uuid.UUID
    last: int  # position of its last row in the page
    reason: str | None = None  # the latest tombstone reason among its rows


def _dedupe(rows: Sequence[Any]) -> list[_Entity]:
    found: dict[tuple[str, uuid.UUID], _Entity] = {}
    for i, row in enumerate(rows):
        key = (row.entity_type, row.entity_id)
        entity = found.get(key)
        if entity is None:
            entity = found[key] = _Entity(row.entity_type, row.entity_id, i)
        entity.last = i
        if row.op == "T":
            entity.reason = row.reason
    return list(found.values())


async def _current(
    session: AsyncSession,
    scope: Scope,
    entities: list[_Entity],
    shaper: _Shaper,
    closed_cutoff: datetime,
) -> list[str]:
    """Each entity's current state for this caller: an upsert, or a tombstone."""
    ids: dict[str, list[uuid.UUID]] = {t: [] for t in ENTITIES}
    for e in entities:
        ids[e.type].append(e.id)
    upserts: dict[uuid.UUID, str] = {}
    gone: dict[uuid.UUID, TombstoneReason] = {}

    if ids["child"]:
        stmt = select(Child).where(
            col(Child.id).in_(ids["child"]),
            in_scope(scope, col(Child.area_code), col(Child.county_code)),
        )
        for c in (await session.execute(stmt)).scalars():
            reason = _gone_reason(c.anonymised_at, c.status, c.closed_at, closed_cutoff)
            if reason is None:
                upserts[c.id] = shaper.child(c)
            else:
                gone[c.id] = reason
    child_state = (col(Child.anonymised_at), col(Child.status), col(Child.closed_at))
    if ids["agreement"]:
        stmt_a = (
            select(Agreement, *child_state)
            .join(Child, col(Child.id) == col(Agreement.child_id))
            .where(
                col(Agreement.id).in_(ids["agreement"]),
                in_scope(scope, col(Agreement.area_code), col(Agreement.county_code)),
            )
        )
        for a, anonymised_at, status, closed_at in await session.execute(stmt_a):
            reason = _gone_reason(anonymised_at, status, closed_at, closed_cutoff)
            if reason is None:
                upserts[a.id] = shaper.agreement(a)
            else:
                gone[a.id] = reason
    if ids["visit"]:
        stmt_v = (
            select(visit_upsert_json(), col(Visit.id), col(Visit.is_current), *child_state)
            .join(Child, col(Child.id) == col(Visit.child_id))
            .where(
                col(Visit.id).in_(ids["visit"]),
                in_scope(scope, col(Visit.area_code), col(Visit.county_code)),
            )
        )
        for row in await session.execute(stmt_v):
            reason = _gone_reason(row.anonymised_at, row.status, row.closed_at, closed_cutoff)
            if reason is None and not row.is_current:
                reason = TombstoneReason.superseded
            if reason is None:
                upserts[row.id] = shaper.visit(row)
            else:
                gone[row.id] = reason
    if ids["report"]:
        stmt_r = select(Report).where(col(Report.id).in_(ids["report"]), report_access(scope).filed)
        for r in (await session.execute(stmt_r)).scalars():
            upserts[r.id] = shaper.report(r)
    for entity, model in _CARE.items():
        if ids[entity]:
            stmt_c: Any = select(model).where(
                model.id.in_(ids[entity]), in_scope(scope, model.area_code, model.county_code)
            )
            make = getattr(shaper, entity)
            for row in (await session.execute(stmt_c)).scalars():
                upserts[row.id] = make(row)

    if ids["pairing"]:
        stmt_p = (
            select(Pairing, *child_state)
            .join(Child, col(Child.id) == col(Pairing.child_id))
            .where(
                col(Pairing.id).in_(ids["pairing"]),
                in_scope(scope, col(Pairing.area_code), col(Pairing.county_code)),
            )
        )
        for p, anonymised_at, status, closed_at in await session.execute(stmt_p):
            reason = _gone_reason(anonymised_at, status, closed_at, closed_cutoff)
            if reason is None:
                upserts[p.id] = shaper.pairing(p)
            else:
                gone[p.id] = reason
    if ids["case"]:
        stmt_c = (
            select(Case, *child_state)
            .join(Child, col(Child.id) == col(Case.child_id))
            .where(
                col(Case.id).in_(ids["case"]),
                in_scope(scope, col(Case.area_code), col(Case.county_code)),
            )
        )
        found = list(await session.execute(stmt_c))
        measures = await case_service.measures_of(session, [row[0].id for row in found])
        for case_, anonymised_at, status, closed_at in found:
            reason = _gone_reason(anonymised_at, status, closed_at, closed_cutoff)
            if reason is None:
                upserts[case_.id] = shaper.case(_CaseRow(case_, measures[case_.id]))
            else:
                gone[case_.id] = reason
    if ids["alert"]:
        stmt_al = select(Alert).where(
            col(Alert.id).in_(ids["alert"]), col(Alert.recipient_id) == scope.actor_id
        )
        for al in (await session.execute(stmt_al)).scalars():
            upserts[al.id] = shaper.alert(al)

    return ordered_items(entities, upserts, gone)


def ordered_items(
    entities: list[_Entity], upserts: dict[uuid.UUID, str], gone: dict[uuid.UUID, TombstoneReason]
) -> list[str]:
    """The page's items: upserts first, parents before children (child, agreement, visit,
    report), each in log order; then tombstones, children last, so a phone applying a page
    in order never holds a visit whose child it lacks."""
    rank = {t: i for i, t in enumerate(ENTITIES)}
    ordered = sorted(entities, key=lambda e: (rank[e.type], e.last))
    items: list[str] = [upserts[e.id] for e in ordered if e.id in upserts]
    for e in sorted(entities, key=lambda e: (-rank[e.type], e.last)):
        if e.id in upserts:
            continue
        reason = gone.get(e.id)
        if reason is None:
            # Not in scope any more (or never: a row of an area it left). Reports are the
            # filer's whatever their area, so only the area-scoped records get here.
            reason = TombstoneReason(e.reason or TombstoneReason.transferred)
        tombstone = SyncTombstone.model_validate({"type": e.type, "id": e.id, "reason": reason})
        items.append(tombstone.model_dump_json(by_alias=True))
    return items


def next_cursor(
    cursor: SyncCursor, page: Sequence[Any], has_more: bool, horizon: str, horizon_at: datetime
) -> SyncCursor:
    """The changes phase's next cursor after `page` (rows with txid as text, seq, changed_at)."""
    if has_more:
        last = page[-1]
        return SyncCursor(
            _CHANGES,
            cursor.user_id,
            cursor.role,
            cursor.area,
            int(last["txid"]),
            last["seq"],
            max(cursor.floor, last["changed_at"] - LONGEST_TRANSACTION),
        )
    position = max((cursor.txid, cursor.seq), (int(horizon), 0))
    return SyncCursor(
        _CHANGES,
        cursor.user_id,
        cursor.role,
        cursor.area,
        position[0],
        position[1],
        max(cursor.floor, horizon_at - 2 * LONGEST_TRANSACTION),
    )


def page_json(items: list[str], nxt: SyncCursor, has_more: bool) -> str:
    """The page as SyncChangesPage writes it, from items rendered one by one (the cursor is
    base64url: nothing to escape)."""
    return (
        '{"items":['
        + ",".join(items)
        + f'],"next_cursor":"{nxt.encode()}","has_more":{"true" if has_more else "false"}}}'
    )


async def changes_page(
    session: AsyncSession,
    scope: Scope,
    cursor: SyncCursor,
    limit: int,
    *,
    now: datetime,
    keep_closed_days: int,
) -> tuple[list[str], _Shaper, SyncCursor, bool]:
    result = await session.execute(
        _changes_statement(scope, limit),
        {"after_txid": str(cursor.txid), "after_seq": cursor.seq},
    )
    everything = result.all()
    # The horizon comes on every row (the left join answers one row when the log has none).
    horizon_row = everything[0]
    rows = [r for r in everything if r.seq is not None]
    has_more = len(rows) > limit
    page = rows[:limit]
    shaper = _shaper(scope)
    items = await _current(
        session, scope, _dedupe(page), shaper, _closed_cutoff(now, keep_closed_days)
    )
    nxt = next_cursor(
        cursor, [r._mapping for r in page], has_more, horizon_row.horizon, horizon_row.horizon_at
    )
    return items, shaper, nxt, has_more


# --- the endpoint's service ----------------------------------------------------------------


async def list_changes(
    session: AsyncSession,
    read_session: AsyncSession,
    scope: Scope,
    cursor: str | None,
    limit: int,
    *,
    log_days: int,
    keep_closed_days: int,
) -> str:
    """The page (a SyncChangesPage) as JSON."""
    scope.require(Action.sync)
    now = utcnow()
    parsed = SyncCursor.decode(cursor) if cursor else None
    if parsed is not None:
        check_cursor(scope, parsed, now, log_days)
    if parsed is None or parsed.phase == _INITIAL:
        items, shaper, nxt, has_more = await initial_page(
            read_session, scope, parsed, limit, now=now, keep_closed_days=keep_closed_days
        )
    else:
        items, shaper, nxt, has_more = await changes_page(
            session, scope, parsed, limit, now=now, keep_closed_days=keep_closed_days
        )
    await shaper.audit(session)
    return page_json(items, nxt, has_more)


# --- the jobs ------------------------------------------------------------------------------

_CLOSED_TOMBSTONES = text(
    """
    WITH due AS (
        SELECT c.id, c.county_code, c.area_code, c.version
        FROM children c
        -- A lateral probe per child (LIMIT 1), not NOT EXISTS: the planner then always looks
        -- the child up in the log's (entity_type, entity_id) index, whatever its statistics
        -- say; with stale ones (a log analysed while nearly empty) an anti join compared
        -- every closed child with every tombstone (seconds per pass, growing with the log).
        LEFT JOIN LATERAL (
            SELECT 1 AS found FROM sync_changes s
            WHERE s.entity_type = 'child' AND s.entity_id = c.id
              AND s.op = 'T' AND s.reason = 'closed' AND s.changed_at >= c.closed_at
            LIMIT 1) t ON true
        WHERE c.status = 'closed' AND c.anonymised_at IS NULL
          AND c.closed_at < :cutoff AND c.closed_at >= :oldest
          AND t.found IS NULL
        ORDER BY c.closed_at
        LIMIT :batch
        FOR UPDATE OF c SKIP LOCKED
    ), records AS (
        SELECT 'child' AS entity_type, id, county_code, area_code, version FROM due
        UNION ALL
        SELECT 'agreement', a.id, a.county_code, a.area_code, a.version
        FROM agreements a JOIN due ON a.child_id = due.id
        UNION ALL
        SELECT 'visit', v.id, v.county_code, v.area_code, v.version
        FROM visits v JOIN due ON v.child_id = due.id
        WHERE v.is_current
    )
    INSERT INTO sync_changes (county_code, area_code, entity_type, entity_id, op, reason, version)
    SELECT county_code, area_code, entity_type, id, 'T', 'closed', version FROM records
    RETURNING entity_type
    """
)


async def write_closed_tombstones(
    session: AsyncSession,
    now: datetime,
    keep_closed_days: int,
    log_days: int,
    *,
    batch: int = 500,
) -> int:
    """Children closed longer than `keep_closed_days` leave the phones: one 'T' row (reason
    'closed') for the child and for each of its agreements and current visits. Idempotent
    (a child gets it once per closing: the tombstone is newer than `closed_at`); children
    closed before `keep_closed_days + log_days` are left alone, as their tombstones have been
    pruned with every cursor that could still need them. Answers how many children."""
    cutoff = _closed_cutoff(now, keep_closed_days)
    params = {"cutoff": cutoff, "oldest": cutoff - timedelta(days=log_days), "batch": batch}
    kinds = list((await session.execute(_CLOSED_TOMBSTONES, params)).scalars())
    return sum(1 for k in kinds if k == "child")


async def prune_log(session: AsyncSession, now: datetime, log_days: int) -> int:
    """Delete change-log rows older than `log_days` (cursors that still need them answer 410:
    see `check_cursor`)."""
    stmt = delete(SyncChange).where(col(SyncChange.changed_at) < now - timedelta(days=log_days))
    result: Any = await session.execute(stmt)
    return int(result.rowcount or 0)
