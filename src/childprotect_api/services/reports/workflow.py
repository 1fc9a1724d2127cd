"""Handling a mandatory report (county officers of its county): accept, refer (several
referrals, each with its own status updates), notes, link to a registered child, close with
an outcome for the reporter. Every step appends to the immutable timeline.

    submitted -> accepted -> referred -> closed
                 accepted ------------> closed   (nothing to refer: e.g. unsubstantiated)

A step out of order answers 409 `invalid_transition` naming the current state. Commands
honour `If-Match` when sent (412 when stale); the state machine guards them without it.
`at` (the time of a step) is for the demo data, which backdates its reports."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit, client_ids, outbox
from childprotect_api.core.errors import Conflict, NotFound, PreconditionFailed, Unprocessable
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.report import (
    ReferralStatus,
    ReferralTarget,
    Report,
    ReportEvent,
    ReportEventKind,
    ReportNote,
    ReportReferral,
    ReportStatus,
)
from childprotect_api.schemas.report import (
    LinkChild,
    NoteCreate,
    ReferralCreate,
    ReferralRead,
    ReferralStatusUpdate,
    ReportClose,
    ReportRead,
    TimelineEventRead,
)
from childprotect_api.security.scope import Action, Scope, in_scope
from childprotect_api.services.children import registry as children
from childprotect_api.services.duties import duties
from childprotect_api.services.reports.access import (
    ReportAccess,
    load_report,
    referrals_of,
    report_access,
    to_read,
)
from childprotect_api.services.reports.intake import link_effects
from childprotect_api.services.reports.timeline import add_event

S = ReportStatus
REFERRAL_NEXT: dict[str, frozenset[str]] = {
    ReferralStatus.sent: frozenset({"acknowledged", "in_progress", "completed", "declined"}),
    ReferralStatus.acknowledged: frozenset({"in_progress", "completed", "declined"}),
    ReferralStatus.in_progress: frozenset({"completed", "declined"}),
    ReferralStatus.completed: frozenset(),
    ReferralStatus.declined: frozenset(),
}


def parse_if_match(header: str | None) -> int | None:
    """`"3"`, `W/"3"` or `3` -> 3; None when absent."""
    if header is None:
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise PreconditionFailed("If-Match must be the ETag of the report", code="bad_if_match")
    return int(value)


async def _managed(
    session: AsyncSession, scope: Scope, report_id: uuid.UUID, if_match: str | None = None
) -> tuple[ReportAccess, Report]:
    scope.require(Action.report_manage)
    access = report_access(scope)
    report = await load_report(session, access, report_id, for_update=True)
    expected = parse_if_match(if_match)
    if expected is not None and expected != report.version:
        raise PreconditionFailed(
            f"the report has changed (version {report.version})",
            extra={"current_version": report.version},
        )
    return access, report


def _require_status(report: Report, allowed: set[ReportStatus], step: str) -> None:
    if report.status not in allowed:
        raise Conflict(
            f"cannot {step}: the report is {report.status}",
            code="invalid_transition",
            extra={"current_status": report.status},
        )


def _touch(report: Report, at: datetime | None = None) -> None:
    report.version += 1
    report.updated_at = at or utcnow()


async def _answer(session: AsyncSession, access: ReportAccess, report: Report) -> ReportRead:
    await session.flush()
    referrals = await referrals_of(session, [report.id])
    return to_read(access, report, referrals[report.id], utcnow())


async def accept(
    session: AsyncSession,
    scope: Scope,
    report_id: uuid.UUID,
    if_match: str | None,
    *,
    at: datetime | None = None,
) -> ReportRead:
    access, report = await _managed(session, scope, report_id, if_match)
    _require_status(report, {S.submitted}, "accept")
    now = at or utcnow()
    report.status, report.accepted_at, report.accepted_by = S.accepted.value, now, scope.user_id
    _touch(report, now)
    await add_event(session, report, ReportEventKind.accepted, scope, at=now)
    await duties.recompute_for(session, report.child_id)  # meets the child's `needs_case`
    await audit.record(session, scope, "accept", "report", report.id, report.area_code)
    return await _answer(session, access, report)


def _same_referral(existing: ReportReferral, report: Report, data: ReferralCreate) -> bool:
    return existing.report_id == report.id and (
        existing.target,
        existing.contact,
        existing.case_number,
        existing.note,
    ) == (data.target.value, data.contact, data.case_number, data.note)


async def refer(
    session: AsyncSession,
    scope: Scope,
    report_id: uuid.UUID,
    data: ReferralCreate,
    if_match: str | None,
    *,
    at: datetime | None = None,
) -> tuple[ReferralRead, bool]:
    """Add a referral; answer it and whether it is new (False: an idempotent retry)."""
    _, report = await _managed(session, scope, report_id, if_match)
    if data.id is not None and (existing := await session.get(ReportReferral, data.id)):
        if not _same_referral(existing, report, data):
            raise client_ids.IdTaken()
        return ReferralRead.model_validate(existing), False
    _require_status(report, {S.accepted, S.referred}, "refer")
    if data.target == ReferralTarget.other and not (data.contact or data.note):
        raise Unprocessable.field(
            "contact", "say whom the report is referred to", code="referral_target_unnamed"
        )
    now = at or utcnow()
    referral = ReportReferral(
        id=data.id or uuid.uuid4(),
        report_id=report.id,
        county_code=report.county_code,
        area_code=report.area_code,
        target=data.target.value,
        contact=data.contact,
        case_number=data.case_number,
        note=data.note,
        status=ReferralStatus.sent.value,
        status_updated_at=now,
        status_updated_by=scope.user_id,
        created_by=scope.user_id,
        created_at=now,
    )
    session.add(referral)
    await session.flush()
    report.status = S.referred.value
    report.first_referral_at = report.first_referral_at or now
    _touch(report, now)
    await add_event(
        session,
        report,
        ReportEventKind.referred,
        scope,
        data={"target": referral.target},
        referral_id=referral.id,
        at=now,
    )
    await duties.recompute_for(session, report.child_id)
    await audit.record(session, scope, "refer", "report", report.id, report.area_code)
    return ReferralRead.model_validate(referral), True


async def update_referral_status(
    session: AsyncSession,
    scope: Scope,
    report_id: uuid.UUID,
    referral_id: uuid.UUID,
    data: ReferralStatusUpdate,
    *,
    at: datetime | None = None,
) -> ReferralRead:
    _, report = await _managed(session, scope, report_id)
    referral = (
        await session.execute(
            select(ReportReferral)
            .where(
                col(ReportReferral.id) == referral_id, col(ReportReferral.report_id) == report.id
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if referral is None:
        raise NotFound("no such referral")
    if data.status not in REFERRAL_NEXT[referral.status]:
        raise Conflict(
            f"a referral that is {referral.status} cannot become {data.status}",
            code="invalid_transition",
            extra={"current_status": referral.status},
        )
    now = at or utcnow()
    old = referral.status
    referral.status = data.status
    referral.status_note = data.note
    referral.status_updated_at, referral.status_updated_by = now, scope.user_id
    if data.case_number:
        referral.case_number = data.case_number
    referral.version += 1
    _touch(report, now)
    await add_event(
        session,
        report,
        ReportEventKind.referral_status,
        scope,
        data={"from": old, "to": data.status},
        referral_id=referral.id,
        note=data.note,
        at=now,
    )
    await audit.record(session, scope, "referral_status", "report", report.id, report.area_code)
    return ReferralRead.model_validate(referral)


def _event_read(event: ReportEvent, note: str | None) -> TimelineEventRead:
    assert event.id is not None and event.at is not None
    return TimelineEventRead(
        id=event.id,
        at=event.at,
        kind=event.kind,
        actor_id=event.actor_id,
        actor_role=event.actor_role,
        referral_id=event.referral_id,
        data=event.data,
        note=note,
    )


async def add_note(
    session: AsyncSession,
    scope: Scope,
    report_id: uuid.UUID,
    data: NoteCreate,
    *,
    at: datetime | None = None,
) -> tuple[TimelineEventRead, bool]:
    """Notes are allowed in every state (a closed report can still be annotated)."""
    _, report = await _managed(session, scope, report_id)
    if data.id is not None and (existing := await session.get(ReportNote, data.id)):
        if existing.report_id != report.id or existing.body != data.text:
            raise client_ids.IdTaken()
        event = await session.get(ReportEvent, existing.event_id)
        assert event is not None
        return _event_read(event, existing.body), False
    event = await add_event(
        session, report, ReportEventKind.note, scope, note=data.text, note_id=data.id, at=at
    )
    await audit.record(session, scope, "note", "report", report.id, report.area_code)
    return _event_read(event, data.text), True


async def link_child(
    session: AsyncSession,
    scope: Scope,
    report_id: uuid.UUID,
    data: LinkChild,
    if_match: str | None,
    data_key: str,
) -> ReportRead:
    """Link a registered child found later (in the officer's county), or register one from
    the report through the registry's own rules and link it. The report's area becomes the
    child's village; the child is raised to red. One transaction: a refused registration
    links nothing."""
    scope.require(Action.report_manage)
    _exactly_one(data)
    access, report = await _managed(session, scope, report_id, if_match)
    wanted = data.child_id if data.new_child is None else data.new_child.id
    if wanted is not None and report.child_id == wanted:
        if data.new_child is not None:
            # A retry of the same register-and-link: the registry answers the stored record
            # (or 409 when the content differs).
            await children.create_child(session, scope, data_key, data.new_child)
        return await _answer(session, access, report)
    _require_status(report, {S.submitted, S.accepted, S.referred}, "link a child")
    if report.child_id is not None:
        raise Conflict("the report is linked to another child", code="child_already_linked")
    if data.new_child is not None:
        child, _ = await children.create_child(session, scope, data_key, data.new_child)
    else:
        found = (
            await session.execute(
                select(Child).where(
                    col(Child.id) == data.child_id,
                    in_scope(scope, col(Child.area_code), col(Child.county_code)),
                )
            )
        ).scalar_one_or_none()
        if found is None:
            raise NotFound("no such child")
        child = found
    # Both are in the officer's county, so the report stays in it.
    assert child.county_code == report.county_code
    report.child_id = child.id
    report.area_code = child.area_code
    for table in (ReportReferral, ReportNote):
        await session.execute(
            update(table).where(col(table.report_id) == report.id).values(area_code=child.area_code)
        )
    _touch(report)
    await link_effects(session, scope, report, child, at_intake=False)
    await duties.recompute(session, child)
    return await _answer(session, access, report)


def _exactly_one(data: LinkChild) -> None:
    if data.child_id is not None and data.new_child is not None:
        raise Unprocessable.field(
            "register", "give either child_id or register, not both", code="child_id_or_register"
        )
    if data.child_id is None and data.new_child is None:
        raise Unprocessable.field(
            "child_id", "give child_id or register (one of them)", code="child_id_or_register"
        )


async def close(
    session: AsyncSession,
    scope: Scope,
    report_id: uuid.UUID,
    data: ReportClose,
    if_match: str | None,
    *,
    at: datetime | None = None,
) -> ReportRead:
    access, report = await _managed(session, scope, report_id, if_match)
    _require_status(report, {S.accepted, S.referred}, "close")
    now = at or utcnow()
    report.status = S.closed.value
    report.outcome = data.outcome.value
    report.outcome_message = data.message
    report.closed_at, report.closed_by = now, scope.user_id
    _touch(report, now)
    await add_event(
        session, report, ReportEventKind.closed, scope, data={"outcome": report.outcome}, at=now
    )
    # The reporter is told the outcome (a notifier reads the outbox).
    await outbox.emit(
        session,
        "report.closed",
        resource_type="report",
        resource_id=report.id,
        area_code=report.area_code,
        payload={"report_id": str(report.id), "status": report.status, "outcome": report.outcome},
    )
    await duties.recompute_for(session, report.child_id)  # a closed report meets no more
    await audit.record(session, scope, "close", "report", report.id, report.area_code)
    return await _answer(session, access, report)
