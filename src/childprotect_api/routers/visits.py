from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Header, Query, Request, Response, UploadFile

from childprotect_api.config import Settings
from childprotect_api.core.db import SessionDep, get_database, request_session
from childprotect_api.core.errors import Problem
from childprotect_api.core.idempotency import IDEMPOTENT, IdempotentRoute
from childprotect_api.core.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    decode_time_id_cursor,
    encode_cursor,
)
from childprotect_api.models.visit import VisitStatus
from childprotect_api.schemas.attachment import AttachmentRead
from childprotect_api.schemas.common import IsoDateTime, Page
from childprotect_api.schemas.visit import VisitCorrection, VisitCreate, VisitRead, VisitReview
from childprotect_api.security.scope import CurrentClaims, CurrentScope, scope_of, token_scope
from childprotect_api.services.visits import at_once as visit_at_once
from childprotect_api.services.visits import attachments as visit_attachments
from childprotect_api.services.visits import service as visit_service

router = APIRouter(prefix="/api/v1/visits", tags=["visits"], route_class=IdempotentRoute)

_P: dict[str, object] = {"model": Problem}
READ_ERRORS: dict[int | str, dict[str, object]] = {401: _P, 403: _P, 404: _P, 422: _P}
WRITE_ERRORS: dict[int | str, dict[str, object]] = {**READ_ERRORS, 409: _P}
GUARDED_ERRORS: dict[int | str, dict[str, object]] = {**WRITE_ERRORS, 412: _P, 428: _P}
UPLOAD_ERRORS: dict[int | str, dict[str, object]] = {**WRITE_ERRORS, 413: _P, 415: _P}

IfMatch = Annotated[
    str | None, Header(description='The visit\'s ETag, e.g. "2" (required: 428 without it).')
]


def _read(response: Response, visit: object) -> VisitRead:
    out = VisitRead.model_validate(visit)
    response.headers["ETag"] = f'"{out.version}"'
    return out


@router.put(
    "/{visit_id}",
    operation_id="createVisit",
    response_model=VisitRead,
    status_code=201,
    responses={
        200: {"model": VisitRead, "description": "The visit was already stored (a retry)."},
        **WRITE_ERRORS,
    },
)
async def create_visit(
    claims: CurrentClaims,
    request: Request,
    visit_id: uuid.UUID,
    body: VisitCreate,
) -> Response:
    """Record a visit under the id the phone generated. A retry with the same content answers
    the stored visit (200); the same id with other content answers 409. The visitor is the
    caller; the child's last visit and next due date move in the same transaction."""
    # A user's visit: one statement, no transaction (services/visits/at_once.py).
    scope = token_scope(request, claims)
    if scope is not None and visit_at_once.covers(scope, visit_id, body):
        done = await visit_at_once.create_visit_at_once(
            get_database(request), request, scope, visit_id, body
        )
        if done is not None:
            status, version, json_body = done
            return Response(
                json_body,
                status_code=status,
                media_type="application/json",
                headers={"ETag": f'"{version}"'},
            )
    # Integration clients, a role or area changed since the token, what the statement does
    # not cover: the request's transaction, the scope by the account's row.
    async with request_session(request) as session:
        scope = await scope_of(request, session, claims)
        visit, created = await visit_service.create_visit(session, scope, visit_id, body)
        out = VisitRead.model_validate(visit)
        return Response(
            out.model_dump_json(),
            status_code=201 if created else 200,
            media_type="application/json",
            headers={"ETag": f'"{out.version}"'},
        )


@router.get("", operation_id="listVisits", response_model=Page[VisitRead], responses=READ_ERRORS)
async def list_visits(
    scope: CurrentScope,
    session: SessionDep,
    child_id: uuid.UUID | None = None,
    visitor_id: uuid.UUID | None = None,
    from_: Annotated[
        IsoDateTime | None, Query(alias="from", description="visited at or after")
    ] = None,
    to: Annotated[IsoDateTime | None, Query(description="visited before")] = None,
    status: VisitStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[VisitRead]:
    """Visits in scope (current versions), newest first."""
    rows = await visit_service.list_visits(
        session,
        scope,
        child_id=child_id,
        visitor_id=visitor_id,
        from_=from_,
        to=to,
        status=status,
        limit=limit,
        after=decode_time_id_cursor(cursor),
    )
    next_cursor = (
        encode_cursor([rows[-1].visited_at.isoformat(), str(rows[-1].id)])
        if len(rows) == limit
        else None
    )
    return Page(items=[VisitRead.model_validate(v) for v in rows], next_cursor=next_cursor)


@router.get("/{visit_id}", operation_id="getVisit", response_model=VisitRead, responses=READ_ERRORS)
async def get_visit(
    scope: CurrentScope, session: SessionDep, response: Response, visit_id: uuid.UUID
) -> VisitRead:
    """One version of a visit (the one with this id; `is_current` says whether it is the
    latest)."""
    return _read(response, await visit_service.get_visit(session, scope, visit_id))


@router.get(
    "/{visit_id}/versions",
    operation_id="listVisitVersions",
    response_model=list[VisitRead],
    responses=READ_ERRORS,
)
async def list_versions(
    scope: CurrentScope, session: SessionDep, visit_id: uuid.UUID
) -> list[VisitRead]:
    """Every version of the visit, the original first."""
    rows = await visit_service.list_versions(session, scope, visit_id)
    return [VisitRead.model_validate(v) for v in rows]


@router.post(
    "/{visit_id}/corrections",
    operation_id="correctVisit",
    response_model=VisitRead,
    status_code=201,
    responses={
        200: {"model": VisitRead, "description": "The correction was already stored."},
        **GUARDED_ERRORS,
    },
    dependencies=[IDEMPOTENT],
)
async def correct_visit(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    visit_id: uuid.UUID,
    body: VisitCorrection,
    if_match: IfMatch = None,
) -> VisitRead:
    """Correct a visit (its visitor): a new version with the client's `id`; the corrected
    version is kept, superseded, and stays readable. Needs If-Match with its ETag."""
    visit, created = await visit_service.correct_visit(session, scope, visit_id, body, if_match)
    response.status_code = 201 if created else 200
    return _read(response, visit)


@router.post(
    "/{visit_id}/review",
    operation_id="reviewVisit",
    response_model=VisitRead,
    responses=GUARDED_ERRORS,
)
async def review_visit(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    visit_id: uuid.UUID,
    body: VisitReview,
    if_match: IfMatch = None,
) -> VisitRead:
    """Accept a submitted visit, or return it to its visitor with a comment (township
    supervisors and county officers). Needs If-Match with the visit's ETag."""
    visit = await visit_service.review_visit(session, scope, visit_id, body, if_match)
    return _read(response, visit)


@router.post(
    "/{visit_id}/attachments",
    operation_id="uploadVisitAttachment",
    response_model=AttachmentRead,
    status_code=201,
    responses={
        200: {"model": AttachmentRead, "description": "The same file was already attached."},
        **UPLOAD_ERRORS,
    },
    dependencies=[IDEMPOTENT],
)
async def upload_attachment(
    scope: CurrentScope,
    session: SessionDep,
    request: Request,
    response: Response,
    visit_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="A JPEG, PNG or PDF (checked by content).")],
) -> AttachmentRead:
    """Attach a photo or scan to a visit (to the visit as a whole: every version shows it).
    Stored in PostgreSQL with its SHA-256, in the request's transaction."""
    settings: Settings = request.app.state.settings
    attachment, created = await visit_attachments.add_attachment(
        session, scope, visit_id, file, settings.max_upload_bytes
    )
    response.status_code = 201 if created else 200
    return AttachmentRead.model_validate(attachment)


@router.get(
    "/{visit_id}/attachments",
    operation_id="listVisitAttachments",
    response_model=Page[AttachmentRead],
    responses=READ_ERRORS,
)
async def list_attachments(
    scope: CurrentScope, session: SessionDep, visit_id: uuid.UUID
) -> Page[AttachmentRead]:
    """The files of a visit (at most 20, so always one page)."""
    rows = await visit_attachments.list_attachments(session, scope, visit_id)
    return Page(items=[AttachmentRead.model_validate(a) for a in rows], next_cursor=None)


@router.get(
    "/{visit_id}/attachments/{attachment_id}",
    operation_id="downloadVisitAttachment",
    response_class=Response,
    responses={
        200: {
            "description": "The file, with its content type.",
            "content": {"image/jpeg": {}, "image/png": {}, "application/pdf": {}},
        },
        **READ_ERRORS,
    },
)
async def download_attachment(
    scope: CurrentScope, session: SessionDep, visit_id: uuid.UUID, attachment_id: uuid.UUID
) -> Response:
    """The attached file (a photo or a scan) as it was uploaded: image/jpeg, image/png or
    application/pdf."""
    return await visit_attachments.download_attachment(session, scope, visit_id, attachment_id)
