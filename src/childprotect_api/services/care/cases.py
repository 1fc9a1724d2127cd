"""Cases (个案, 一人一案): opened by a township supervisor or county officer for a child in
scope, with an owner, a six-domain assessment (调查评估), a plan of measures (帮扶预案),
`review_on`, and a close with an outcome. Every change appends an immutable timeline event.
Village directors read their children's cases and log done measures.

Opening, reviewing and closing recompute the child's `needs_case` and `case_review_due`
duties in the same transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit, client_ids
from childprotect_api.core.concurrency import check_version
from childprotect_api.core.errors import Conflict, NotFound, Unprocessable
from childprotect_api.models.base import utcnow
from childprotect_api.models.care import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseMeasure,
    CaseStatus,
    MeasureStatus,
)
from childprotect_api.models.child import Child
from childprotect_api.models.user import Role, User
from childprotect_api.schemas.care import (
    CaseClose,
    CaseCreate,
    CaseRead,
    CaseUpdate,
    MeasureCancel,
    MeasureCreate,
    MeasureDone,
    MeasureRead,
)
from childprotect_api.security.scope import Action, Scope, apply_scope
from childprotect_api.services.care.common import after_id, child_in_scope, require_active
from childprotect_api.services.duties import duties

RESOURCE = "case"
_OWNER_ROLES = (Role.township_supervisor.value, Role.county_officer.value)


def _event(case: Case, event_kind: CaseEventKind, scope: Scope, **data: Any) -> CaseEvent:
    return CaseEvent(
        case_id=case.id,
        county_code=case.county_code,
        area_code=case.area_code,
        kind=event_kind.value,
        data={k: v for k, v in data.items() if v is not None},
        by=scope.user_id,
    )


def _touch(case: Case, scope: Scope) -> None:
    case.version += 1
    case.updated_at = utcnow()
    case.updated_by = scope.user_id


async def _check_owner(session: AsyncSession, owner_id: uuid.UUID, area_code: str) -> None:
    """A township supervisor or county officer whose area holds the child's."""
    user = await session.get(User, owner_id)
    if (
        user is None
        or not user.is_active
        or user.role not in _OWNER_ROLES
        or not user.area_code
        or not area_code.startswith(user.area_code)
    ):
        raise Unprocessable.field(
            "owner_id",
            "must be an active township supervisor or county officer of the child's area",
            code="owner_not_eligible",
        )


async def get(
    session: AsyncSession, scope: Scope, case_id: uuid.UUID, *, lock: bool = False
) -> Case:
    scope.require(Action.care_read)
    stmt = apply_scope(
        select(Case).where(col(Case.id) == case_id),
        scope,
        col(Case.area_code),
        col(Case.county_code),
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    case = (await session.execute(stmt)).scalar_one_or_none()
    if case is None:
        raise NotFound("no such case")
    return case


async def measures_of(
    session: AsyncSession, case_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[CaseMeasure]]:
    out: dict[uuid.UUID, list[CaseMeasure]] = {cid: [] for cid in case_ids}
    if case_ids:
        stmt = (
            select(CaseMeasure)
            .where(col(CaseMeasure.case_id).in_(case_ids))
            .order_by(col(CaseMeasure.created_at), col(CaseMeasure.id))
        )
        for m in (await session.execute(stmt)).scalars():
            out[m.case_id].append(m)
    return out


def to_read(case: Case, measures: list[CaseMeasure]) -> CaseRead:
    return CaseRead.model_validate(
        {
            "id": case.id,
            "child_id": case.child_id,
            "area_code": case.area_code,
            "reason": case.reason,
            "summary": case.summary,
            "owner_id": case.owner_id,
            "assessment": case.assessment or {},
            "review_on": case.review_on,
            "status": case.status,
            "outcome": case.outcome,
            "closed_at": case.closed_at,
            "measures": [MeasureRead.model_validate(m) for m in measures],
            "version": case.version,
            "created_at": case.created_at,
            "updated_at": case.updated_at,
        }
    )


async def read(session: AsyncSession, case: Case) -> CaseRead:
    await session.flush()
    return to_read(case, (await measures_of(session, [case.id]))[case.id])


async def create(session: AsyncSession, scope: Scope, data: CaseCreate) -> tuple[Case, bool]:
    scope.require(Action.case_manage)
    if data.id is not None:
        existing = await session.get(Case, data.id)
        if existing is not None:
            if not scope.covers(existing.area_code) or existing.child_id != data.child_id:
                raise client_ids.IdTaken()
            return existing, False
    child = await child_in_scope(session, scope, data.child_id, lock=True)
    require_active(child)
    owner_id = data.owner_id or scope.user_id
    if owner_id is None:
        raise Unprocessable.field("owner_id", "name the case's owner", code="owner_required")
    await _check_owner(session, owner_id, child.area_code)
    case = Case(
        id=data.id or uuid.uuid4(),
        child_id=child.id,
        county_code=child.county_code,
        area_code=child.area_code,
        reason=data.reason.value,
        summary=data.summary,
        owner_id=owner_id,
        review_on=data.review_on,
        created_by=scope.user_id,
        updated_by=scope.user_id,
    )
    session.add(case)
    await session.flush()
    session.add(
        _event(
            case,
            CaseEventKind.opened,
            scope,
            reason=case.reason,
            owner_id=str(owner_id),
            review_on=case.review_on.isoformat() if case.review_on else None,
        )
    )
    await duties.recompute(session, child)
    await audit.record(session, scope, "case.create", RESOURCE, case.id, case.area_code)
    return case, True


def _require_open(case: Case) -> None:
    if case.status != CaseStatus.open.value:
        raise Conflict("the case is closed", code="case_closed")


async def _recompute_child(session: AsyncSession, case: Case) -> None:
    child = await session.get(Child, case.child_id, with_for_update=True)
    if child is not None:
        await duties.recompute(session, child)


async def update(
    session: AsyncSession, scope: Scope, case_id: uuid.UUID, data: CaseUpdate, expected: int | None
) -> Case:
    """Assess, review (a new `review_on`), change the owner or the summary."""
    scope.require(Action.case_manage)
    case = await get(session, scope, case_id, lock=True)
    check_version(case.version, expected)
    _require_open(case)
    changes = data.model_dump(exclude_unset=True, mode="json")
    changed = False
    if data.assessment is not None:
        merged = dict(case.assessment or {})
        merged.update({k: v for k, v in changes["assessment"].items() if v is not None})
        if merged != case.assessment:
            case.assessment = merged
            session.add(_event(case, CaseEventKind.assessed, scope, assessment=merged))
            changed = True
    if "review_on" in changes and data.review_on != case.review_on:
        case.review_on = data.review_on
        session.add(_event(case, CaseEventKind.reviewed, scope, review_on=changes["review_on"]))
        changed = True
    if data.owner_id is not None and data.owner_id != case.owner_id:
        await _check_owner(session, data.owner_id, case.area_code)
        case.owner_id = data.owner_id
        session.add(_event(case, CaseEventKind.owner_changed, scope, owner_id=str(data.owner_id)))
        changed = True
    if "summary" in changes and data.summary != case.summary:
        case.summary = data.summary
        changed = True
    if changed:
        _touch(case, scope)
        await session.flush()
        await _recompute_child(session, case)
        await audit.record(session, scope, "case.update", RESOURCE, case.id, case.area_code)
    return case


async def close(
    session: AsyncSession, scope: Scope, case_id: uuid.UUID, data: CaseClose, expected: int | None
) -> Case:
    scope.require(Action.case_manage)
    case = await get(session, scope, case_id, lock=True)
    check_version(case.version, expected)
    _require_open(case)
    case.status = CaseStatus.closed.value
    case.outcome = data.outcome.value
    case.closed_at = utcnow()
    _touch(case, scope)
    session.add(_event(case, CaseEventKind.closed, scope, outcome=case.outcome, note=data.note))
    await session.flush()
    await _recompute_child(session, case)
    await audit.record(session, scope, "case.close", RESOURCE, case.id, case.area_code)
    return case


async def add_measure(
    session: AsyncSession, scope: Scope, case_id: uuid.UUID, data: MeasureCreate
) -> tuple[Case, CaseMeasure, bool]:
    scope.require(Action.case_manage)
    case = await get(session, scope, case_id, lock=True)
    if data.id is not None:
        existing = await session.get(CaseMeasure, data.id)
        if existing is not None:
            if existing.case_id != case.id:
                raise client_ids.IdTaken()
            return case, existing, False
    _require_open(case)
    measure = CaseMeasure(
        id=data.id or uuid.uuid4(),
        case_id=case.id,
        county_code=case.county_code,
        area_code=case.area_code,
        kind=data.kind.value,
        responsible=data.responsible,
        due_on=data.due_on,
        note=data.note,
        created_by=scope.user_id,
        updated_by=scope.user_id,
    )
    session.add(measure)
    await session.flush()
    session.add(
        _event(
            case,
            CaseEventKind.measure_added,
            scope,
            measure_id=str(measure.id),
            measure_kind=measure.kind,
            due_on=measure.due_on.isoformat() if measure.due_on else None,
        )
    )
    _touch(case, scope)
    await session.flush()
    await audit.record(session, scope, "case.measure_add", RESOURCE, case.id, case.area_code)
    return case, measure, True


async def complete_measure(
    session: AsyncSession,
    scope: Scope,
    case_id: uuid.UUID,
    measure_id: uuid.UUID,
    data: MeasureDone,
) -> tuple[Case, CaseMeasure]:
    """Log a measure done (village directors too). Done again answers as it is."""
    scope.require(Action.measure_log)
    case = await get(session, scope, case_id, lock=True)
    measure = await session.get(CaseMeasure, measure_id)
    if measure is None or measure.case_id != case.id:
        raise NotFound("no such measure")
    if measure.status == MeasureStatus.done.value:
        return case, measure
    _require_open(case)
    if measure.status == MeasureStatus.cancelled.value:
        raise Conflict("the measure was cancelled", code="measure_cancelled")
    measure.status = MeasureStatus.done.value
    measure.done_on = data.done_on or utcnow().date()
    if data.note:
        measure.note = data.note
    measure.updated_at = utcnow()
    measure.updated_by = scope.user_id
    session.add(
        _event(
            case,
            CaseEventKind.measure_done,
            scope,
            measure_id=str(measure.id),
            done_on=measure.done_on.isoformat(),
        )
    )
    _touch(case, scope)
    await session.flush()
    await audit.record(session, scope, "case.measure_done", RESOURCE, case.id, case.area_code)
    return case, measure


async def cancel_measure(
    session: AsyncSession,
    scope: Scope,
    case_id: uuid.UUID,
    measure_id: uuid.UUID,
    data: MeasureCancel,
) -> tuple[Case, CaseMeasure]:
    """Cancel a planned measure (supervisors and county officers, who plan). Cancelled again
    answers as it is; a done measure stays done (409)."""
    scope.require(Action.case_manage)
    case = await get(session, scope, case_id, lock=True)
    measure = await session.get(CaseMeasure, measure_id)
    if measure is None or measure.case_id != case.id:
        raise NotFound("no such measure")
    if measure.status == MeasureStatus.cancelled.value:
        return case, measure
    _require_open(case)
    if measure.status == MeasureStatus.done.value:
        raise Conflict("the measure is done", code="measure_done")
    measure.status = MeasureStatus.cancelled.value
    measure.updated_at = utcnow()
    measure.updated_by = scope.user_id
    session.add(
        _event(
            case,
            CaseEventKind.measure_cancelled,
            scope,
            measure_id=str(measure.id),
            reason=data.reason,
        )
    )
    _touch(case, scope)
    await session.flush()
    await audit.record(session, scope, "case.measure_cancel", RESOURCE, case.id, case.area_code)
    return case, measure


async def timeline(session: AsyncSession, scope: Scope, case_id: uuid.UUID) -> list[CaseEvent]:
    case = await get(session, scope, case_id)
    stmt = select(CaseEvent).where(col(CaseEvent.case_id) == case.id).order_by(col(CaseEvent.id))
    return list((await session.execute(stmt)).scalars())


async def list_cases(
    session: AsyncSession,
    scope: Scope,
    *,
    child_id: uuid.UUID | None,
    status: CaseStatus | None,
    limit: int,
    cursor: str | None,
) -> list[Case]:
    scope.require(Action.care_read)
    stmt = apply_scope(select(Case), scope, col(Case.area_code), col(Case.county_code))
    if child_id is not None:
        stmt = stmt.where(col(Case.child_id) == child_id)
    if status is not None:
        stmt = stmt.where(col(Case.status) == status.value)
    if (after := after_id(cursor)) is not None:
        stmt = stmt.where(col(Case.id) > after)
    rows = list((await session.execute(stmt.order_by(col(Case.id)).limit(limit))).scalars())
    await audit.record_many(session, scope, "list", RESOURCE, [(c.id, c.area_code) for c in rows])
    return rows
