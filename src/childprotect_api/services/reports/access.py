"""Who sees which mandatory report, and every read of reports (one rule, `report_access`).

- County officers of the report's county see everything, the reporter's identity included.
- The filer sees their own filings through /my-reports: status and outcome message only.
- Township supervisors and village directors whose area covers the report's area see the
  report (the reporter as "confidential") once it has a referral to the local network
  (target `township_supervisor` or `village_director`).
- Everyone else: not found. Roles outside the reports rows of the matrix: forbidden.

Reads of a report are recorded in the audit log."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, false, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit
from childprotect_api.core.errors import NotFound
from childprotect_api.models.base import utcnow
from childprotect_api.models.report import (
    LOCAL_REFERRAL_TARGETS,
    Report,
    ReportReferral,
    ReportStatus,
)
from childprotect_api.models.user import Role
from childprotect_api.schemas.report import (
    CONFIDENTIAL,
    ChildDescription,
    FiledReportRead,
    ReferralRead,
    ReporterRead,
    ReportRead,
    ReportSummary,
    TimelineEventRead,
)
from childprotect_api.security.scope import Action, Scope, in_scope
from childprotect_api.services.reports.deadlines import (
    accept_overdue_clause,
    is_overdue,
    overdue_clause,
    referral_overdue_clause,
)
from childprotect_api.services.reports.timeline import events_of

LOCAL_ROLES = frozenset({Role.village_director.value, Role.township_supervisor.value})


@dataclass(frozen=True)
class ReportAccess:
    """What one caller may read. `handled` filters the reports they see in the handling
    view; `filed` their own filings; `full` whether that view is the county officer's."""

    scope: Scope
    handled: ColumnElement[bool]
    filed: ColumnElement[bool]
    full: bool

    def is_filer(self, report: Report) -> bool:
        if self.scope.is_client:
            return report.reporter_client_id == self.scope.actor_id
        return report.reporter_user_id is not None and report.reporter_user_id == self.scope.user_id

    def sees_reporter(self, report: Report) -> bool:
        return self.full or self.is_filer(report)


def report_access(scope: Scope) -> ReportAccess:
    """The one rule of who reads which report (module docstring)."""
    scope.require(Action.report_read_own)
    filed = (
        col(Report.reporter_client_id) == scope.actor_id
        if scope.is_client
        else col(Report.reporter_user_id) == scope.user_id
    )
    area = in_scope(scope, col(Report.area_code), col(Report.county_code))
    if scope.can(Action.report_manage):
        return ReportAccess(scope, area, filed, full=True)
    if not scope.is_client and scope.role in LOCAL_ROLES:
        referred_locally = exists().where(
            col(ReportReferral.report_id) == col(Report.id),
            col(ReportReferral.target).in_(LOCAL_REFERRAL_TARGETS),
        )
        return ReportAccess(scope, and_(area, referred_locally), filed, full=False)
    return ReportAccess(scope, false(), filed, full=False)


async def load_report(
    session: AsyncSession, access: ReportAccess, report_id: uuid.UUID, *, for_update: bool = False
) -> Report:
    stmt = select(Report).where(col(Report.id) == report_id, access.handled)
    if for_update:
        stmt = stmt.with_for_update(of=Report)
    report = (await session.execute(stmt)).scalar_one_or_none()
    if report is None:
        raise NotFound("no such report")
    return report


async def referrals_of(
    session: AsyncSession, report_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[ReportReferral]]:
    found: dict[uuid.UUID, list[ReportReferral]] = defaultdict(list)
    if not report_ids:
        return found
    stmt = (
        select(ReportReferral)
        .where(col(ReportReferral.report_id).in_(report_ids))
        .order_by(col(ReportReferral.created_at), col(ReportReferral.id))
    )
    for referral in (await session.execute(stmt)).scalars():
        found[referral.report_id].append(referral)
    return found


def to_read(
    access: ReportAccess,
    report: Report,
    referrals: list[ReportReferral],
    now: datetime,
) -> ReportRead:
    assert report.created_at is not None
    reporter = ReporterRead.hidden()
    if access.sees_reporter(report):
        reporter = ReporterRead(
            user_id=report.reporter_user_id,
            client_id=report.reporter_client_id,
            name=report.reporter_name,
            contact=report.reporter_contact,
            confidential=False,
        )
    return ReportRead(
        id=report.id,
        situation=report.situation,
        description=report.description,
        occurred_at=report.occurred_at,
        discovered_at=report.discovered_at,
        submitted_at=report.created_at,
        county_code=report.county_code,
        area_code=report.area_code,
        reported_area_code=report.reported_area_code,
        place_description=report.place_description,
        reporter_sector=report.reporter_sector,
        police_notified=report.police_notified,
        police_notified_at=report.police_notified_at,
        police_case_number=report.police_case_number,
        urgent=report.urgent,
        child_id=report.child_id,
        child_description=(
            ChildDescription.model_validate(report.child_description)
            if report.child_description
            else None
        ),
        child_id_number=report.child_id_number_masked,
        reporter=reporter,
        status=report.status,
        accepted_at=report.accepted_at,
        first_referral_at=report.first_referral_at,
        closed_at=report.closed_at,
        outcome=report.outcome,
        outcome_message=report.outcome_message,
        accept_deadline=report.accept_deadline,
        first_referral_deadline=report.first_referral_deadline,
        overdue=is_overdue(report, now),
        referrals=[ReferralRead.model_validate(r) for r in referrals],
        version=report.version,
        updated_at=report.updated_at,
    )


def to_filed(report: Report) -> FiledReportRead:
    assert report.created_at is not None
    return FiledReportRead(
        id=report.id,
        situation=report.situation,
        area_code=report.reported_area_code,
        occurred_at=report.occurred_at,
        submitted_at=report.created_at,
        status=report.status,
        outcome=report.outcome,
        outcome_message=report.outcome_message,
        closed_at=report.closed_at,
    )


async def read_report(session: AsyncSession, access: ReportAccess, report: Report) -> ReportRead:
    """Shape a report the caller may read, and record the read."""
    referrals = await referrals_of(session, [report.id])
    await audit.record(session, access.scope, "read", "report", report.id, report.area_code)
    return to_read(access, report, referrals[report.id], utcnow())


async def get_report(session: AsyncSession, scope: Scope, report_id: uuid.UUID) -> ReportRead:
    access = report_access(scope)
    return await read_report(session, access, await load_report(session, access, report_id))


@dataclass(frozen=True)
class ReportFilters:
    status: ReportStatus | None = None
    overdue: bool | None = None
    situation: str | None = None
    area: str | None = None
    since: datetime | None = None


async def list_reports(
    session: AsyncSession,
    scope: Scope,
    filters: ReportFilters,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[ReportRead]:
    """Newest first, keyset-paginated on (created_at, id)."""
    access = report_access(scope)
    now = utcnow()
    stmt = select(Report).where(access.handled)
    if filters.status:
        stmt = stmt.where(col(Report.status) == filters.status.value)
    if filters.overdue is True:
        stmt = stmt.where(overdue_clause(now))
    elif filters.overdue is False:
        stmt = stmt.where(~overdue_clause(now))
    if filters.situation:
        stmt = stmt.where(col(Report.situation) == filters.situation)
    if filters.area:
        stmt = stmt.where(col(Report.area_code).startswith(filters.area, autoescape=True))
    if filters.since:
        stmt = stmt.where(col(Report.created_at) >= filters.since)
    if after:
        stmt = stmt.where(tuple_(col(Report.created_at), col(Report.id)) < tuple_(*after))
    stmt = stmt.order_by(col(Report.created_at).desc(), col(Report.id).desc()).limit(limit)
    reports = list((await session.execute(stmt)).scalars())
    referrals = await referrals_of(session, [r.id for r in reports])
    for report in reports:
        await audit.record(session, scope, "read", "report", report.id, report.area_code)
    return [to_read(access, r, referrals[r.id], now) for r in reports]


async def list_my_reports(
    session: AsyncSession,
    scope: Scope,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[FiledReportRead]:
    access = report_access(scope)
    stmt = select(Report).where(access.filed)
    if after:
        stmt = stmt.where(tuple_(col(Report.created_at), col(Report.id)) < tuple_(*after))
    stmt = stmt.order_by(col(Report.created_at).desc(), col(Report.id).desc()).limit(limit)
    return [to_filed(r) for r in (await session.execute(stmt)).scalars()]


async def get_my_report(
    session: AsyncSession, scope: Scope, report_id: uuid.UUID
) -> FiledReportRead:
    access = report_access(scope)
    stmt = select(Report).where(col(Report.id) == report_id, access.filed)
    report = (await session.execute(stmt)).scalar_one_or_none()
    if report is None:
        raise NotFound("no such report")
    return to_filed(report)


async def timeline(
    session: AsyncSession, scope: Scope, report_id: uuid.UUID, *, after: int | None, limit: int
) -> list[TimelineEventRead]:
    """The report's events. Outside the county officer's view, the filer's own steps do not
    name them."""
    access = report_access(scope)
    report = await load_report(session, access, report_id)
    await audit.record(session, scope, "read_timeline", "report", report.id, report.area_code)
    hide_filer = not access.sees_reporter(report)
    filer_ids = {report.reporter_user_id, report.reporter_client_id} - {None}
    out = []
    for event, note in await events_of(session, report.id, after=after, limit=limit):
        hidden = hide_filer and event.actor_id in filer_ids
        assert event.id is not None and event.at is not None
        out.append(
            TimelineEventRead(
                id=event.id,
                at=event.at,
                kind=event.kind,
                actor_id=None if hidden else event.actor_id,
                actor_role=CONFIDENTIAL if hidden else event.actor_role,
                referral_id=event.referral_id,
                data=event.data,
                note=note,
            )
        )
    return out


async def summary(session: AsyncSession, scope: Scope) -> ReportSummary:
    """Counts by status and of overdue reports, over what the caller may see."""
    access = report_access(scope)
    now = utcnow()
    rows = (
        await session.execute(
            select(col(Report.status), func.count())
            .where(access.handled)
            .group_by(col(Report.status))
        )
    ).all()
    by_status = {s.value: 0 for s in ReportStatus} | {row[0]: row[1] for row in rows}
    counts = (
        await session.execute(
            select(
                func.count().filter(accept_overdue_clause(now)),
                func.count().filter(referral_overdue_clause(now)),
                func.count().filter(overdue_clause(now)),
            ).where(access.handled, overdue_clause(now))
        )
    ).one()
    return ReportSummary(
        by_status=by_status,
        overdue_accept=counts[0],
        overdue_first_referral=counts[1],
        overdue=counts[2],
    )
