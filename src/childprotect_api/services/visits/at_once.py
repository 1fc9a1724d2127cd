"""PUT /visits/{id} (the app's create, and its retry) for a user in ONE statement, in
autocommit (issue #23). A single statement is atomic: everything below is written together
or not at all, as the request's transaction did (services/visits/service.py `create_visit`).

- the login session checked (security/scope.py: SESSION_CHECK_CTE) and everything else gated
  on it;
- the idempotency check: the visit under this id, seen in any scope; in the caller's scope
  with the same content, it is the answer (a retry: 200, audited as a `read`, as `_replay`);
- the child in the token's scope (`scope_filter`), locked (FOR UPDATE: visits of one child
  are applied one at a time), only when the id is free;
- the visit row (only for an active child and a visit not before its registration). A retry
  that committed while this one waited for the child's lock makes the INSERT fail on the
  primary key: the statement is undone as a whole and the request takes service.py's path
  (which answers the stored visit, or 409). Not `ON CONFLICT DO NOTHING`: its speculative
  insertion costs every visit a WAL record and work for a race this rare;
- the child's last visit and due date (an older visit never moves them back), from the
  county's visit policy (DEFAULT_INTERVAL_DAYS without one), with its version; the change-log
  rows of the visit and the child are written by their triggers;
- the audit row (`create`) and the outbox event (`visit.created`).

Python then answers from the row: 201 with the new visit, 200 with the stored one, or the
same errors as service.py (404 `child_not_found`, 409 `id_taken` / `child_closed`, 422
`visited_before_registration`), in the same order. What it does not cover takes service.py's
path: integration clients, a role or area changed since the token, a visit in the future
(422 after the session check), an id that is not random (422), a lost race for the id."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from pydantic_core import to_json
from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from childprotect_api.core import audit, client_ids
from childprotect_api.core.db import Database
from childprotect_api.core.errors import Conflict, NotFound, Unprocessable
from childprotect_api.core.rawsql import Raw
from childprotect_api.models.base import CLOCK_SKEW, utcnow
from childprotect_api.models.child import Child, ChildStatus
from childprotect_api.models.outbox import OutboxEvent
from childprotect_api.models.visit import Visit, VisitStatus
from childprotect_api.models.visit_policy import DEFAULT_INTERVAL_DAYS, VisitPolicy
from childprotect_api.schemas.visit import VisitCreate, VisitRead
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
from childprotect_api.services.visits.service import content_hash

_visits = Visit.__table__  # type: ignore[attr-defined]
_children = Child.__table__  # type: ignore[attr-defined]
_policies = VisitPolicy.__table__  # type: ignore[attr-defined]
_outbox = OutboxEvent.__table__  # type: ignore[attr-defined]

# The visit's columns the phone's content fills (service.py `_content_fields`), and how.
_JSON = ("checklist", "follow_up_actions")
_CONTENT = (
    "visited_at",
    "kind",
    "latitude",
    "longitude",
    "accuracy_m",
    "checklist",
    "notes",
    "suggested_risk_level",
    "follow_up_actions",
)
_READ = tuple(VisitRead.model_fields)


def _param(name: str) -> Any:
    if name in _JSON:
        return bindparam(name, type_=JSONB)
    return bindparam(name, type_=_visits.c[name].type)


def _due(children: Any) -> Any:
    """The due date after a visit at :visited_at (schedule.py `compute_next_due`): the
    county's interval for the child's level, in whole hours."""
    days = case(
        *(
            (
                children.c.risk_level == level,
                func.coalesce(
                    select(_policies.c[f"{level}_days"])
                    .where(_policies.c.county_code == children.c.county_code)
                    .scalar_subquery(),
                    n,
                ),
            )
            for level, n in DEFAULT_INTERVAL_DAYS.items()
        ),
        else_=func.coalesce(
            select(_policies.c.blue_days)
            .where(_policies.c.county_code == children.c.county_code)
            .scalar_subquery(),
            DEFAULT_INTERVAL_DAYS["blue"],
        ),
    )
    visited_at = bindparam("visited_at", type_=DateTime(timezone=True))
    return visited_at + func.make_interval(0, 0, 0, 0, days * 24)


_STATEMENTS: dict[str, Raw] = {}


def _statement(scope: Scope) -> Raw:
    child_flt = scope_filter(scope, _children.c.area_code, _children.c.county_code)
    stmt = _STATEMENTS.get(child_flt.shape)
    if stmt is not None:
        return stmt
    visit_id = bindparam("visit_id", type_=_visits.c.id.type)
    user_id: Any = bindparam("user_id")
    visit_flt = scope_filter(scope, _visits.c.area_code, _visits.c.county_code)
    # The idempotency check: the id in any scope; `visible` when in the caller's.
    existing = (
        select(*_visits.c, cast(visit_flt.clause, Boolean).label("visible"))
        .where(_visits.c.id == visit_id, SESSION_HELD)
        .cte("existing")
    )
    free = ~exists(select(literal_column("1")).select_from(existing))
    # The child is looked up unless this is a retry (an id taken out of the scope answers
    # 404 for a child the caller cannot see, else 409, as service.py).
    no_retry = ~exists(select(literal_column("1")).select_from(existing).where(existing.c.visible))
    child = (
        select(
            _children.c.id,
            _children.c.county_code,
            _children.c.area_code,
            _children.c.status,
            _children.c.created_at,
        )
        .where(_children.c.id == bindparam("child_id"), child_flt.clause, SESSION_HELD, no_retry)
        .with_for_update()
        .cte("child")
    )
    visited_at = bindparam("visited_at", type_=DateTime(timezone=True))
    values = {
        "id": visit_id,
        "original_id": visit_id,
        "revision": literal(1, Integer),
        "is_current": true(),
        "child_id": child.c.id,
        "county_code": child.c.county_code,
        "area_code": child.c.area_code,
        "visitor_id": user_id,
        "content_hash": bindparam("content_hash", type_=String),
        "status": literal(VisitStatus.submitted.value, String),
        "version": literal(1, Integer),
        **{name: _param(name) for name in _CONTENT},
    }
    inserted = (
        pg_insert(_visits)
        .from_select(
            list(values),
            select(*values.values()).where(
                free,
                child.c.status == ChildStatus.active.value,
                or_(child.c.created_at.is_(None), visited_at >= child.c.created_at),
            ),
        )
        .returning(*_visits.c)
        .cte("inserted")
    )
    touched = (
        update(_children)
        .where(
            _children.c.id == inserted.c.child_id,
            or_(_children.c.last_visit_at.is_(None), _children.c.last_visit_at < visited_at),
        )
        .values(
            last_visit_at=visited_at,
            # What the visits' statistics trigger would set (migration 0024visited), here in
            # the child's own update: the trigger then finds it set and writes no second time.
            stats_visited_at=func.greatest(_children.c.stats_visited_at, visited_at),
            next_visit_due=_due(_children),
            version=_children.c.version + 1,
            updated_at=func.now(),
            updated_by=user_id,
        )
        .returning(_children.c.id)
        .cte("touched")
    )

    def audit_row(action: str, source: Any, where: Any) -> Any:
        return audit.insert_from(
            select(
                user_id,
                bindparam("claimed_role"),
                null(),
                literal(action, String),
                literal("visit", String),
                source.c.id,
                audit.county_of(source.c.area_code),
                source.c.area_code,
                bindparam("request_id", type_=String),
            )
            .select_from(source)
            .where(where)
        )

    replay = and_(existing.c.visible, existing.c.content_hash == bindparam("content_hash"))
    audited_read = audit_row("read", existing, replay).cte("audited_read")
    audited = audit_row("create", inserted, true()).cte("audited")
    emitted = (
        pg_insert(_outbox)
        .from_select(
            ["event_type", "county_code", "area_code", "resource_type", "resource_id", "payload"],
            select(
                literal("visit.created", String),
                audit.county_of(inserted.c.area_code),
                inserted.c.area_code,
                literal("visit", String),
                inserted.c.id,
                cast(
                    func.jsonb_build_object(
                        literal_column("'child_id'"), cast(inserted.c.child_id, Text)
                    ),
                    JSONB,
                ),
            ),
        )
        .cte("emitted")
    )
    built = (
        select(
            *SESSION_COLUMNS,
            existing.c.visible.label("e_visible"),
            existing.c.content_hash.label("e_content_hash"),
            *(existing.c[n].label("e_" + n) for n in _READ),
            child.c.id.label("ch_id"),
            child.c.status.label("ch_status"),
            child.c.created_at.label("ch_created_at"),
            *(inserted.c[n].label("i_" + n) for n in _READ),
        )
        .select_from(
            session_frame()
            .outerjoin(existing, true())
            .outerjoin(child, true())
            .outerjoin(inserted, true())
        )
        .add_cte(touched)
        .add_cte(audited_read)
        .add_cte(audited)
        .add_cte(emitted)
    )
    stmt = _STATEMENTS[child_flt.shape] = Raw(built)
    return stmt


def _read(row: Any, prefix: str) -> bytes:
    """VisitRead as JSON from the row (columns written from the same validated schema)."""
    data = {name: row[prefix + name] for name in _READ}
    return VisitRead.model_validate(data).model_dump_json().encode()


def covers(scope: Scope | None, visit_id: uuid.UUID, data: VisitCreate) -> bool:
    """Whether this path can answer (else service.py's, after get_scope's session check)."""
    return (
        scope is not None
        and scope.can(Action.visit_log)
        and client_ids.is_random(visit_id)
        and data.visited_at <= utcnow() + CLOCK_SKEW
    )


async def create_visit_at_once(
    db: Database, request: Any, scope: Scope, visit_id: uuid.UUID, data: VisitCreate
) -> tuple[int, int, bytes] | None:
    """(status, version, VisitRead JSON); None when service.py's path must answer."""
    flt = scope_filter(scope, _children.c.area_code, _children.c.county_code)
    params: dict[str, Any] = {
        **session_params(scope),
        **flt.params,
        "request_id": scope.request_id,
        "visit_id": visit_id,
        "child_id": data.child_id,
        "content_hash": content_hash(data),
        "visited_at": data.visited_at,
        "kind": data.kind.value,
        "latitude": data.latitude,
        "longitude": data.longitude,
        "accuracy_m": data.accuracy_m,
        "checklist": to_json(data.checklist.model_dump(mode="json")).decode(),
        "notes": data.notes,
        "suggested_risk_level": (
            data.suggested_risk_level.value if data.suggested_risk_level else None
        ),
        "follow_up_actions": to_json(
            [a.model_dump(mode="json") for a in data.follow_up_actions]
        ).decode(),
    }
    try:
        rows = await _statement(scope).fetch_alone(db, params)
    except asyncpg.UniqueViolationError:
        return None  # a retry committed while this one waited for the child: service.py
    row = rows[0] if rows else None
    if checked_scope(request, scope, row) is None:
        return None  # the role or area changed since the token: nothing was done
    assert row is not None
    if row["e_visible"] is not None:  # the id is taken
        if row["e_visible"] and row["e_content_hash"] == params["content_hash"]:
            return 200, row["e_version"], _read(row, "e_")  # a retry (audited as a read)
        if row["e_visible"]:
            raise client_ids.IdTaken()
    if row["ch_id"] is None:
        raise NotFound("no such child", code="child_not_found")
    if row["e_visible"] is not None:
        raise client_ids.IdTaken()  # taken outside the scope
    if row["ch_status"] != ChildStatus.active:
        raise Conflict("the child's record is closed", code="child_closed")
    if row["i_id"] is None:
        created = row["ch_created_at"]
        if created is not None and data.visited_at < created:
            raise Unprocessable.field(
                "visited_at",
                "is before the child was registered",
                code="visited_before_registration",
            )
        return None  # not expected (inserted, or the statement failed): service.py decides
    return 201, row["i_version"], _read(row, "i_")
