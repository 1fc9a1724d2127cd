from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import Problem
from childprotect_api.core.idempotency import IDEMPOTENT, IdempotentRoute
from childprotect_api.core.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    cursor_int,
    cursor_time,
    cursor_uuid,
    decode_cursor,
    encode_cursor,
)
from childprotect_api.models.webhook import DeliveryStatus, WebhookAttempt, WebhookDelivery
from childprotect_api.schemas.common import Page
from childprotect_api.schemas.webhook import (
    AttemptRead,
    DeliveryRead,
    WebhookCreate,
    WebhookRead,
    WebhookWithSecret,
)
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services.integrations import webhooks as webhook_service

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], route_class=IdempotentRoute)

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    422: {"model": Problem},
}
WRITE_ERRORS: dict[int | str, dict[str, object]] = {**ERRORS, 409: {"model": Problem}}


def _delivery(d: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryRead:
    return DeliveryRead(
        id=d.id,
        subscription_id=d.subscription_id,
        event_id=d.outbox_event_id,
        event_type=d.event_type,
        status=d.status,
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at if d.status in ("pending", "failed") else None,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
        attempt_log=[AttemptRead.model_validate(a) for a in attempts],
    )


@router.post(
    "",
    operation_id="createWebhook",
    response_model=WebhookWithSecret,
    status_code=201,
    responses=WRITE_ERRORS,
    dependencies=[IDEMPOTENT],
)
async def create_webhook(
    request: Request, scope: CurrentScope, session: SessionDep, body: WebhookCreate
) -> WebhookWithSecret:
    """Subscribe to events (a client for itself; an admin for any client in its area). The
    event types must be allowed by the client's scopes; only events inside the client's area
    are delivered. The answer holds the signing secret, once."""
    sub, secret = await webhook_service.create_subscription(
        session, scope, request.app.state.settings, body
    )
    return WebhookWithSecret(**WebhookRead.model_validate(sub).model_dump(), secret=secret)


@router.get("", operation_id="listWebhooks", response_model=Page[WebhookRead], responses=ERRORS)
async def list_webhooks(
    scope: CurrentScope,
    session: SessionDep,
    client_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[WebhookRead]:
    """The webhook subscriptions, without their secrets."""
    after = decode_cursor(cursor, 2)
    rows = await webhook_service.list_subscriptions(
        session,
        scope,
        client_id=client_id,
        limit=limit,
        after=(cursor_time(after[0]), cursor_uuid(after[1])) if after else None,
    )
    last = rows[-1] if len(rows) == limit else None
    next_cursor = encode_cursor([last.created_at, str(last.id)]) if last else None
    return Page(items=[WebhookRead.model_validate(s) for s in rows], next_cursor=next_cursor)


@router.get(
    "/{webhook_id}", operation_id="getWebhook", response_model=WebhookRead, responses=ERRORS
)
async def get_webhook(
    scope: CurrentScope, session: SessionDep, webhook_id: uuid.UUID
) -> WebhookRead:
    """One webhook subscription, without its secret."""
    return WebhookRead.model_validate(
        await webhook_service.get_subscription(session, scope, webhook_id)
    )


@router.delete("/{webhook_id}", operation_id="deleteWebhook", status_code=204, responses=ERRORS)
async def delete_webhook(
    scope: CurrentScope, session: SessionDep, webhook_id: uuid.UUID
) -> Response:
    """Stop a subscription; deliveries not yet made are dropped."""
    await webhook_service.delete_subscription(session, scope, webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries",
    operation_id="listWebhookDeliveries",
    response_model=Page[DeliveryRead],
    responses=ERRORS,
)
async def list_deliveries(
    scope: CurrentScope,
    session: SessionDep,
    webhook_id: uuid.UUID,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[DeliveryRead]:
    """Deliveries of this subscription, newest event first, each with every attempt."""
    after = decode_cursor(cursor, 1)
    before = cursor_int(after[0]) if after else None
    rows, attempts = await webhook_service.list_deliveries(
        session, scope, webhook_id, status=status, limit=limit, before_event=before
    )
    next_cursor = encode_cursor([rows[-1].outbox_event_id]) if len(rows) == limit else None
    return Page(items=[_delivery(d, attempts[d.id]) for d in rows], next_cursor=next_cursor)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    operation_id="redeliverWebhook",
    response_model=DeliveryRead,
    status_code=202,
    responses=WRITE_ERRORS,
    dependencies=[IDEMPOTENT],
)
async def redeliver(
    scope: CurrentScope, session: SessionDep, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryRead:
    """Send a delivery again (any status), with a new 24-hour retry window."""
    delivery = await webhook_service.redeliver(session, scope, webhook_id, delivery_id)
    return _delivery(delivery, [])
