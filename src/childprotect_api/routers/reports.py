from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import Problem, Unprocessable
from childprotect_api.core.idempotency import IDEMPOTENT, IdempotentRoute
from childprotect_api.core.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    decode_cursor,
    decode_time_id_cursor,
    encode_cursor,
)
from childprotect_api.models.report import ReportSituation, ReportStatus
from childprotect_api.schemas.area import AREA_CODE_PATTERN
from childprotect_api.schemas.common import IsoDateTime, Page
from childprotect_api.schemas.report import (
    FiledReportRead,
    LinkChild,
    NoteCreate,
    ReferralCreate,
    ReferralRead,
    ReferralStatusUpdate,
    ReportClose,
    ReportCreate,
    ReportRead,
    ReportSummary,
    TimelineEventRead,
)
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services.reports import access as report_access
from childprotect_api.services.reports import intake as reports
from childprotect_api.services.reports import workflow as report_workflow

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], route_class=IdempotentRoute)

_P: dict[str, object] = {"model": Problem}
READ_ERRORS: dict[int | str, dict[str, object]] = {401: _P, 403: _P, 404: _P, 422: _P}
WRITE_ERRORS: dict[int | str, dict[str, object]] = {**READ_ERRORS, 409: _P}
GUARDED_ERRORS: dict[int | str, dict[str, object]] = {**WRITE_ERRORS, 412: _P}
IfMatch = Annotated[
    str | None,
    Header(description="The report's ETag; a stale one answers 412. Optional for commands."),
]


def _etag(response: Response, read: ReportRead) -> ReportRead:
    response.headers["ETag"] = f'"{read.version}"'
    return read


def _after_event(cursor: str | None) -> int | None:
    values = decode_cursor(cursor, 1)
    if values is None:
        return None
    if not isinstance(values[0], int):
        raise Unprocessable.field("cursor", "is not a valid cursor", code="invalid_cursor")
    return values[0]


@router.post(
    "",
    operation_id="createReport",
    response_model=FiledReportRead,
    status_code=201,
    responses={**WRITE_ERRORS, 200: {"model": FiledReportRead, "description": "A retry"}},
    dependencies=[IDEMPOTENT],
)
async def create_report(
    scope: CurrentScope,
    session: SessionDep,
    request: Request,
    response: Response,
    body: ReportCreate,
) -> FiledReportRead:
    """File a mandatory report (强制报告). Answers the filer's view of it; a retry with the
    same id and content answers 200 with the stored report, a different content 409."""
    report, created = await reports.file_report(session, scope, request.app.state.settings, body)
    if not created:
        response.status_code = 200
    return report_access.to_filed(report)


@router.get("", operation_id="listReports", response_model=Page[ReportRead], responses=READ_ERRORS)
async def list_reports(
    scope: CurrentScope,
    session: SessionDep,
    status: ReportStatus | None = None,
    overdue: bool | None = None,
    situation: ReportSituation | None = None,
    area: Annotated[str | None, Query(pattern=AREA_CODE_PATTERN)] = None,
    since: Annotated[
        IsoDateTime | None, Query(description="Filed at or after (ISO 8601 with offset)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[ReportRead]:
    """Reports the caller handles, newest first: a county officer's county; a supervisor's
    or director's area once referred to the local network."""
    rows = await report_access.list_reports(
        session,
        scope,
        report_access.ReportFilters(
            status=status,
            overdue=overdue,
            situation=situation.value if situation else None,
            area=area,
            since=since,
        ),
        limit=limit,
        after=decode_time_id_cursor(cursor),
    )
    next_cursor = (
        encode_cursor([rows[-1].submitted_at.isoformat(), str(rows[-1].id)])
        if len(rows) == limit
        else None
    )
    return Page(items=rows, next_cursor=next_cursor)


@router.get(
    "/summary", operation_id="getReportSummary", response_model=ReportSummary, responses=READ_ERRORS
)
async def get_report_summary(scope: CurrentScope, session: SessionDep) -> ReportSummary:
    """Counts by status and of overdue reports over the reports the caller handles."""
    return await report_access.summary(session, scope)


# A filer's own filings live under their own path: `/reports/mine/{id}` was ambiguous with
# `/reports/{report_id}/...` (both match `/reports/mine/timeline`). The old paths keep
# answering, deprecated and out of the contract.
my_router = APIRouter(prefix="/api/v1/my-reports", tags=["reports"])


@my_router.get(
    "",
    operation_id="listMyReports",
    response_model=Page[FiledReportRead],
    responses=READ_ERRORS,
)
async def list_my_reports(
    scope: CurrentScope,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[FiledReportRead]:
    """The caller's own filings: status and the outcome message, nothing of the handling."""
    rows = await report_access.list_my_reports(
        session, scope, limit=limit, after=decode_time_id_cursor(cursor)
    )
    next_cursor = (
        encode_cursor([rows[-1].submitted_at.isoformat(), str(rows[-1].id)])
        if len(rows) == limit
        else None
    )
    return Page(items=rows, next_cursor=next_cursor)


@my_router.get(
    "/{report_id}",
    operation_id="getMyReport",
    response_model=FiledReportRead,
    responses=READ_ERRORS,
)
async def get_my_report(
    scope: CurrentScope, session: SessionDep, report_id: uuid.UUID
) -> FiledReportRead:
    """One report the caller filed, as the filer sees it."""
    return await report_access.get_my_report(session, scope, report_id)


_DEPRECATED = {"Deprecation": "true", "Link": '</api/v1/my-reports>; rel="successor-version"'}


@router.get(
    "/mine",
    name="listMyReportsDeprecated",
    response_model=Page[FiledReportRead],
    include_in_schema=False,
    deprecated=True,
)
async def list_my_reports_deprecated(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[FiledReportRead]:
    """Deprecated: GET /api/v1/my-reports."""
    response.headers.update(_DEPRECATED)
    return await list_my_reports(scope, session, limit, cursor)


@router.get(
    "/mine/{report_id}",
    name="getMyReportDeprecated",
    response_model=FiledReportRead,
    include_in_schema=False,
    deprecated=True,
)
async def get_my_report_deprecated(
    scope: CurrentScope, session: SessionDep, response: Response, report_id: uuid.UUID
) -> FiledReportRead:
    """Deprecated: GET /api/v1/my-reports/{report_id}."""
    response.headers.update(_DEPRECATED)
    return await get_my_report(scope, session, report_id)


@router.get(
    "/{report_id}", operation_id="getReport", response_model=ReportRead, responses=READ_ERRORS
)
async def get_report(
    scope: CurrentScope, session: SessionDep, response: Response, report_id: uuid.UUID
) -> ReportRead:
    """One report of the caller's county (county officers), with its referrals; `ETag` is its
    version."""
    return _etag(response, await report_access.get_report(session, scope, report_id))


@router.get(
    "/{report_id}/timeline",
    operation_id="getReportTimeline",
    response_model=Page[TimelineEventRead],
    responses=READ_ERRORS,
)
async def get_report_timeline(
    scope: CurrentScope,
    session: SessionDep,
    report_id: uuid.UUID,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[TimelineEventRead]:
    """Every step, oldest first (immutable)."""
    rows = await report_access.timeline(
        session, scope, report_id, after=_after_event(cursor), limit=limit
    )
    next_cursor = encode_cursor([rows[-1].id]) if len(rows) == limit else None
    return Page(items=rows, next_cursor=next_cursor)


@router.post(
    "/{report_id}/accept",
    operation_id="acceptReport",
    response_model=ReportRead,
    responses=GUARDED_ERRORS,
)
async def accept_report(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    report_id: uuid.UUID,
    if_match: IfMatch = None,
) -> ReportRead:
    """submitted -> accepted (county officers)."""
    return _etag(response, await report_workflow.accept(session, scope, report_id, if_match))


@router.post(
    "/{report_id}/referrals",
    operation_id="createReportReferral",
    response_model=ReferralRead,
    status_code=201,
    responses={**GUARDED_ERRORS, 200: {"model": ReferralRead, "description": "A retry"}},
    dependencies=[IDEMPOTENT],
)
async def create_referral(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    report_id: uuid.UUID,
    body: ReferralCreate,
    if_match: IfMatch = None,
) -> ReferralRead:
    """Refer an accepted report (police, procuratorate, ..., or the local network: the
    township supervisor and village director then see it). Several referrals allowed."""
    referral, created = await report_workflow.refer(session, scope, report_id, body, if_match)
    if not created:
        response.status_code = 200
    return referral


@router.post(
    "/{report_id}/referrals/{referral_id}/status",
    operation_id="updateReportReferralStatus",
    response_model=ReferralRead,
    responses=WRITE_ERRORS,
)
async def update_referral_status(
    scope: CurrentScope,
    session: SessionDep,
    report_id: uuid.UUID,
    referral_id: uuid.UUID,
    body: ReferralStatusUpdate,
) -> ReferralRead:
    """sent -> acknowledged -> in_progress -> completed | declined."""
    return await report_workflow.update_referral_status(
        session, scope, report_id, referral_id, body
    )


@router.post(
    "/{report_id}/notes",
    operation_id="createReportNote",
    response_model=TimelineEventRead,
    status_code=201,
    responses={**WRITE_ERRORS, 200: {"model": TimelineEventRead, "description": "A retry"}},
    dependencies=[IDEMPOTENT],
)
async def create_note(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    report_id: uuid.UUID,
    body: NoteCreate,
) -> TimelineEventRead:
    """Add a note to a report's timeline (county officers)."""
    event, created = await report_workflow.add_note(session, scope, report_id, body)
    if not created:
        response.status_code = 200
    return event


@router.post(
    "/{report_id}/link-child",
    operation_id="linkReportChild",
    response_model=ReportRead,
    responses=GUARDED_ERRORS,
)
async def link_child(
    scope: CurrentScope,
    session: SessionDep,
    request: Request,
    response: Response,
    report_id: uuid.UUID,
    body: LinkChild,
    if_match: IfMatch = None,
) -> ReportRead:
    """Link a registered child of the county found later, or register one from the report
    (`register`, by the registry's rules: 409 `duplicate_child`, 404 for a village outside
    your area) and link it; the child is raised to red."""
    data_key: str = request.app.state.settings.data_key
    return _etag(
        response,
        await report_workflow.link_child(session, scope, report_id, body, if_match, data_key),
    )


@router.post(
    "/{report_id}/close",
    operation_id="closeReport",
    response_model=ReportRead,
    responses=GUARDED_ERRORS,
)
async def close_report(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    report_id: uuid.UUID,
    body: ReportClose,
    if_match: IfMatch = None,
) -> ReportRead:
    """Close with an outcome and the message the reporter is told."""
    return _etag(response, await report_workflow.close(session, scope, report_id, body, if_match))
