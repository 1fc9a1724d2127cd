"""Mandatory report intake (强制报告) and its effects: the child named by id or found by ID
number, the report's deadlines, the first timeline event, the outbox event, and the raise
of a registered child's risk level to red. The handling workflow is in report_workflow.py,
who may read what in report_access.py."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.config import Settings
from childprotect_api.core import audit, client_ids, outbox
from childprotect_api.core.errors import NotFound, Unprocessable
from childprotect_api.models.area import Area
from childprotect_api.models.base import CLOCK_SKEW, utcnow
from childprotect_api.models.child import Child, ChildStatus, RiskLevel, RiskSource
from childprotect_api.models.report import Report, ReportEventKind, ReportStatus
from childprotect_api.models.user import User
from childprotect_api.schemas.report import ReportCreate
from childprotect_api.security.crypto import lookup_hash
from childprotect_api.security.scope import Action, Scope, in_scope
from childprotect_api.services.children import id_numbers
from childprotect_api.services.children.schedule import set_risk_level
from childprotect_api.services.reports.deadlines import deadlines_for
from childprotect_api.services.reports.timeline import add_event

# Phones' clocks drift: a time this little ahead of the server's is not "in the future".


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def request_hash(settings: Settings, data: ReportCreate) -> str:
    """A keyed hash of the report's content (without its id): same content, same hash,
    whatever the time zone the phone wrote its times in."""
    body = data.model_dump(exclude={"id"})
    canonical = json.dumps(body, default=_canonical, sort_keys=True, ensure_ascii=False)
    return lookup_hash(settings.data_key, canonical, purpose="report_request")


def _check_body(data: ReportCreate, now: datetime) -> None:
    limit = now + CLOCK_SKEW
    for field in ("occurred_at", "discovered_at", "police_notified_at"):
        value = getattr(data, field)
        if value is not None and value > limit:
            raise Unprocessable.field(field, "is in the future", code="future_date")
    if data.discovered_at is not None and data.discovered_at < data.occurred_at:
        raise Unprocessable.field(
            "discovered_at", "is before occurred_at", code="discovered_before_occurred"
        )
    if not data.police_notified and (data.police_notified_at or data.police_case_number):
        raise Unprocessable.field(
            "police_notified",
            "must be true when police_notified_at or police_case_number is given",
            code="police_not_notified",
        )
    described = data.child_description is not None and not data.child_description.is_empty()
    if data.child_id is None and not data.id_number and not described:
        raise Unprocessable.field(
            "child_description",
            "name the child: child_id, id_number, or what you know of it in child_description",
            code="child_required",
        )
    if data.child_id is None and data.area_code is None:
        raise Unprocessable.field(
            "area_code", "is required unless child_id is given", code="area_required"
        )


async def _check_area(session: AsyncSession, scope: Scope, area_code: str) -> None:
    """A filer reports only inside their own area; an area outside it answers 404, as every
    reference to something outside the caller's scope does."""
    if not scope.covers(area_code):
        raise NotFound("no such area in your scope", code="area_not_found")
    if await session.get(Area, area_code) is None:
        raise Unprocessable.field("area_code", "no such area", code="unknown_area")


async def _registered_child(session: AsyncSession, scope: Scope, child_id: uuid.UUID) -> Child:
    stmt = select(Child).where(
        col(Child.id) == child_id, in_scope(scope, col(Child.area_code), col(Child.county_code))
    )
    child = (await session.execute(stmt)).scalar_one_or_none()
    if child is None:
        raise NotFound("no such child")
    return child


async def _child_by_id_number(session: AsyncSession, hashed: str) -> Child | None:
    """Deliberately NOT scope-filtered: a child registered anywhere is linked, so that its
    own county learns of the report. The filer's answer never shows whether it matched."""
    stmt = select(Child).where(col(Child.id_number_hash) == hashed)
    return (await session.execute(stmt)).scalar_one_or_none()


def _replay(scope: Scope, existing: Report, hashed: str) -> Report:
    same_filer = (
        existing.reporter_client_id == scope.actor_id
        if scope.is_client
        else existing.reporter_user_id == scope.user_id
    )
    if not same_filer or existing.request_hash != hashed:
        raise client_ids.IdTaken()
    return existing


async def file_report(
    session: AsyncSession,
    scope: Scope,
    settings: Settings,
    data: ReportCreate,
    *,
    now: datetime | None = None,
) -> tuple[Report, bool]:
    """File a report; answer it and whether it is new (False: an idempotent retry)."""
    scope.require(Action.report_file)
    now = now or utcnow()
    hashed = request_hash(settings, data)
    if data.id is not None and (existing := await session.get(Report, data.id)) is not None:
        return _replay(scope, existing, hashed), False
    _check_body(data, now)
    if data.area_code is not None:
        await _check_area(session, scope, data.area_code)
    id_number = None
    if data.id_number:
        try:
            id_number = id_numbers.parse(data.id_number)
        except ValueError as e:
            raise Unprocessable.field("id_number", str(e), code="invalid_id_number") from e
    child = await _registered_child(session, scope, data.child_id) if data.child_id else None
    if child is None and id_number is not None:
        child = await _child_by_id_number(
            session, id_numbers.hash_of(settings.data_key, id_number.normalized)
        )
    report = await _new_report(session, scope, settings, data, child, id_number, hashed, now)
    try:
        async with session.begin_nested():
            session.add(report)
            await session.flush()
    except IntegrityError:
        # The same id filed concurrently: answer as a retry would be answered.
        existing = await session.get(Report, report.id)
        if existing is None:
            raise
        return _replay(scope, existing, hashed), False
    await add_event(
        session,
        report,
        ReportEventKind.submitted,
        scope,
        data={"situation": report.situation, "urgent": report.urgent},
        at=now,
    )
    await outbox.emit(
        session,
        "report.submitted",
        resource_type="report",
        resource_id=report.id,
        area_code=report.area_code,
        payload={
            "report_id": str(report.id),
            "situation": report.situation,
            "status": report.status,
            "urgent": report.urgent,
        },
    )
    await audit.record(session, scope, "create", "report", report.id, report.area_code)
    if child is not None:
        await link_effects(session, scope, report, child, at_intake=True)
    return report, True


async def _new_report(
    session: AsyncSession,
    scope: Scope,
    settings: Settings,
    data: ReportCreate,
    child: Child | None,
    id_number: id_numbers.IdNumberInfo | None,
    hashed: str,
    now: datetime,
) -> Report:
    reported_area = data.area_code or (child.area_code if child else None)
    assert reported_area is not None  # _check_body: area_code or child_id
    area = child.area_code if child else reported_area
    filer = await session.get(User, scope.user_id) if scope.user_id else None
    accept_by, refer_by = await deadlines_for(session, area[:6], now)
    report = Report(
        id=data.id or uuid.uuid4(),
        county_code=area[:6],
        area_code=area,
        reported_area_code=reported_area,
        situation=data.situation.value,
        description=data.description,
        occurred_at=data.occurred_at,
        discovered_at=data.discovered_at or now,
        place_description=data.place_description,
        reporter_sector=data.reporter_sector.value,
        police_notified=data.police_notified,
        police_notified_at=data.police_notified_at,
        police_case_number=data.police_case_number,
        urgent=data.urgent,
        child_id=child.id if child else None,
        child_description=(
            data.child_description.model_dump(mode="json", exclude_none=True)
            if data.child_description and not data.child_description.is_empty()
            else None
        ),
        reporter_user_id=scope.user_id,
        reporter_client_id=scope.actor_id if scope.is_client else None,
        reporter_name=data.reporter_name or (filer.display_name if filer else None),
        reporter_contact=data.reporter_contact or (filer.phone if filer else None),
        status=ReportStatus.submitted.value,
        accept_deadline=accept_by,
        first_referral_deadline=refer_by,
        request_hash=hashed,
        created_at=now,
        updated_at=now,
    )
    if id_number is not None:
        protected = id_numbers.protect(settings.data_key, id_number.normalized)
        report.child_id_number_enc = protected.encrypted
        report.child_id_number_hash = protected.hash
        report.child_id_number_masked = protected.masked
    return report


async def link_effects(
    session: AsyncSession, scope: Scope, report: Report, child: Child, *, at_intake: bool
) -> None:
    """A report about a registered child raises it to red (kept in its risk history with the
    report as the reason; its next visit falls due within a day, the top of the worklist)."""
    change = None
    if child.status == ChildStatus.active:
        change = await set_risk_level(
            session,
            child,
            RiskLevel.red.value,
            f"mandatory report: {report.situation}",
            set_by=scope.user_id,
            source=RiskSource.report.value,
            source_id=report.id,
        )
    await add_event(
        session,
        report,
        ReportEventKind.child_linked,
        scope,
        data={
            "child_id": str(child.id),
            "at_intake": at_intake,
            "risk_raised": change is not None,
        },
    )
    await audit.record(session, scope, "link_report", "child", child.id, child.area_code)
    if change is not None:
        await outbox.emit(
            session,
            "child.risk_raised",
            resource_type="child",
            resource_id=child.id,
            area_code=child.area_code,
            payload={
                "child_id": str(child.id),
                "old_level": change.old_level,
                "new_level": change.new_level,
                "source": RiskSource.report.value,
                "report_id": str(report.id),
            },
        )
