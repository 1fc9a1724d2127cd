"""The batch push of the phone app: operations made offline, each applied on its own and
answered on its own, through the same services (and so the same rules, permissions and
audit) as the single-record endpoints.

Decisions recorded here:
- One SAVEPOINT per operation: a rejected one (its problem+json in the answer) is rolled back
  alone and the others go on; the batch commits once, as every request does. Each operation
  that writes is a subtransaction: past 64 of them PostgreSQL's per-backend subtransaction
  cache overflows for the rest of the push (other sessions' visibility checks then consult
  pg_subtrans, which hot standbys feel most). A push lasts about a second and the batch is
  capped (`sync_push_max_operations`), which bounds it; do not raise the cap far.
- Idempotent when sent twice: creates carry the new record's client-generated id, so a retry
  meets the stored record and answers `unchanged` (the services already work that way);
  applied updates are remembered by the operation's `client_id` (table sync_push_ops, kept
  `sync_push_ledger_days`), so an update sent again answers `unchanged` instead of a conflict
  with itself. The same client_id with other content is rejected (422 `client_id_reused`).
- An update is never applied silently on a newer version. Agreement drafts: a stale
  `base_version` is a conflict. Children: the fields changed on the server since the base
  version are the union of `changed_fields` of the child's sync_changes rows with a higher
  version (the log the triggers write); when the offline edit touched none of them it is
  applied on the current version (`merged`), otherwise it is a conflict carrying the server's
  record and the fields both sides changed. When the log no longer covers every version since
  the base (pruned), nothing can be proven: a conflict.
- A conflict answers the server's record: audited as a read, as a GET would be.
- Faults end the whole request, never an item: a lost connection (errors.
  is_database_unavailable) answers 503 `database_unavailable` and commits nothing. Two phones
  pushing in one village take their rows in one order: every child the batch touches, then
  every agreement it edits, each table in one statement in id order, at the start. What can
  still cross with other requests (a single-record endpoint locking in another order) ends as
  a deadlock or serialization failure: the batch is rolled back to its start and run again,
  up to BATCH_ATTEMPTS times in all, then answers 503 `database_busy` with Retry-After."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from pydantic import ValidationError
from sqlalchemy import inspect, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.config import Settings
from childprotect_api.core import audit, client_ids, write_buffer
from childprotect_api.core.errors import (
    AppError,
    DatabaseBusy,
    FieldError,
    PayloadTooLarge,
    Unprocessable,
    is_contention,
    is_database_unavailable,
    log_unhandled,
)
from childprotect_api.core.locale import localize_body
from childprotect_api.models.agreement import Agreement
from childprotect_api.models.child import Child
from childprotect_api.models.idempotency import SyncPushOp
from childprotect_api.models.sync import SyncChange
from childprotect_api.models.visit import Visit
from childprotect_api.schemas.activity import ActivityCreate, ActivityRead
from childprotect_api.schemas.agreement import AgreementCreate, AgreementRead, AgreementUpdate
from childprotect_api.schemas.benefit import CategoryApplicationCreate, CategoryApplicationRead
from childprotect_api.schemas.care import (
    CaseCreate,
    ContactCreate,
    ContactRead,
    MeasureCreate,
    MeasureDone,
    PairingCreate,
    PairingRead,
)
from childprotect_api.schemas.child import ChildCreate, ChildRead, ChildUpdate
from childprotect_api.schemas.report import ReportCreate
from childprotect_api.schemas.sync_push import (
    ItemProblem,
    PushEntity,
    PushOp,
    PushOperation,
    PushRecord,
    PushResult,
    PushStatus,
    push_result,
)
from childprotect_api.schemas.visit import VisitCreate, VisitRead
from childprotect_api.security.crypto import lookup_hash
from childprotect_api.security.scope import Action, Scope, in_scope
from childprotect_api.services.activities import service as activities
from childprotect_api.services.agreements import service as agreements
from childprotect_api.services.agreements.expiry import china_today
from childprotect_api.services.benefits import applications as category_applications
from childprotect_api.services.care import cases as case_service
from childprotect_api.services.care import pairings
from childprotect_api.services.children import registry as children
from childprotect_api.services.children import rules as child_rules
from childprotect_api.services.children import schedule as visit_schedule
from childprotect_api.services.children.id_numbers import age_on
from childprotect_api.services.reports import intake as reports
from childprotect_api.services.reports.access import to_filed
from childprotect_api.services.visits import service as visits

ENTITY = {
    PushOp.create_child: PushEntity.child,
    PushOp.update_child: PushEntity.child,
    PushOp.create_visit: PushEntity.visit,
    PushOp.create_agreement: PushEntity.agreement,
    PushOp.update_agreement: PushEntity.agreement,
    PushOp.create_report: PushEntity.report,
    PushOp.create_pairing: PushEntity.pairing,
    PushOp.log_pairing_contact: PushEntity.pairing_contact,
    PushOp.create_case: PushEntity.case,
    PushOp.add_measure: PushEntity.case,
    PushOp.complete_measure: PushEntity.case,
    PushOp.create_activity: PushEntity.activity,
    PushOp.apply_category: PushEntity.category_application,
}
UPDATES = {PushOp.update_child, PushOp.update_agreement}
# Runs of a batch when concurrent transactions end one (a deadlock, a serialization failure).
BATCH_ATTEMPTS = 3

log = logging.getLogger(__name__)
# ChildUpdate fields stored under other column names (the change log names columns).
_CHILD_COLUMNS = {"id_number": ("id_number_enc", "id_number_hash", "id_number_masked")}


@dataclass
class Push:
    """One batch: the caller, the applied updates remembered from earlier pushes, and those
    applied now (written to the ledger at the end, in the batch's transaction)."""

    session: AsyncSession
    scope: Scope
    settings: Settings
    ledger: dict[uuid.UUID, SyncPushOp] = field(default_factory=dict)
    applied: list[dict[str, object]] = field(default_factory=list)
    # The children of the batch's visits, locked at its start (one query), and the batch's
    # visit ids that no visit had then.
    locked_children: dict[uuid.UUID, Child] = field(default_factory=dict)
    new_visits: set[uuid.UUID] = field(default_factory=set)


Handler = Callable[[Push, PushOperation], Awaitable[PushResult]]


async def push(
    session: AsyncSession, scope: Scope, settings: Settings, operations: Sequence[PushOperation]
) -> list[PushResult]:
    scope.require(Action.sync)
    limit = settings.sync_push_max_operations
    if len(operations) > limit:
        raise PayloadTooLarge(
            f"at most {limit} operations per push; send the rest in another",
            code="too_many_operations",
            extra={"max_operations": limit},
        )
    for attempt in range(1, BATCH_ATTEMPTS + 1):
        try:
            # The batch's own savepoint: a run that loses a race is undone to here.
            async with session.begin_nested():
                return await _push_once(session, scope, settings, operations)
        except Exception as e:
            if is_database_unavailable(e) or not is_contention(e):
                raise
            log.warning(
                "sync push met a concurrent transaction (%s), attempt %d of %d (request %s)",
                type(e).__name__,
                attempt,
                BATCH_ATTEMPTS,
                scope.request_id,
            )
    raise DatabaseBusy()


async def _push_once(
    session: AsyncSession, scope: Scope, settings: Settings, operations: Sequence[PushOperation]
) -> list[PushResult]:
    batch = Push(session, scope, settings)
    await _look_up(batch, operations)
    # Audit and outbox rows are written in one statement each at the end (see write_buffer);
    # visit intervals are read once per county.
    with visit_schedule.intervals_cached(session):
        results = await _apply_all(batch, operations)
    if batch.applied:
        # A concurrent push of the same operation cannot have applied it too (the record's
        # row lock and version see to that); DO NOTHING keeps the batch safe regardless.
        await session.execute(insert(SyncPushOp).on_conflict_do_nothing(), batch.applied)
    return results


async def _apply_all(batch: Push, operations: Sequence[PushOperation]) -> list[PushResult]:
    results: list[PushResult] = []
    seen: set[uuid.UUID] = set()
    async with write_buffer.buffering(batch.session) as buffer:
        for op in operations:
            if op.client_id in seen:
                error = Unprocessable.field(
                    "client_id", "appears twice in this push", code="duplicate_client_id"
                )
                results.append(_rejected(op, error, batch.scope.request_id))
                continue
            seen.add(op.client_id)
            mark = buffer.mark()
            result = await _apply(batch, op)
            if result.status == PushStatus.rejected:
                buffer.rollback_to(mark)  # its savepoint was rolled back
            results.append(result)
    return results


async def _look_up(batch: Push, operations: Sequence[PushOperation]) -> None:
    """What the batch needs to know up front, in one query each: the updates applied by earlier
    pushes (the ledger); every child it touches (its visits', its edits', its agreements'),
    then every agreement it edits, locked in id order (one statement per table) until the
    batch commits, so that two batches never take them crosswise; then which of its visit ids
    are not taken. A visit of a locked child whose id was free needs no lookup of its own
    (see create_visit)."""
    session, scope = batch.session, batch.scope
    updates = [op.client_id for op in operations if op.op in UPDATES]
    if updates:
        stmt = select(SyncPushOp).where(
            col(SyncPushOp.principal_id) == scope.actor_id,
            col(SyncPushOp.client_id).in_(updates),
        )
        batch.ledger = {row.client_id: row for row in (await session.execute(stmt)).scalars()}
    visit_ops = [op for op in operations if op.op == PushOp.create_visit and op.id]
    child_ids = {_uuid(op.data.get("child_id")) for op in visit_ops} | {
        _uuid(op.data.get("child_id")) for op in operations if op.op == PushOp.create_agreement
    }
    child_ids |= {op.id for op in operations if op.op == PushOp.update_child}
    child_ids -= {None}
    if child_ids:
        lock = (
            select(Child)
            .where(
                col(Child.id).in_(child_ids),
                in_scope(scope, col(Child.area_code), col(Child.county_code)),
            )
            .order_by(col(Child.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        batch.locked_children = {c.id: c for c in (await session.execute(lock)).scalars()}
    agreement_ids = {op.id for op in operations if op.op == PushOp.update_agreement and op.id}
    if agreement_ids:
        await session.execute(
            select(col(Agreement.id))
            .where(
                col(Agreement.id).in_(agreement_ids),
                in_scope(scope, col(Agreement.area_code), col(Agreement.county_code)),
            )
            .order_by(col(Agreement.id))
            .with_for_update()
        )
    visit_ids = {op.id for op in visit_ops if op.id}
    if visit_ids:
        taken = await session.execute(select(col(Visit.id)).where(col(Visit.id).in_(visit_ids)))
        batch.new_visits = visit_ids - set(taken.scalars())


def _uuid(value: object) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def _apply(batch: Push, op: PushOperation) -> PushResult:
    rid = batch.scope.request_id
    try:
        async with batch.session.begin_nested():
            return await HANDLERS[op.op](batch, op)
    except AppError as e:
        return _rejected(op, e, rid)
    except ValidationError as e:
        errors = [
            FieldError.of(
                ".".join(["data", *map(str, err["loc"])]), err["msg"], err["type"], err.get("ctx")
            )
            for err in e.errors()
        ]
        invalid = Unprocessable("the operation's data has invalid fields", errors=errors)
        return _rejected(op, invalid, rid)
    except Exception as e:  # one broken item must not sink the batch...
        if is_database_unavailable(e) or is_contention(e):
            # ...but a lost connection or a lost race is the whole batch's (see `push`).
            raise
        # The type and the frames only: messages can quote personal data.
        log_unhandled(e, "POST", f"/api/v1/sync/push ({op.op.value})", rid)
        problem = ItemProblem(
            title="Internal server error",
            status=500,
            code="internal_error",
            detail="this operation could not be applied; quote the request id",
            request_id=rid,
        )
        return push_result(
            ENTITY[op.op],
            client_id=op.client_id,
            status=PushStatus.rejected,
            id=op.id,
            version=None,
            problem=problem,
        )


def _rejected(op: PushOperation, error: AppError, rid: str | None) -> PushResult:
    problem = ItemProblem(
        title=error.title,
        status=error.status_code,
        detail=error.detail,
        code=error.code,
        errors=error.errors,
        request_id=rid,
        **error.extra,
    )
    # In the request's language, as the problem of a single request would be.
    problem = ItemProblem.model_validate(
        localize_body(problem.model_dump(), [e._ctx for e in error.errors])
    )
    return push_result(
        ENTITY[op.op],
        client_id=op.client_id,
        status=PushStatus.rejected,
        id=op.id,
        version=None,
        problem=problem,
    )


def _result(
    op: PushOperation, status: PushStatus, record: PushRecord, version: int, **kw: list[str]
) -> PushResult:
    return push_result(
        ENTITY[op.op],
        client_id=op.client_id,
        status=status,
        id=record.id,
        version=version,
        record=record,
        **kw,
    )


# --- operation checks ---------------------------------------------------------------------


def _target(op: PushOperation) -> uuid.UUID:
    if op.id is None:
        what = "the new record's client-generated id" if op.op not in UPDATES else "the record"
        raise Unprocessable.field("id", f"is required: {what}", code="id_required")
    if op.op not in UPDATES and op.op != PushOp.complete_measure:
        client_ids.check(op.id)  # a new record's id: random (core/client_ids.py)
    return op.id


def _base_version(op: PushOperation) -> int:
    if op.base_version is None:
        raise Unprocessable.field(
            "base_version", "is required for an update", code="base_version_required"
        )
    return op.base_version


def _with_id(op: PushOperation, data: dict[str, object]) -> dict[str, object]:
    """A create's data with the operation's id (the same one when the data names it too)."""
    target = _target(op)
    given = data.get("id")
    if given is not None and str(given) != str(target):
        raise Unprocessable.field("data.id", "differs from the operation's id", code="id_mismatch")
    return {**data, "id": str(target)}


def _op_hash(batch: Push, op: PushOperation) -> str:
    content = {"op": op.op.value, "id": str(op.id), "base": op.base_version, "data": op.data}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return lookup_hash(batch.settings.data_key, canonical, purpose="sync_push_op")


def _remembered(batch: Push, op: PushOperation) -> bool:
    """Whether this update was applied by an earlier push (422 when its client_id was used
    for another operation)."""
    row = batch.ledger.get(op.client_id)
    if row is None:
        return False
    if row.request_hash != _op_hash(batch, op):
        raise Unprocessable.field(
            "client_id", "was used for another operation", code="client_id_reused"
        )
    return True


def _remember(batch: Push, op: PushOperation, status: PushStatus, version: int) -> None:
    assert op.id is not None
    batch.applied.append(
        {
            "principal_id": batch.scope.actor_id,
            "client_id": op.client_id,
            "op": op.op.value,
            "entity_id": op.id,
            "request_hash": _op_hash(batch, op),
            "status": status.value,
            "version": version,
        }
    )


# --- children -----------------------------------------------------------------------------


def child_record(child: Child) -> ChildRead:
    """The child as GET /children/{id} answers it (the ID number masked)."""
    data = {
        name: getattr(child, name)
        for name in ChildRead.model_fields
        if name not in ("age", "id_number")
    }
    data["age"] = age_on(child.birth_date, child_rules.today())
    data["id_number"] = child.id_number_masked
    return ChildRead.model_validate(data)


async def _create_child(batch: Push, op: PushOperation) -> PushResult:
    body = ChildCreate.model_validate(_with_id(op, op.data))
    child, created = await children.create_child(
        batch.session,
        batch.scope,
        batch.settings.data_key,
        body,
        offline_days=batch.settings.sync_push_ledger_days,
    )
    status = PushStatus.created if created else PushStatus.unchanged
    return _result(op, status, child_record(child), child.version)


async def fields_changed_since(
    session: AsyncSession, entity_type: str, entity_id: uuid.UUID, base: int, current: int
) -> set[str] | None:
    """The columns changed on a record since version `base` (it is now at `current`): the union
    of the change log's `changed_fields` for the later versions. None when the log does not
    cover every one of them (pruned), so that the caller cannot merge on a guess."""
    stmt = select(col(SyncChange.version), col(SyncChange.changed_fields)).where(
        col(SyncChange.entity_type) == entity_type,
        col(SyncChange.entity_id) == entity_id,
        col(SyncChange.version) > base,
        col(SyncChange.op) == "U",
    )
    rows = (await session.execute(stmt)).all()
    if not set(range(base + 1, current + 1)) <= {version for version, _ in rows}:
        return None
    changed: set[str] = set()
    for _, fields in rows:
        if fields is None:
            return None
        changed.update(fields)
    return changed


def _clashes(child: Child, body: ChildUpdate, server_changed: set[str] | None) -> list[str]:
    """The fields the offline edit sets that the server changed since its base version, to
    another value than the edit's (both sides writing the same value is no conflict)."""
    clashes = []
    for name in sorted(body.model_fields_set):
        columns = set(_CHILD_COLUMNS.get(name, (name,)))
        if server_changed is not None and not columns & server_changed:
            continue
        if not _same_value(child, body, name):
            clashes.append(name)
    return clashes


def _same_value(child: Child, body: ChildUpdate, name: str) -> bool:
    """Whether the record already holds the value the edit sets (in the stored form: the JSON
    form of dates, enums and nested objects). Unsure means no: a conflict, never a guess."""
    if name in _CHILD_COLUMNS or name not in ChildRead.model_fields:
        return False  # the ID number is kept encrypted; refused fields are answered 422
    sent = body.model_dump(mode="json", by_alias=True, include={name}).get(name)
    current = getattr(child, name)
    if isinstance(current, date):
        current = current.isoformat()
    if name == "subsidies" and sent is None:
        sent = []
    return bool(sent == current)


async def _update_child(batch: Push, op: PushOperation) -> PushResult:
    session, scope = batch.session, batch.scope
    target, base = _target(op), _base_version(op)
    body = ChildUpdate.model_validate(op.data)
    if _remembered(batch, op):
        child = await children.get_child(session, scope, target)
        await audit.record(session, scope, "child.read", "child", child.id, child.area_code)
        return _result(op, PushStatus.unchanged, child_record(child), child.version)
    child = await children.load_for_write(session, scope, target)
    if base > child.version:
        raise Unprocessable.field(
            "base_version", "is newer than the record", code="base_version_ahead"
        )
    status = PushStatus.updated
    if base < child.version:
        changed = await fields_changed_since(session, "child", child.id, base, child.version)
        clashes = _clashes(child, body, changed)
        if clashes:
            await audit.record(session, scope, "child.read", "child", child.id, child.area_code)
            return _result(
                op,
                PushStatus.conflict,
                child_record(child),
                child.version,
                conflicting_fields=clashes,
            )
        status = PushStatus.merged
    child = await children.update_child(
        session, scope, batch.settings.data_key, target, body, child.version
    )
    _remember(batch, op, status, child.version)
    return _result(op, status, child_record(child), child.version)


# --- visits, agreements, reports ------------------------------------------------------------


async def _create_visit(batch: Push, op: PushOperation) -> PushResult:
    body = VisitCreate.model_validate(op.data)
    target = _target(op)
    known_new = target in batch.new_visits
    batch.new_visits.discard(target)  # the same id again later in the batch is looked up
    child = batch.locked_children.get(body.child_id)
    if child is not None and inspect(child).expired_attributes:
        child = None  # an earlier item changed it and was rolled back: load it again
    visit, created = await visits.create_visit(
        batch.session, batch.scope, target, body, known_new=known_new, locked_child=child
    )
    status = PushStatus.created if created else PushStatus.unchanged
    return _result(op, status, VisitRead.model_validate(visit), visit.version)


async def _create_agreement(batch: Push, op: PushOperation) -> PushResult:
    data = dict(op.data)
    raw_child = data.pop("child_id", None)
    try:
        child_id = uuid.UUID(str(raw_child))
    except ValueError:
        raise Unprocessable.field(
            "data.child_id", "is required: the child the agreement is for", code="child_required"
        ) from None
    body = AgreementCreate.model_validate(_with_id(op, data))
    agreement, created = await agreements.create(
        batch.session, batch.scope, batch.settings.data_key, child_id, body
    )
    status = PushStatus.created if created else PushStatus.unchanged
    return _result(op, status, AgreementRead.from_row(agreement, china_today()), agreement.version)


async def _update_agreement(batch: Push, op: PushOperation) -> PushResult:
    session, scope = batch.session, batch.scope
    target, base = _target(op), _base_version(op)
    body = AgreementUpdate.model_validate(op.data)
    if _remembered(batch, op):
        agreement = await agreements.get(session, scope, target)
        record = AgreementRead.from_row(agreement, china_today())
        return _result(op, PushStatus.unchanged, record, agreement.version)
    scope.require(Action.agreement_edit)
    agreement = await agreements.load(session, scope, target, for_update=True)
    if base != agreement.version:
        # Drafts are not merged: both versions go to the person, who decides.
        await audit.record(session, scope, "read", "agreement", agreement.id, agreement.area_code)
        record = AgreementRead.from_row(agreement, china_today())
        return _result(op, PushStatus.conflict, record, agreement.version)
    agreement = await agreements.update(session, scope, batch.settings.data_key, target, body, base)
    _remember(batch, op, PushStatus.updated, agreement.version)
    record = AgreementRead.from_row(agreement, china_today())
    return _result(op, PushStatus.updated, record, agreement.version)


async def _create_report(batch: Push, op: PushOperation) -> PushResult:
    body = ReportCreate.model_validate(_with_id(op, op.data))
    report, created = await reports.file_report(batch.session, batch.scope, batch.settings, body)
    status = PushStatus.created if created else PushStatus.unchanged
    return _result(op, status, to_filed(report), report.version)


# --- care work: pairings and cases ---------------------------------------------------------


def _parent(op: PushOperation, name: str) -> tuple[uuid.UUID, dict[str, object]]:
    """The parent's id the single operation takes from its path, and the rest of the data."""
    data = dict(op.data)
    parent = _uuid(data.pop(name, None))
    if parent is None:
        raise Unprocessable.field(f"data.{name}", "is required", code=f"{name}_required")
    return parent, data


async def _create_pairing(batch: Push, op: PushOperation) -> PushResult:
    body = PairingCreate.model_validate(_with_id(op, op.data))
    pairing, created = await pairings.create(batch.session, batch.scope, body)
    status = PushStatus.created if created else PushStatus.unchanged
    return _result(op, status, PairingRead.model_validate(pairing), pairing.version)


async def _log_pairing_contact(batch: Push, op: PushOperation) -> PushResult:
    pairing_id, data = _parent(op, "pairing_id")
    body = ContactCreate.model_validate(_with_id(op, data))
    contact, created = await pairings.log_contact(batch.session, batch.scope, pairing_id, body)
    status = PushStatus.created if created else PushStatus.unchanged
    return _result(op, status, ContactRead.model_validate(contact), 1)


async def _create_case(batch: Push, op: PushOperation) -> PushResult:
    body = CaseCreate.model_validate(_with_id(op, op.data))
    case, created = await case_service.create(batch.session, batch.scope, body)
    status = PushStatus.created if created else PushStatus.unchanged
    return _result(op, status, await case_service.read(batch.session, case), case.version)


async def _add_measure(batch: Push, op: PushOperation) -> PushResult:
    case_id, data = _parent(op, "case_id")
    body = MeasureCreate.model_validate(_with_id(op, data))
    case, _, created = await case_service.add_measure(batch.session, batch.scope, case_id, body)
    status = PushStatus.created if created else PushStatus.unchanged
    return _result(op, status, await case_service.read(batch.session, case), case.version)


async def _complete_measure(batch: Push, op: PushOperation) -> PushResult:
    case_id, data = _parent(op, "case_id")
    body = MeasureDone.model_validate(data)
    before = (await case_service.get(batch.session, batch.scope, case_id)).version
    case, _ = await case_service.complete_measure(
        batch.session, batch.scope, case_id, _target(op), body
    )
    status = PushStatus.updated if case.version != before else PushStatus.unchanged
    return _result(op, status, await case_service.read(batch.session, case), case.version)


async def _create_activity(batch: Push, op: PushOperation) -> PushResult:
    body = ActivityCreate.model_validate(_with_id(op, op.data))
    activity, created = await activities.create_activity(batch.session, batch.scope, body)
    status = PushStatus.created if created else PushStatus.unchanged
    return _result(op, status, ActivityRead.model_validate(activity), activity.version)


async def _apply_category(batch: Push, op: PushOperation) -> PushResult:
    child_id, data = _parent(op, "child_id")
    body = CategoryApplicationCreate.model_validate(_with_id(op, data))
    app, created = await category_applications.create_application(
        batch.session, batch.scope, child_id, body
    )
    status = PushStatus.created if created else PushStatus.unchanged
    return _result(op, status, CategoryApplicationRead.model_validate(app), app.version)


HANDLERS: dict[PushOp, Handler] = {
    PushOp.create_child: _create_child,
    PushOp.update_child: _update_child,
    PushOp.create_visit: _create_visit,
    PushOp.create_agreement: _create_agreement,
    PushOp.update_agreement: _update_agreement,
    PushOp.create_report: _create_report,
    PushOp.create_pairing: _create_pairing,
    PushOp.log_pairing_contact: _log_pairing_contact,
    PushOp.create_case: _create_case,
    PushOp.add_measure: _add_measure,
    PushOp.complete_measure: _complete_measure,
    PushOp.create_activity: _create_activity,
    PushOp.apply_category: _apply_category,
}
