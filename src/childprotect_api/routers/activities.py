"""Care activities (关爱服务/活动台账) and sites (阵地). Rules live in services/activities/."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Query, Request, Response, UploadFile

from childprotect_api.config import Settings
from childprotect_api.core.concurrency import IfMatch, parse_if_match, set_etag
from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import Problem, Unprocessable
from childprotect_api.core.idempotency import IDEMPOTENT, IdempotentRoute
from childprotect_api.core.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    cursor_uuid,
    decode_cursor,
    encode_cursor,
)
from childprotect_api.models.activity import Activity, ActivityKind, Site, SiteKind, SiteStatus
from childprotect_api.schemas.activity import (
    ActivityCreate,
    ActivityRead,
    ActivityUpdate,
    SiteCreate,
    SiteRead,
    SiteUpdate,
)
from childprotect_api.schemas.area import AREA_CODE_PATTERN
from childprotect_api.schemas.attachment import AttachmentRead
from childprotect_api.schemas.common import Page
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services.activities import attachments as photos
from childprotect_api.services.activities import service

router = APIRouter(prefix="/api/v1/activities", tags=["activities"], route_class=IdempotentRoute)
site_router = APIRouter(prefix="/api/v1/sites", tags=["sites"], route_class=IdempotentRoute)


def _errors(
    *codes: int, ok: dict[int | str, dict[str, object]] | None = None
) -> dict[int | str, dict[str, object]]:
    answers: dict[int | str, dict[str, object]] = dict(ok or {})
    answers.update({code: {"model": Problem} for code in (401, 403, 404, 422, *codes)})
    return answers


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
AreaFilter = Annotated[
    str | None, Query(pattern=AREA_CODE_PATTERN, description="Only under this area.")
]


def _activity(response: Response, activity: Activity) -> ActivityRead:
    set_etag(response, activity.version)
    return ActivityRead.model_validate(activity)


def _site(response: Response, site: Site) -> SiteRead:
    set_etag(response, site.version)
    return SiteRead.model_validate(site)


def _date_cursor(cursor: str | None) -> tuple[date, uuid.UUID] | None:
    values = decode_cursor(cursor, 2)
    if values is None:
        return None
    try:
        return date.fromisoformat(str(values[0])), cursor_uuid(values[1])
    except ValueError as e:
        raise Unprocessable.field("cursor", "is not a valid cursor", code="invalid_cursor") from e


# --- activities ---------------------------------------------------------------------------


@router.post(
    "",
    operation_id="createActivity",
    response_model=ActivityRead,
    status_code=201,
    responses=_errors(
        409, ok={200: {"model": ActivityRead, "description": "A retry: the stored activity."}}
    ),
    dependencies=[IDEMPOTENT],
)
async def create_activity(
    scope: CurrentScope, session: SessionDep, response: Response, body: ActivityCreate
) -> ActivityRead:
    """Record an activity held for a village, township or county in scope (staff). Send a
    client-made `id`: a retry with the same content answers the stored activity (200), the
    same id with other content 409. Children, staff and site named must be in scope (422)."""
    activity, created = await service.create_activity(session, scope, body)
    if not created:
        response.status_code = 200
    return _activity(response, activity)


@router.get(
    "", operation_id="listActivities", response_model=Page[ActivityRead], responses=_errors()
)
async def list_activities(
    scope: CurrentScope,
    session: SessionDep,
    kind: ActivityKind | None = None,
    from_: Annotated[date | None, Query(alias="from", description="Held on or after.")] = None,
    to: Annotated[date | None, Query(description="Held on or before.")] = None,
    area: AreaFilter = None,
    site_id: uuid.UUID | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[ActivityRead]:
    """Activities in scope, latest first."""
    rows = await service.list_activities(
        session,
        scope,
        kind=kind,
        from_=from_,
        to=to,
        area=area,
        site_id=site_id,
        limit=limit,
        after=_date_cursor(cursor),
    )
    next_cursor = (
        encode_cursor([rows[-1].held_on.isoformat(), str(rows[-1].id)])
        if len(rows) == limit
        else None
    )
    return Page(items=[ActivityRead.model_validate(a) for a in rows], next_cursor=next_cursor)


@router.get(
    "/{activity_id}",
    operation_id="getActivity",
    response_model=ActivityRead,
    responses=_errors(),
)
async def get_activity(
    scope: CurrentScope, session: SessionDep, response: Response, activity_id: uuid.UUID
) -> ActivityRead:
    """One activity, with its version as `ETag`."""
    return _activity(response, await service.get_activity(session, scope, activity_id))


@router.patch(
    "/{activity_id}",
    operation_id="updateActivity",
    response_model=ActivityRead,
    responses=_errors(409, 412, 428),
)
async def update_activity(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    activity_id: uuid.UUID,
    body: ActivityUpdate,
    if_match: IfMatch = None,
) -> ActivityRead:
    """Edit an activity (`If-Match` with its ETag: 428 without, 412 when stale). A change
    that changes nothing keeps the version."""
    expected = parse_if_match(if_match, required=True)
    assert expected is not None
    activity = await service.update_activity(session, scope, activity_id, body, expected)
    return _activity(response, activity)


@router.post(
    "/{activity_id}/attachments",
    operation_id="uploadActivityAttachment",
    response_model=AttachmentRead,
    status_code=201,
    responses=_errors(
        409,
        413,
        415,
        ok={200: {"model": AttachmentRead, "description": "The same file was already attached."}},
    ),
    dependencies=[IDEMPOTENT],
)
async def upload_attachment(
    scope: CurrentScope,
    session: SessionDep,
    request: Request,
    response: Response,
    activity_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="A JPEG, PNG or PDF (checked by content).")],
) -> AttachmentRead:
    """Attach a photo or scan (sign-in sheet, the event) to an activity: at most 20."""
    settings: Settings = request.app.state.settings
    attachment, created = await photos.add_attachment(
        session, scope, activity_id, file, settings.max_upload_bytes
    )
    response.status_code = 201 if created else 200
    return AttachmentRead.model_validate(attachment)


@router.get(
    "/{activity_id}/attachments",
    operation_id="listActivityAttachments",
    response_model=Page[AttachmentRead],
    responses=_errors(),
)
async def list_attachments(
    scope: CurrentScope, session: SessionDep, activity_id: uuid.UUID
) -> Page[AttachmentRead]:
    """The files of an activity (at most 20, so always one page)."""
    rows = await photos.list_attachments(session, scope, activity_id)
    return Page(items=[AttachmentRead.model_validate(a) for a in rows], next_cursor=None)


@router.get(
    "/{activity_id}/attachments/{attachment_id}",
    operation_id="downloadActivityAttachment",
    response_class=Response,
    responses={
        200: {
            "description": "The file, with its content type.",
            "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **_errors(),
    },
)
async def download_attachment(
    scope: CurrentScope, session: SessionDep, activity_id: uuid.UUID, attachment_id: uuid.UUID
) -> Response:
    """The activity's attached file as it was uploaded: image/jpeg, image/png or application/pdf."""
    return await photos.download_attachment(session, scope, activity_id, attachment_id)


# --- sites --------------------------------------------------------------------------------


@site_router.post(
    "",
    operation_id="createSite",
    response_model=SiteRead,
    status_code=201,
    responses=_errors(
        409, ok={200: {"model": SiteRead, "description": "A retry: the stored site."}}
    ),
    dependencies=[IDEMPOTENT],
)
async def create_site(
    scope: CurrentScope, session: SessionDep, response: Response, body: SiteCreate
) -> SiteRead:
    """Register a site (儿童之家, 未成年人保护工作站, ...) of an area in scope (township
    supervisors and county officers). Idempotent on the client's `id`."""
    site, created = await service.create_site(session, scope, body)
    if not created:
        response.status_code = 200
    return _site(response, site)


@site_router.get("", operation_id="listSites", response_model=Page[SiteRead], responses=_errors())
async def list_sites(
    scope: CurrentScope,
    session: SessionDep,
    kind: SiteKind | None = None,
    status: SiteStatus | None = None,
    area: AreaFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[SiteRead]:
    """Sites in scope (staff)."""
    values = decode_cursor(cursor, 1)
    after = cursor_uuid(values[0]) if values is not None else None
    rows = await service.list_sites(
        session, scope, kind=kind, status=status, area=area, limit=limit, after=after
    )
    next_cursor = encode_cursor([str(rows[-1].id)]) if len(rows) == limit else None
    return Page(items=[SiteRead.model_validate(s) for s in rows], next_cursor=next_cursor)


@site_router.get("/{site_id}", operation_id="getSite", response_model=SiteRead, responses=_errors())
async def get_site(
    scope: CurrentScope, session: SessionDep, response: Response, site_id: uuid.UUID
) -> SiteRead:
    """One site (阵地), with its version as `ETag`."""
    return _site(response, await service.get_site(session, scope, site_id))


@site_router.patch(
    "/{site_id}",
    operation_id="updateSite",
    response_model=SiteRead,
    responses=_errors(412, 428),
)
async def update_site(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    site_id: uuid.UUID,
    body: SiteUpdate,
    if_match: IfMatch = None,
) -> SiteRead:
    """Edit a site, or open/close it (`status`); `If-Match` required."""
    expected = parse_if_match(if_match, required=True)
    assert expected is not None
    return _site(response, await service.update_site(session, scope, site_id, body, expected))
