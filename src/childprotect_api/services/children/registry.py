"""The children registry (一人一档): create (idempotent by client id), read, update, close
and reopen, and the daily close of the records of children who turned 18. (Listing is in
child_list, risk in child_risk, transfer in child_transfer, the rules in child_rules.)

Decisions recorded here:
- Turning 18 is handled by a daily job (`close_adults`, started from the app's lifespan by
  services/periodic.py; off with CHILDPROTECT_JOBS_ENABLED=false), not on read: a read
  must not write, lists and worklists would otherwise show adults until someone opened each
  record, and one indexed UPDATE a day (partial index on active birth dates) is cheap at any
  scale. Several API processes may run it; an advisory lock makes one of them do the work.
- Audit: every read of a record is recorded per child: `child.read` for GET (or
  `child.reveal_id_number` when a county officer asks for the ID number whole), and for a
  list page one `child.list` row per child served (one multi-row INSERT), so the log answers
  "who saw this child" and is scoped by each child's area. Writes record their own action.
- Closed records cannot be edited (reopen first); a closed child has no visit due."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Select,
    String,
    bindparam,
    literal,
    null,
    select,
    text,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.config import get_settings
from childprotect_api.core import audit, client_ids
from childprotect_api.core.changes import unchanged
from childprotect_api.core.concurrency import check_version
from childprotect_api.core.db import Database
from childprotect_api.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from childprotect_api.core.rawsql import Raw
from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.base import utcnow
from childprotect_api.models.benefit import BENEFIT_CATEGORIES
from childprotect_api.models.care import HelperKind, Pairing
from childprotect_api.models.child import (
    Child,
    ChildEvent,
    ChildEventKind,
    ChildRiskChange,
    ChildStatus,
    ClosedReason,
)
from childprotect_api.models.user import Role
from childprotect_api.schemas.child import ChildClose, ChildCreate, ChildReopen, ChildUpdate
from childprotect_api.security.scope import (
    SESSION_COLUMNS,
    SESSION_HELD,
    Action,
    Scope,
    ScopeFilter,
    apply_scope,
    checked_scope,
    in_scope,
    scope_filter,
    session_frame,
    session_params,
)
from childprotect_api.services.benefits import applications as category_applications
from childprotect_api.services.children import id_numbers, rules
from childprotect_api.services.children.schedule import refresh_due
from childprotect_api.services.duties import duties

RESOURCE = "child"
# Advisory lock key for the daily close, so that one API process does it.
_CLOSE_ADULTS_LOCK = 0x63_68_69_6C_64_31_38  # "child18"


def _scoped(scope: Scope, child_id: uuid.UUID) -> Select[Child]:
    stmt = select(Child).where(col(Child.id) == child_id)
    return apply_scope(stmt, scope, col(Child.area_code), col(Child.county_code))


async def get_child(session: AsyncSession, scope: Scope, child_id: uuid.UUID) -> Child:
    """A child in the caller's scope; 404 for one outside it, exactly as for a missing one."""
    scope.require(Action.children_read)
    child = (await session.execute(_scoped(scope, child_id))).scalar_one_or_none()
    if child is None:
        raise NotFound("no such child")
    return child


async def load_for_write(
    session: AsyncSession, scope: Scope, child_id: uuid.UUID, action: Action = Action.children_write
) -> Child:
    """The child, locked until the request's transaction ends, so that the version check and
    the change that follows are atomic."""
    scope.require(action)
    stmt = _scoped(scope, child_id).with_for_update().execution_options(populate_existing=True)
    child = (await session.execute(stmt)).scalar_one_or_none()
    if child is None:
        raise NotFound("no such child")
    return child


# The record as GET /children/{id} reads it: one statement per shape of scope, compiled for
# the driver (rawsql; it runs on every opening of a child's page).
_children = Child.__table__  # type: ignore[attr-defined]
_BY_ID: dict[str, Raw] = {}


def _by_id(flt: ScopeFilter) -> Raw:
    stmt = _BY_ID.get(flt.shape)
    if stmt is None:
        built = select(_children).where(_children.c.id == bindparam("child_id"), flt.clause)
        stmt = _BY_ID[flt.shape] = Raw(built)
    return stmt


# The same read with its session check and audit row, one statement in autocommit (issue
# #23): the login session checked (security/scope.py: SESSION_CHECK_CTE), the child read in
# the token's scope only when the session holds, and the audit row inserted for the row read
# (a data-modifying CTE: the read and its audit row stand or fall together).
_AT_ONCE: dict[str, Raw] = {}


def _at_once(flt: ScopeFilter) -> Raw:
    stmt = _AT_ONCE.get(flt.shape)
    if stmt is None:
        child = (
            select(_children)
            .where(_children.c.id == bindparam("child_id"), flt.clause, SESSION_HELD)
            .cte("child")
        )
        audited = audit.insert_from(
            select(
                bindparam("user_id"),
                bindparam("claimed_role"),
                null(),
                literal("child.read", String),
                literal(RESOURCE, String),
                child.c.id,
                audit.county_of(child.c.area_code),
                child.c.area_code,
                bindparam("request_id", type_=String),
            ).select_from(child)
        ).cte("audited")
        built = (
            select(*SESSION_COLUMNS, *child.c)
            .select_from(session_frame().outerjoin(child, true()))
            .add_cte(audited)
        )
        stmt = _AT_ONCE[flt.shape] = Raw(built)
    return stmt


async def read_child_at_once(
    db: Database, request: Any, scope: Scope, child_id: uuid.UUID
) -> tuple[Scope, Any] | None:
    """GET /children/{id} for a user in one round trip: the scope (confirmed by the account's
    row) and the record; 401 without a live session, 404 outside the scope. None when the
    token's role may not read children or its role or area are no longer the account's:
    nothing was read, and the caller takes `read_child`'s path (scoped by the row)."""
    if not scope.can(Action.children_read):
        return None
    flt = scope_filter(scope, _children.c.area_code, _children.c.county_code)
    params = {
        **session_params(scope),
        **flt.params,
        "child_id": child_id,
        "request_id": scope.request_id,
    }
    rows = await _at_once(flt).fetch_alone(db, params)
    row = rows[0] if rows else None
    confirmed = checked_scope(request, scope, row)
    if confirmed is None:
        return None
    assert row is not None  # checked_scope answers 401 without one
    if row["id"] is None:
        raise NotFound("no such child")
    return confirmed, row


async def read_child(
    session: AsyncSession, scope: Scope, data_key: str, child_id: uuid.UUID, *, reveal: bool
) -> tuple[Any, str | None]:
    """The record (a row of every column, by name) and, for a county officer who asks, the
    ID number in clear. 404 for a child outside the caller's scope, as for a missing one."""
    scope.require(Action.children_read)
    flt = scope_filter(scope, _children.c.area_code, _children.c.county_code)
    child = await _by_id(flt).fetchrow(session, {**flt.params, "child_id": child_id})
    if child is None:
        raise NotFound("no such child")
    if not reveal:
        await audit.record(session, scope, "child.read", RESOURCE, child["id"], child["area_code"])
        return child, None
    if scope.is_client or scope.role != Role.county_officer:
        raise Forbidden("only county officers may see ID numbers whole", code="reveal_forbidden")
    encrypted = child["id_number_enc"]
    clear = id_numbers.reveal(data_key, encrypted) if encrypted else None
    await audit.record(
        session, scope, "child.reveal_id_number", RESOURCE, child["id"], child["area_code"]
    )
    return child, clear


# --- create -----------------------------------------------------------------------------


async def _existing_with_id(
    session: AsyncSession, scope: Scope, child_id: uuid.UUID, print_: str
) -> Child | None:
    """For a client-supplied id already used: the stored record when this is a retry of the
    same create by someone who can see it; a conflict otherwise; None when the id is free."""
    visible = in_scope(scope, col(Child.area_code), col(Child.county_code)).label("visible")
    row = (await session.execute(select(Child, visible).where(col(Child.id) == child_id))).first()
    if row is None:
        return None
    child, is_visible = row
    if is_visible and child.create_fingerprint == print_:
        return child
    raise client_ids.IdTaken()


async def _retry_of(
    session: AsyncSession, scope: Scope, child_id: uuid.UUID, print_: str
) -> Child | None:
    """The stored record when this create is a retry (audited as a read of it)."""
    existing = await _existing_with_id(session, scope, child_id, print_)
    if existing is not None:
        await audit.record(session, scope, "child.read", RESOURCE, existing.id, existing.area_code)
    return existing


def _new_child(
    scope: Scope,
    data: ChildCreate,
    protected: id_numbers.ProtectedIdNumber | None,
    print_: str,
    now: datetime,
    registered: datetime,
) -> Child:
    values = data.model_dump(
        mode="json",
        by_alias=True,
        exclude={
            "id",
            "id_number",
            "area_code",
            "gender",
            "birth_date",
            "categories",
            "registered_at",
        },
        exclude_none=True,
    )
    child = Child(
        id=data.id or uuid.uuid4(),
        county_code=data.area_code[:6],
        area_code=data.area_code,
        gender=data.gender.value,
        birth_date=data.birth_date,
        categories=[c.value for c in data.categories],
        risk_set_by=scope.user_id,
        risk_set_at=now,
        created_at=registered,
        updated_at=now,
        created_by=scope.user_id,
        updated_by=scope.user_id,
        create_fingerprint=print_,
        **values,
    )
    if protected is not None:
        child.id_number_enc = protected.encrypted
        child.id_number_hash = protected.hash
        child.id_number_masked = protected.masked
    return child


async def create_child(
    session: AsyncSession,
    scope: Scope,
    data_key: str,
    data: ChildCreate,
    *,
    offline_days: int | None = None,
    count_elsewhere: bool = True,
) -> tuple[Child, bool]:
    """Register a child; answers (record, created). A retry of the same create answers the
    stored record with created=False (before the rules that depend on the time: a retry
    later than the offline window still meets its record).

    An ID number registered outside the caller's scope raises rules.DuplicateElsewhere,
    audited and rate-limited unless `count_elsewhere` is False (a dry-run import).

    `registered_at` (offline work) becomes the record's `created_at`, the registration time
    the visit rules and statistics use; the audit row keeps the server's time. It may be at
    most `offline_days` old (default: the sync_push_ledger_days setting)."""
    scope.require(Action.children_write)
    print_ = rules.fingerprint(data_key, data)
    if data.id is not None:
        existing = await _retry_of(session, scope, data.id, print_)
        if existing is not None:
            return existing, False
    rules.require_risk_allowed(scope, data.risk_level)
    await rules.village_in_scope(session, scope, data.area_code)
    today = rules.today()
    info = rules.parse_id_number(data.id_number) if data.id_number else None
    rules.check_identity(info, data.birth_date, data.gender)
    rules.check_age(data.birth_date, today)
    rules.check_categories(list(data.categories), data.birth_date, today)
    now = utcnow()
    registered = now
    if data.registered_at is not None:
        if offline_days is None:
            offline_days = get_settings().sync_push_ledger_days
        registered = rules.registration_time(data.registered_at, now, offline_days)
    if data.assigned_director_id is not None:
        await rules.check_assigned_director(session, data.assigned_director_id, data.area_code)
    protected = id_numbers.protect(data_key, info.normalized) if info else None
    if protected is not None:
        await rules.raise_if_duplicate(session, scope, protected.hash, counted=count_elsewhere)

    child = _new_child(scope, data, protected, print_, now, registered)
    try:
        async with session.begin_nested():
            session.add(child)
            await session.flush()
    except IntegrityError:
        # Lost a race with a concurrent insert of the same id or ID number: answer as if the
        # other had come first (it is committed now; the unique index waited for it).
        if data.id is not None:
            existing = await _retry_of(session, scope, data.id, print_)
            if existing is not None:
                return existing, False
        if protected is not None:
            await rules.raise_if_duplicate(session, scope, protected.hash, counted=count_elsewhere)
        raise Conflict("the record conflicts with another one", code="conflict") from None
    # Benefit categories are granted by a county decision: a county officer's registration
    # records the grant, anyone else's proposes an application instead (DESIGN.md).
    kept = await category_applications.on_registration(session, scope, child, child.categories)
    if kept != child.categories:
        child.categories = kept
    await refresh_due(session, child)
    session.add(
        ChildRiskChange(
            child_id=child.id,
            county_code=child.county_code,
            area_code=child.area_code,
            old_level=None,
            new_level=child.risk_level,
            reason=data.risk_reason or "registered",
            set_by=scope.user_id,
        )
    )
    await _helper_as_pairing(session, scope, child)
    await duties.on_risk_change(session, child, "", child.risk_level)
    await audit.record(session, scope, "child.create", RESOURCE, child.id, child.area_code)
    return child, True


async def _helper_as_pairing(session: AsyncSession, scope: Scope, child: Child) -> bool:
    """The single helper of older phones and imports (`pairing_helper_name`/`_phone`) is a
    pairing (DESIGN.md): a name with no active pairing of that helper starts one. True when
    one was started."""
    name = (child.pairing_helper_name or "").strip()
    if not name:
        return False
    if child.version > 1:  # a new child has no pairing yet: skip the look-up
        taken = await session.scalar(
            select(col(Pairing.id)).where(
                col(Pairing.child_id) == child.id,
                col(Pairing.status) == "active",
                col(Pairing.helper_name) == name,
            )
        )
        if taken is not None:
            return False
    session.add(
        Pairing(
            child_id=child.id,
            county_code=child.county_code,
            area_code=child.area_code,
            helper_name=name,
            helper_phone=child.pairing_helper_phone,
            helper_kind=HelperKind.other.value,
            starts_on=rules.today(),
            created_by=scope.user_id,
            updated_by=scope.user_id,
        )
    )
    return True


# --- update -----------------------------------------------------------------------------

_ELSEWHERE = {
    "area_code": ("use POST /children/{id}/transfer to move a child", "use_transfer"),
    "risk_level": ("use PUT /children/{id}/risk to change the risk level", "use_risk_endpoint"),
    "status": ("use POST /children/{id}/close or /reopen", "use_close_or_reopen"),
}
_REQUIRED = ("name", "gender", "birth_date")


def _refuse_fields(data: ChildUpdate) -> None:
    sent = data.model_fields_set
    for name, (message, code) in _ELSEWHERE.items():
        if name in sent:
            raise Unprocessable.field(name, message, code=code)
    for name in _REQUIRED:
        if name in sent and getattr(data, name) is None:
            raise Unprocessable.field(name, "may not be null", code="required")


def _refuse_benefit_change(before: list[str], after: list[str]) -> None:
    """The benefit categories change only by a decision: an application (认定) or a removal
    (减员); the others stay directly editable."""
    old, new = set(before) & BENEFIT_CATEGORIES, set(after) & BENEFIT_CATEGORIES
    if new - old:
        raise Unprocessable.field(
            "categories",
            f"{', '.join(sorted(new - old))}: a benefit category is granted by a county "
            "decision; file POST /children/{id}/category-applications",
            code="use_category_application",
        )
    if old - new:
        raise Unprocessable.field(
            "categories",
            f"{', '.join(sorted(old - new))}: a benefit category is removed by a county "
            "officer with a reason; use POST /children/{id}/category-removals",
            code="use_category_removal",
        )


async def _check_update(
    session: AsyncSession, scope: Scope, data_key: str, child: Child, data: ChildUpdate
) -> id_numbers.ProtectedIdNumber | None:
    """Validate the record as it will be; answer the new protected ID number if it changes."""
    sent = data.model_fields_set
    birth_date = data.birth_date if "birth_date" in sent and data.birth_date else child.birth_date
    gender = data.gender.value if "gender" in sent and data.gender else child.gender
    today = rules.today()
    protected = None
    if "id_number" in sent:
        info = rules.parse_id_number(data.id_number) if data.id_number else None
        protected = id_numbers.protect(data_key, info.normalized) if info else None
    elif child.id_number_enc and ({"birth_date", "gender"} & sent):
        info = rules.parse_id_number(id_numbers.reveal(data_key, child.id_number_enc))
    else:
        info = None
    if info is not None or "birth_date" in sent or "gender" in sent:
        rules.check_identity(info, birth_date, gender)
    if "birth_date" in sent:
        rules.check_age(birth_date, today)
    if "categories" in sent or "birth_date" in sent:
        categories = (
            [c.value for c in data.categories] if data.categories is not None else child.categories
        )
        if "categories" in sent and data.categories is None:
            raise Unprocessable.field("categories", "may not be null", code="required")
        rules.check_categories(categories, birth_date, today)
        _refuse_benefit_change(child.categories, categories)
    if "assigned_director_id" in sent and data.assigned_director_id is not None:
        await rules.check_assigned_director(session, data.assigned_director_id, child.area_code)
    if protected is not None and protected.hash != child.id_number_hash:
        await rules.raise_if_duplicate(session, scope, protected.hash, exclude=child.id)
    return protected


async def update_child(
    session: AsyncSession,
    scope: Scope,
    data_key: str,
    child_id: uuid.UUID,
    data: ChildUpdate,
    expected_version: int | None,
) -> Child:
    child = await load_for_write(session, scope, child_id)
    check_version(child.version, expected_version)
    _refuse_fields(data)
    if child.status != ChildStatus.active:
        raise Conflict("the record is closed; reopen it first", code="child_closed")
    protected = await _check_update(session, scope, data_key, child, data)
    sent = data.model_fields_set
    values = data.model_dump(mode="json", by_alias=True, include=sent - {"id_number", *_ELSEWHERE})
    for name, value in values.items():
        if name == "birth_date":
            value = date.fromisoformat(value)
        elif name == "subsidies" and value is None:
            value = []
        setattr(child, name, value)
    # The same number again encrypts differently (a fresh nonce): compare by its keyed hash.
    if "id_number" in sent and (protected.hash if protected else None) != child.id_number_hash:
        child.id_number_enc = protected.encrypted if protected else None
        child.id_number_hash = protected.hash if protected else None
        child.id_number_masked = protected.masked if protected else None
    if unchanged(session, child):
        return child  # equal values: the version, the ETag and the audit trail stay
    _touch(child, scope)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        if protected is not None:
            await rules.raise_if_duplicate(session, scope, protected.hash, exclude=child.id)
        raise Conflict("the record conflicts with another one", code="conflict") from None
    if "pairing_helper_name" in sent and await _helper_as_pairing(session, scope, child):
        await duties.recompute(session, child)
    await audit.record(session, scope, "child.update", RESOURCE, child.id, child.area_code)
    return child


def _touch(child: Child, scope: Scope) -> None:
    child.version += 1
    child.updated_at = utcnow()
    child.updated_by = scope.user_id


# --- close / reopen ---------------------------------------------------------------------


def _event(child: Child, kind: ChildEventKind, by: uuid.UUID | None, **kw: Any) -> ChildEvent:
    return ChildEvent(
        child_id=child.id,
        county_code=child.county_code,
        area_code=child.area_code,
        kind=kind.value,
        by=by,
        **kw,
    )


async def close_child(
    session: AsyncSession,
    scope: Scope,
    child_id: uuid.UUID,
    data: ChildClose,
    expected_version: int | None,
) -> Child:
    child = await load_for_write(session, scope, child_id)
    check_version(child.version, expected_version)
    if child.status == ChildStatus.closed:
        raise Conflict("the record is already closed", code="already_closed")
    child.status = ChildStatus.closed.value
    child.closed_reason = data.reason.value
    child.closed_at = utcnow()
    child.next_visit_due = None
    _touch(child, scope)
    session.add(
        _event(
            child,
            ChildEventKind.closed,
            scope.user_id,
            closed_reason=data.reason.value,
            reason=data.note,
        )
    )
    await session.flush()
    await duties.recompute(session, child)
    await audit.record(session, scope, "child.close", RESOURCE, child.id, child.area_code)
    return child


async def reopen_child(
    session: AsyncSession,
    scope: Scope,
    child_id: uuid.UUID,
    data: ChildReopen,
    expected_version: int | None,
) -> Child:
    child = await load_for_write(session, scope, child_id)
    check_version(child.version, expected_version)
    if child.status != ChildStatus.closed:
        raise Conflict("the record is not closed", code="not_closed")
    if id_numbers.age_on(child.birth_date, rules.today()) >= rules.ADULT_AGE:
        raise Conflict("the child is 18 or over; the record stays closed", code="child_is_adult")
    child.status = ChildStatus.active.value
    child.closed_reason = None
    child.closed_at = None
    _touch(child, scope)
    await refresh_due(session, child)
    session.add(_event(child, ChildEventKind.reopened, scope.user_id, reason=data.reason))
    await session.flush()
    await duties.recompute(session, child)
    await audit.record(session, scope, "child.reopen", RESOURCE, child.id, child.area_code)
    return child


async def close_adults(session: AsyncSession, today: date) -> int:
    """Close the records of active children who are 18 on `today` (reason turned_18), with a
    history row and an audit row (actor: the system) each. Answers how many were closed; 0
    when another process holds the job's lock. Flushes; the caller commits."""
    got = await session.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _CLOSE_ADULTS_LOCK}
    )
    if not got.scalar():
        return 0
    now = utcnow()
    result = await session.execute(
        update(Child)
        .where(
            col(Child.status) == ChildStatus.active.value,
            col(Child.birth_date) <= rules.years_before(today, rules.ADULT_AGE),
        )
        .values(
            status=ChildStatus.closed.value,
            closed_reason=ClosedReason.turned_18.value,
            closed_at=now,
            next_visit_due=None,
            version=col(Child.version) + 1,
            updated_at=now,
            updated_by=None,
        )
        .returning(col(Child.id), col(Child.county_code), col(Child.area_code))
        .execution_options(synchronize_session=False)
    )
    closed = result.all()
    for child_id, county, area in closed:
        session.add(
            ChildEvent(
                child_id=child_id,
                county_code=county,
                area_code=area,
                kind=ChildEventKind.closed.value,
                closed_reason=ClosedReason.turned_18.value,
                reason="turned 18 (automatic)",
            )
        )
        session.add(
            AuditEvent(
                actor_role="system",
                action="child.close",
                resource_type=RESOURCE,
                resource_id=child_id,
                county_code=county,
                area_code=area,
            )
        )
    await session.flush()
    return len(closed)
