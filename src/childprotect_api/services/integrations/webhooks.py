"""Webhook subscriptions of integration clients, which events each may receive, and the
visible delivery log with manual redelivery. The worker that delivers is webhook_worker.py."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.config import Settings
from childprotect_api.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from childprotect_api.models.base import utcnow
from childprotect_api.models.client import ClientScope, IntegrationClient
from childprotect_api.models.webhook import (
    OPEN_STATUSES,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEventType,
    WebhookSubscription,
)
from childprotect_api.schemas.webhook import WebhookCreate
from childprotect_api.security import crypto, netguard
from childprotect_api.security.scope import Action, Scope, apply_scope
from childprotect_api.services.integrations import clients as client_service

# The OAuth2 scope a client needs to receive each event type.
EVENT_SCOPES: dict[str, str] = {
    WebhookEventType.report_submitted: ClientScope.reports_read,
    WebhookEventType.report_overdue: ClientScope.reports_read,
    WebhookEventType.child_risk_raised: ClientScope.children_read,
    WebhookEventType.child_transferred: ClientScope.children_read,
    WebhookEventType.visit_overdue: ClientScope.children_read,
    WebhookEventType.agreement_expiring: ClientScope.children_read,
}
RETRY_WINDOW = timedelta(hours=24)
MAX_SUBSCRIPTIONS_PER_CLIENT = 10
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)


def may_receive(
    client_area: str,
    client_scopes: list[str] | frozenset[str],
    event_type: str,
    event_area: str | None,
) -> bool:
    """THE rule for who receives an event: the event's area lies inside the client's area,
    and the client holds the scope its type needs. Events without an area go to no one."""
    needed = EVENT_SCOPES.get(event_type)
    if needed is None or needed not in client_scopes:
        return False
    return bool(event_area) and bool(client_area) and str(event_area).startswith(client_area)


def check_url(url: str, settings: Settings) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    if host is None or parts.scheme not in ("https", "http"):
        raise Unprocessable.field("url", "must be an absolute https:// URL", code="invalid_url")
    if parts.username or parts.password:
        raise Unprocessable.field("url", "must not carry credentials", code="invalid_url")
    if parts.scheme == "http" and not (settings.env in ("local", "test") and host in LOCAL_HOSTS):
        raise Unprocessable.field("url", "must use https", code="insecure_url")
    try:
        netguard.check_literal(host, settings.webhook_allowed_networks)
    except netguard.RefusedAddress:
        raise Unprocessable.field(
            "url",
            "must not point to a loopback, private, link-local, multicast or reserved address",
            code="forbidden_address",
        ) from None
    return url


def secret_context(subscription_id: uuid.UUID) -> bytes:
    return b"webhook:" + subscription_id.bytes


def signing_secret(settings: Settings, sub: WebhookSubscription) -> str:
    return crypto.decrypt(settings.data_key, sub.secret_enc, context=secret_context(sub.id))


def _visible(scope: Scope, stmt: Select[Any]) -> Select[Any]:
    """Clients see their own subscriptions; admins those of the clients in their area."""
    if scope.is_client:
        return stmt.where(col(WebhookSubscription.client_id) == scope.actor_id)
    scope.require(Action.clients_manage)
    stmt = stmt.join(
        IntegrationClient, col(IntegrationClient.id) == col(WebhookSubscription.client_id)
    )
    return apply_scope(stmt, scope, IntegrationClient.area_code)


async def _target(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID | None
) -> tuple[uuid.UUID, frozenset[str]]:
    """The client a new subscription is for, and the scopes that limit its event types."""
    if scope.is_client:
        if client_id is not None and client_id != scope.actor_id:
            raise NotFound("no such client")
        return scope.actor_id, scope.scopes
    scope.require(Action.clients_manage)
    if client_id is None:
        raise Unprocessable.field("client_id", "is required for admins", code="required")
    client = await client_service.get_client(session, scope, client_id)
    if not client.is_active:
        raise Conflict("the client is disabled", code="client_disabled")
    return client.id, frozenset(client.scopes)


async def create_subscription(
    session: AsyncSession, scope: Scope, settings: Settings, data: WebhookCreate
) -> tuple[WebhookSubscription, str]:
    """Answer the subscription and its signing secret (shown once)."""
    client_id, scopes = await _target(session, scope, data.client_id)
    for event_type in data.event_types:
        needed = EVENT_SCOPES[event_type]
        if needed not in scopes:
            raise Forbidden(
                f"the event type {event_type.value} needs the scope {needed}",
                code="missing_scope",
                extra={"missing_scope": needed},
            )
    url = check_url(data.url, settings)
    # Lock the client row so two concurrent creations cannot both pass the limit.
    await session.execute(
        select(col(IntegrationClient.id))
        .where(col(IntegrationClient.id) == client_id)
        .with_for_update()
    )
    count = (
        await session.execute(
            select(func.count())
            .select_from(WebhookSubscription)
            .where(
                col(WebhookSubscription.client_id) == client_id,
                col(WebhookSubscription.deleted_at).is_(None),
            )
        )
    ).scalar_one()
    if count >= MAX_SUBSCRIPTIONS_PER_CLIENT:
        raise Conflict(
            f"a client may have at most {MAX_SUBSCRIPTIONS_PER_CLIENT} subscriptions",
            code="subscription_limit",
        )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    sub_id = uuid.uuid4()
    sub = WebhookSubscription(
        id=sub_id,
        client_id=client_id,
        url=url,
        event_types=[e.value for e in data.event_types],
        secret_enc=crypto.encrypt(settings.data_key, secret, context=secret_context(sub_id)),
    )
    session.add(sub)
    await session.flush()
    return sub, secret


async def get_subscription(
    session: AsyncSession, scope: Scope, sub_id: uuid.UUID
) -> WebhookSubscription:
    stmt = _visible(
        scope,
        select(WebhookSubscription).where(
            col(WebhookSubscription.id) == sub_id, col(WebhookSubscription.deleted_at).is_(None)
        ),
    )
    sub = (await session.execute(stmt)).scalar_one_or_none()
    if sub is None:
        raise NotFound("no such webhook subscription")
    return sub


async def list_subscriptions(
    session: AsyncSession,
    scope: Scope,
    *,
    client_id: uuid.UUID | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[WebhookSubscription]:
    stmt = _visible(
        scope, select(WebhookSubscription).where(col(WebhookSubscription.deleted_at).is_(None))
    )
    if client_id is not None:
        stmt = stmt.where(col(WebhookSubscription.client_id) == client_id)
    if after:
        stmt = stmt.where(
            tuple_(col(WebhookSubscription.created_at), col(WebhookSubscription.id))
            > tuple_(after[0], after[1])
        )
    stmt = stmt.order_by(col(WebhookSubscription.created_at), col(WebhookSubscription.id))
    return list((await session.execute(stmt.limit(limit))).scalars())


async def delete_subscription(session: AsyncSession, scope: Scope, sub_id: uuid.UUID) -> None:
    """Stop a subscription. Its delivery log stays (as history); open deliveries die."""
    sub = await get_subscription(session, scope, sub_id)
    now = utcnow()
    sub.is_active = False
    sub.deleted_at = now
    await session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.subscription_id) == sub.id,
            col(WebhookDelivery.status).in_([s.value for s in OPEN_STATUSES]),
        )
        .values(status=DeliveryStatus.dead.value, last_error="subscription deleted")
    )
    await session.flush()


async def list_deliveries(
    session: AsyncSession,
    scope: Scope,
    sub_id: uuid.UUID,
    *,
    status: DeliveryStatus | None,
    limit: int,
    before_event: int | None,
) -> tuple[list[WebhookDelivery], dict[uuid.UUID, list[WebhookAttempt]]]:
    """Newest events first, each with its attempts."""
    sub = await get_subscription(session, scope, sub_id)
    stmt = select(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == sub.id)
    if status is not None:
        stmt = stmt.where(col(WebhookDelivery.status) == status.value)
    if before_event is not None:
        stmt = stmt.where(col(WebhookDelivery.outbox_event_id) < before_event)
    stmt = stmt.order_by(col(WebhookDelivery.outbox_event_id).desc()).limit(limit)
    rows = list((await session.execute(stmt)).scalars())
    attempts: dict[uuid.UUID, list[WebhookAttempt]] = {d.id: [] for d in rows}
    if rows:
        found = await session.execute(
            select(WebhookAttempt)
            .where(col(WebhookAttempt.delivery_id).in_(list(attempts)))
            .order_by(col(WebhookAttempt.id))
        )
        for a in found.scalars():
            attempts[a.delivery_id].append(a)
    return rows, attempts


async def redeliver(
    session: AsyncSession, scope: Scope, sub_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Queue a delivery again (whatever its status) with a fresh retry window."""
    sub = await get_subscription(session, scope, sub_id)
    delivery = (
        await session.execute(
            select(WebhookDelivery)
            .where(
                col(WebhookDelivery.id) == delivery_id,
                col(WebhookDelivery.subscription_id) == sub.id,
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if delivery is None:
        raise NotFound("no such delivery")
    now = utcnow()
    if delivery.status == DeliveryStatus.delivering and delivery.next_attempt_at > now:
        raise Conflict("the delivery is being attempted right now", code="delivery_in_flight")
    delivery.status = DeliveryStatus.pending.value
    delivery.next_attempt_at = now
    delivery.retry_until = now + RETRY_WINDOW
    await session.flush()
    return delivery
