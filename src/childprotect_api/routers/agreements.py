"""Entrusted-care agreements (委托照护协议): drafts under a child, signatures, termination,
scans, and the follow-up lists. Thin: the rules are in services/agreement*.py."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Header, Query, Request, Response, UploadFile

from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import PreconditionRequired, Problem, Unprocessable
from childprotect_api.core.idempotency import IDEMPOTENT, IdempotentRoute
from childprotect_api.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from childprotect_api.models.agreement import Agreement, AgreementStatus
from childprotect_api.schemas.agreement import (
    AgreementCreate,
    AgreementGaps,
    AgreementRead,
    AgreementStatusChangeRead,
    AgreementUpdate,
    ChildGapPage,
    EndingSoonPage,
    GapKind,
    SignatureCreate,
    TerminateRequest,
)
from childprotect_api.schemas.area import AREA_CODE_PATTERN
from childprotect_api.schemas.attachment import AttachmentRead
from childprotect_api.schemas.common import Page
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services.agreements import attachments as scans
from childprotect_api.services.agreements import lifecycle, lists, service
from childprotect_api.services.agreements.expiry import EXPIRING_WINDOW_DAYS, china_today
from childprotect_api.services.attachments import download

child_router = APIRouter(
    prefix="/api/v1/children", tags=["agreements"], route_class=IdempotentRoute
)
router = APIRouter(prefix="/api/v1/agreements", tags=["agreements"], route_class=IdempotentRoute)


def _errors(
    *codes: int, ok: dict[int | str, dict[str, object]] | None = None
) -> dict[int | str, dict[str, object]]:
    answers: dict[int | str, dict[str, object]] = dict(ok or {})
    answers.update({code: {"model": Problem} for code in (401, 403, 404, 422, *codes)})
    return answers


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
AreaFilter = Annotated[str | None, Query(pattern=AREA_CODE_PATTERN)]
IfMatch = Annotated[
    str | None,
    Header(description="The ETag of the version the change is based on (412 when stale)."),
]


def _expected_version(if_match: str | None, *, required: bool) -> int | None:
    """The version an `If-Match` names (-1 for an unparsable one, which never matches)."""
    if if_match is None or not if_match.strip():
        if required:
            raise PreconditionRequired(
                "send If-Match with the agreement's ETag", code="if_match_required"
            )
        return None
    tag = if_match.split(",")[0].strip().removeprefix("W/").strip('"')
    return int(tag) if tag.isdigit() else -1


def _answer(response: Response, agreement: Agreement) -> AgreementRead:
    response.headers["ETag"] = f'"{agreement.version}"'
    return AgreementRead.from_row(agreement, china_today())


def _date_cursor(cursor: str | None, field: str = "cursor") -> tuple[date, uuid.UUID] | None:
    after = decode_cursor(cursor, 2)
    if after is None:
        return None
    try:
        return date.fromisoformat(str(after[0])), uuid.UUID(str(after[1]))
    except ValueError as e:
        raise Unprocessable.field(field, "is not a valid cursor", code="invalid_cursor") from e


def _area_cursor(cursor: str | None, field: str) -> tuple[str, uuid.UUID] | None:
    after = decode_cursor(cursor, 2)
    if after is None:
        return None
    try:
        return str(after[0]), uuid.UUID(str(after[1]))
    except ValueError as e:
        raise Unprocessable.field(field, "is not a valid cursor", code="invalid_cursor") from e


def _next(rows: list[Agreement], limit: int, key: str) -> str | None:
    if len(rows) < limit:
        return None
    return encode_cursor([getattr(rows[-1], key).isoformat(), str(rows[-1].id)])


@child_router.post(
    "/{child_id}/agreements",
    operation_id="createAgreement",
    response_model=AgreementRead,
    status_code=201,
    responses=_errors(
        409, ok={200: {"model": AgreementRead, "description": "A retry: the stored draft."}}
    ),
    dependencies=[IDEMPOTENT],
)
async def create_agreement(
    scope: CurrentScope,
    session: SessionDep,
    request: Request,
    response: Response,
    child_id: uuid.UUID,
    body: AgreementCreate,
) -> AgreementRead:
    """Draft an agreement for a child whose parent works away. Send a client-made `id` so an
    offline retry answers the stored draft (200) instead of a second one."""
    data_key = request.app.state.settings.data_key
    agreement, created = await service.create(session, scope, data_key, child_id, body)
    if not created:
        response.status_code = 200
    return _answer(response, agreement)


@child_router.get(
    "/{child_id}/agreements",
    operation_id="listChildAgreements",
    response_model=Page[AgreementRead],
    responses=_errors(),
)
async def list_child_agreements(
    scope: CurrentScope,
    session: SessionDep,
    child_id: uuid.UUID,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[AgreementRead]:
    """A child's agreements, newest start first."""
    rows = await lists.list_for_child(
        session, scope, child_id, limit=limit, after=_date_cursor(cursor)
    )
    today = china_today()
    return Page(
        items=[AgreementRead.from_row(a, today) for a in rows],
        next_cursor=_next(rows, limit, "starts_on"),
    )


@router.get(
    "", operation_id="listAgreements", response_model=Page[AgreementRead], responses=_errors()
)
async def list_agreements(
    scope: CurrentScope,
    session: SessionDep,
    status: AgreementStatus | None = None,
    expiring_within_days: Annotated[
        int | None, Query(ge=0, le=366, description="Active agreements ending within N days.")
    ] = None,
    area: AreaFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[AgreementRead]:
    """Agreements in scope, soonest end first. `status=active` excludes agreements whose end
    has passed (they read as `expired`)."""
    today = china_today()
    rows = await lists.list_agreements(
        session,
        scope,
        today,
        status=status,
        expiring_within_days=expiring_within_days,
        area=area,
        limit=limit,
        after=_date_cursor(cursor),
    )
    return Page(
        items=[AgreementRead.from_row(a, today) for a in rows],
        next_cursor=_next(rows, limit, "ends_on"),
    )


@router.get(
    "/gaps", operation_id="listAgreementGaps", response_model=AgreementGaps, responses=_errors()
)
async def list_agreement_gaps(
    scope: CurrentScope,
    session: SessionDep,
    within_days: Annotated[int, Query(ge=1, le=366)] = EXPIRING_WINDOW_DAYS,
    kind: Annotated[GapKind | None, Query(description="Only this list (default both).")] = None,
    area: AreaFilter = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Per list.")] = DEFAULT_LIMIT,
    children_cursor: str | None = None,
    ending_cursor: str | None = None,
) -> AgreementGaps:
    """一人一协议 follow-up: left-behind children in scope with no active agreement, and
    active agreements ending within `within_days`. Each list pages with its own cursor."""
    today = china_today()
    children = ChildGapPage(items=[])
    ending = EndingSoonPage(items=[])
    if kind in (None, GapKind.no_active_agreement):
        child_after = _area_cursor(children_cursor, "children_cursor")
        gaps = await lists.children_without_agreement(
            session, scope, today, area=area, limit=limit, after=child_after
        )
        children.items = gaps
        if len(gaps) == limit:
            children.next_cursor = encode_cursor([gaps[-1].area_code, str(gaps[-1].child_id)])
    if kind in (None, GapKind.ending_soon):
        rows = await lists.ending_soon(
            session,
            scope,
            today,
            within_days=within_days,
            area=area,
            limit=limit,
            after=_date_cursor(ending_cursor, "ending_cursor"),
        )
        ending.items = [AgreementRead.from_row(a, today) for a in rows]
        ending.next_cursor = _next(rows, limit, "ends_on")
    return AgreementGaps(
        as_of=today, within_days=within_days, no_active_agreement=children, ending_soon=ending
    )


@router.get(
    "/{agreement_id}",
    operation_id="getAgreement",
    response_model=AgreementRead,
    responses=_errors(),
)
async def get_agreement(
    scope: CurrentScope, session: SessionDep, response: Response, agreement_id: uuid.UUID
) -> AgreementRead:
    """One agreement, with its version as `ETag`."""
    return _answer(response, await service.get(session, scope, agreement_id))


@router.patch(
    "/{agreement_id}",
    operation_id="updateAgreement",
    response_model=AgreementRead,
    responses=_errors(409, 412, 428),
)
async def update_agreement(
    scope: CurrentScope,
    session: SessionDep,
    request: Request,
    response: Response,
    agreement_id: uuid.UUID,
    body: AgreementUpdate,
    if_match: IfMatch = None,
) -> AgreementRead:
    """Edit a draft (`If-Match` required). Active, expired and terminated agreements are not
    editable (409 `not_editable`)."""
    expected = _expected_version(if_match, required=True)
    assert expected is not None
    data_key = request.app.state.settings.data_key
    agreement = await service.update(session, scope, data_key, agreement_id, body, expected)
    return _answer(response, agreement)


@router.post(
    "/{agreement_id}/signatures",
    operation_id="signAgreement",
    response_model=AgreementRead,
    responses=_errors(409, 412),
)
async def sign_agreement(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    agreement_id: uuid.UUID,
    body: SignatureCreate,
    if_match: IfMatch = None,
) -> AgreementRead:
    """Record one party's signature. The fourth activates the agreement, which needs every
    checklist item confirmed (422 `checklist_incomplete`) and no other active agreement for
    the child (409 `active_agreement_exists`). The township signs by a township supervisor or
    county officer only (403 `signature_not_allowed`). `If-Match` is optional."""
    expected = _expected_version(if_match, required=False)
    agreement = await lifecycle.sign(session, scope, agreement_id, body, expected)
    return _answer(response, agreement)


@router.post(
    "/{agreement_id}/terminate",
    operation_id="terminateAgreement",
    response_model=AgreementRead,
    responses=_errors(409, 412),
)
async def terminate_agreement(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    agreement_id: uuid.UUID,
    body: TerminateRequest,
    if_match: IfMatch = None,
) -> AgreementRead:
    """End an active agreement early, with a reason (township supervisors, county officers).
    `If-Match` is optional."""
    expected = _expected_version(if_match, required=False)
    agreement = await lifecycle.terminate(session, scope, agreement_id, body, expected)
    return _answer(response, agreement)


@router.get(
    "/{agreement_id}/history",
    operation_id="listAgreementStatusChanges",
    response_model=list[AgreementStatusChangeRead],
    responses=_errors(),
)
async def list_agreement_status_changes(
    scope: CurrentScope, session: SessionDep, agreement_id: uuid.UUID
) -> list[AgreementStatusChangeRead]:
    """Every status change of the agreement, oldest first (a handful per agreement)."""
    rows = await service.history(session, scope, agreement_id)
    return [AgreementStatusChangeRead.model_validate(r) for r in rows]


@router.post(
    "/{agreement_id}/attachments",
    operation_id="uploadAgreementAttachment",
    response_model=AttachmentRead,
    status_code=201,
    responses=_errors(
        413, 415, ok={200: {"model": AttachmentRead, "description": "The same file again."}}
    ),
    dependencies=[IDEMPOTENT],
)
async def upload_agreement_attachment(
    scope: CurrentScope,
    session: SessionDep,
    request: Request,
    response: Response,
    agreement_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="A scan of the signed paper: JPEG, PNG or PDF")],
) -> AttachmentRead:
    """Attach a scan of the signed agreement (type checked by content, size-limited; the same
    file twice answers the stored one)."""
    max_bytes = request.app.state.settings.max_upload_bytes
    attachment, created = await scans.attach(session, scope, agreement_id, file, max_bytes)
    if not created:
        response.status_code = 200
    return AttachmentRead.model_validate(attachment)


@router.get(
    "/{agreement_id}/attachments",
    operation_id="listAgreementAttachments",
    response_model=list[AttachmentRead],
    responses=_errors(),
)
async def list_agreement_attachments(
    scope: CurrentScope, session: SessionDep, agreement_id: uuid.UUID
) -> list[AttachmentRead]:
    """The scans attached to the agreement (a handful each)."""
    rows = await scans.list_attachments(session, scope, agreement_id)
    return [AttachmentRead.model_validate(a) for a in rows]


@router.get(
    "/{agreement_id}/attachments/{attachment_id}",
    operation_id="downloadAgreementAttachment",
    response_class=Response,
    responses=_errors(
        ok={200: {"content": {"image/jpeg": {}, "image/png": {}, "application/pdf": {}}}}
    ),
)
async def download_agreement_attachment(
    scope: CurrentScope, session: SessionDep, agreement_id: uuid.UUID, attachment_id: uuid.UUID
) -> Response:
    """The agreement's scan as it was uploaded: image/jpeg, image/png or application/pdf."""
    return download(await scans.get_attachment(session, scope, agreement_id, attachment_id))
