"""Category decisions (认定/减员) and benefit payments (发放). Rules live in services/benefits/."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from childprotect_api.core.concurrency import IfMatch, parse_if_match, set_etag
from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import Problem, Unprocessable
from childprotect_api.core.idempotency import IDEMPOTENT, IdempotentRoute
from childprotect_api.core.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    cursor_uuid,
    decode_cursor,
    decode_time_id_cursor,
    encode_cursor,
)
from childprotect_api.models.benefit import (
    ApplicationStatus,
    BenefitCategory,
    CategoryApplication,
    PaymentKind,
    RemovalReason,
)
from childprotect_api.schemas.area import AREA_CODE_PATTERN
from childprotect_api.schemas.benefit import (
    PERIOD_PATTERN,
    BenefitPaymentBatch,
    BenefitPaymentBatchResult,
    BenefitPaymentRead,
    CategoryApplicationCreate,
    CategoryApplicationDecision,
    CategoryApplicationEventRead,
    CategoryApplicationRead,
    CategoryApplicationReview,
    CategoryRemovalCreate,
    CategoryRemovalRead,
)
from childprotect_api.schemas.common import Page
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services.benefits import applications, payments, removals

DECISIONS = "category decisions"
child_router = APIRouter(
    prefix="/api/v1/children/{child_id}", tags=[DECISIONS], route_class=IdempotentRoute
)
application_router = APIRouter(
    prefix="/api/v1/category-applications", tags=[DECISIONS], route_class=IdempotentRoute
)
removal_router = APIRouter(prefix="/api/v1/category-removals", tags=[DECISIONS])
payment_router = APIRouter(
    prefix="/api/v1/benefit-payments", tags=["benefit payments"], route_class=IdempotentRoute
)


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


def _application(response: Response, app: CategoryApplication) -> CategoryApplicationRead:
    set_etag(response, app.version)
    return CategoryApplicationRead.model_validate(app)


def _date_cursor(cursor: str | None) -> tuple[date, uuid.UUID] | None:
    values = decode_cursor(cursor, 2)
    if values is None:
        return None
    try:
        return date.fromisoformat(str(values[0])), cursor_uuid(values[1])
    except ValueError as e:
        raise Unprocessable.field("cursor", "is not a valid cursor", code="invalid_cursor") from e


def _month(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(f"{value}-01")


# --- applications ---------------------------------------------------------------------------


@child_router.post(
    "/category-applications",
    operation_id="createCategoryApplication",
    response_model=CategoryApplicationRead,
    status_code=201,
    responses=_errors(
        409,
        ok={200: {"model": CategoryApplicationRead, "description": "A retry: the stored one."}},
    ),
    dependencies=[IDEMPOTENT],
)
async def create_application(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    child_id: uuid.UUID,
    body: CategoryApplicationCreate,
) -> CategoryApplicationRead:
    """File an application (认定申请) for a benefit category of a child in scope, with its
    basis (staff). The township reviews it, the county decides; approval adds the category.
    A client-made `id`: a retry answers the stored application (200). 409 when the child
    already holds the category or an application for it is under way."""
    app, created = await applications.create_application(session, scope, child_id, body)
    if not created:
        response.status_code = 200
    return _application(response, app)


@application_router.get(
    "",
    operation_id="listCategoryApplications",
    response_model=Page[CategoryApplicationRead],
    responses=_errors(),
)
async def list_applications(
    scope: CurrentScope,
    session: SessionDep,
    status: ApplicationStatus | None = None,
    category: BenefitCategory | None = None,
    child_id: uuid.UUID | None = None,
    area: AreaFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[CategoryApplicationRead]:
    """Applications in scope, latest first (`status=submitted`: the township's queue,
    `status=agreed`: the county's). Granted-before-the-record categories are listed with
    `source=pre_existing`."""
    rows = await applications.list_applications(
        session,
        scope,
        status=status,
        category=category,
        child_id=child_id,
        area=area,
        limit=limit,
        after=decode_time_id_cursor(cursor),
    )
    next_cursor = None
    if len(rows) == limit and rows[-1].created_at is not None:
        next_cursor = encode_cursor([rows[-1].created_at.isoformat(), str(rows[-1].id)])
    return Page(
        items=[CategoryApplicationRead.model_validate(a) for a in rows], next_cursor=next_cursor
    )


@application_router.get(
    "/{application_id}",
    operation_id="getCategoryApplication",
    response_model=CategoryApplicationRead,
    responses=_errors(),
)
async def get_application(
    scope: CurrentScope, session: SessionDep, response: Response, application_id: uuid.UUID
) -> CategoryApplicationRead:
    """One application, with its version as `ETag`."""
    return _application(
        response, await applications.get_application(session, scope, application_id)
    )


@application_router.get(
    "/{application_id}/timeline",
    operation_id="getCategoryApplicationTimeline",
    response_model=list[CategoryApplicationEventRead],
    responses=_errors(),
)
async def get_timeline(
    scope: CurrentScope, session: SessionDep, application_id: uuid.UUID
) -> list[CategoryApplicationEventRead]:
    """Every step of the application, oldest first (filed, agreed/returned,
    approved/rejected; `recorded` for a grant written down without the steps)."""
    events = await applications.timeline(session, scope, application_id)
    return [CategoryApplicationEventRead.model_validate(e) for e in events]


@application_router.post(
    "/{application_id}/review",
    operation_id="reviewCategoryApplication",
    response_model=CategoryApplicationRead,
    responses=_errors(409, 412),
)
async def review_application(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    application_id: uuid.UUID,
    body: CategoryApplicationReview,
    if_match: IfMatch = None,
) -> CategoryApplicationRead:
    """The township's review (township supervisors; county officers may too): `agree` sends
    it to the county, `return` (with a note) sends it back. 409 unless it awaits review;
    `If-Match` optional (412 when stale)."""
    expected = parse_if_match(if_match, required=False)
    app = await applications.review_application(session, scope, application_id, body, expected)
    return _application(response, app)


@application_router.post(
    "/{application_id}/decision",
    operation_id="decideCategoryApplication",
    response_model=CategoryApplicationRead,
    responses=_errors(409, 412),
)
async def decide_application(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    application_id: uuid.UUID,
    body: CategoryApplicationDecision,
    if_match: IfMatch = None,
) -> CategoryApplicationRead:
    """The county's decision (county officers) on an application the township agreed to:
    `approve` adds the category to the child at once, `reject` ends it."""
    expected = parse_if_match(if_match, required=False)
    app = await applications.decide_application(session, scope, application_id, body, expected)
    return _application(response, app)


# --- removals -------------------------------------------------------------------------------


@child_router.post(
    "/category-removals",
    operation_id="createCategoryRemoval",
    response_model=CategoryRemovalRead,
    status_code=201,
    responses=_errors(
        409, ok={200: {"model": CategoryRemovalRead, "description": "A retry: the stored one."}}
    ),
    dependencies=[IDEMPOTENT],
)
async def create_removal(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    child_id: uuid.UUID,
    body: CategoryRemovalCreate,
) -> CategoryRemovalRead:
    """Remove a benefit category from a child (减员, county officers) with the reason and the
    date; the category leaves the record at once. 409 if the child does not hold it."""
    removal, created = await removals.create_removal(session, scope, child_id, body)
    if not created:
        response.status_code = 200
    return CategoryRemovalRead.model_validate(removal)


@removal_router.get(
    "",
    operation_id="listCategoryRemovals",
    response_model=Page[CategoryRemovalRead],
    responses=_errors(),
)
async def list_removals(
    scope: CurrentScope,
    session: SessionDep,
    category: BenefitCategory | None = None,
    reason: RemovalReason | None = None,
    child_id: uuid.UUID | None = None,
    from_: Annotated[date | None, Query(alias="from", description="Removed on or after.")] = None,
    to: Annotated[date | None, Query(description="Removed on or before.")] = None,
    area: AreaFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[CategoryRemovalRead]:
    """Removals in scope, latest first."""
    rows = await removals.list_removals(
        session,
        scope,
        category=category,
        reason=reason,
        child_id=child_id,
        from_=from_,
        to=to,
        area=area,
        limit=limit,
        after=_date_cursor(cursor),
    )
    next_cursor = (
        encode_cursor([rows[-1].removed_on.isoformat(), str(rows[-1].id)])
        if len(rows) == limit
        else None
    )
    return Page(
        items=[CategoryRemovalRead.model_validate(r) for r in rows], next_cursor=next_cursor
    )


# --- payments -------------------------------------------------------------------------------


@payment_router.post(
    "",
    operation_id="recordBenefitPayments",
    response_model=BenefitPaymentBatchResult,
    responses=_errors(),
    dependencies=[IDEMPOTENT],
)
async def record_payments(
    scope: CurrentScope, session: SessionDep, body: BenefitPaymentBatch
) -> BenefitPaymentBatchResult:
    """Record a batch of payments (county officers, `subsidies:write` clients): at most 500
    items, each with a client-made `id`, `period` (YYYY-MM, monthly) or `paid_on` (one-off)
    and `amount` ("1050.00"). Each item answers on its own: `created`, `unchanged` (a replay
    of the same item) or `error` with a code (`unknown_child` also for a child outside your
    scope, `id_conflict`, `duplicate_item`, `period_in_future`)."""
    return await payments.record_batch(session, scope, body)


@payment_router.get(
    "",
    operation_id="listBenefitPayments",
    response_model=Page[BenefitPaymentRead],
    responses=_errors(),
)
async def list_payments(
    scope: CurrentScope,
    session: SessionDep,
    child_id: uuid.UUID | None = None,
    kind: PaymentKind | None = None,
    from_period: Annotated[
        str | None, Query(pattern=PERIOD_PATTERN, description="From this month (YYYY-MM).")
    ] = None,
    to_period: Annotated[
        str | None, Query(pattern=PERIOD_PATTERN, description="Up to this month (YYYY-MM).")
    ] = None,
    area: AreaFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[BenefitPaymentRead]:
    """Payments in scope, latest month first (a one-off counts in the month of `paid_on`)."""
    rows = await payments.list_payments(
        session,
        scope,
        child_id=child_id,
        kind=kind,
        from_period=_month(from_period),
        to_period=_month(to_period),
        area=area,
        limit=limit,
        after=_date_cursor(cursor),
    )
    next_cursor = (
        encode_cursor([rows[-1].month.isoformat(), str(rows[-1].id)])
        if len(rows) == limit
        else None
    )
    return Page(items=[BenefitPaymentRead.model_validate(p) for p in rows], next_cursor=next_cursor)
