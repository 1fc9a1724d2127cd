"""Fan-out: each outbox event becomes one delivery row per subscription allowed to receive
it (`webhooks.may_receive`). Idempotent (unique subscription + event), one worker at a time
(the cursor row is locked with SKIP LOCKED), and safe against transactions that commit an
older outbox id after a newer one: the cursor only moves past ids once every transaction that
was running when they were read has ended, and until then that range is read again."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core.db import Database
from childprotect_api.models.client import IntegrationClient
from childprotect_api.models.outbox import OutboxEvent
from childprotect_api.models.webhook import (
    DeliveryStatus,
    WebhookCursor,
    WebhookDelivery,
    WebhookSubscription,
)
from childprotect_api.services.integrations.webhooks import RETRY_WINDOW, may_receive

CURSOR_NAME = "fanout"
FANOUT_BATCH = 500
# While a long transaction holds the cursor back, at most this many events are re-read.
RESCAN_CAP = 1000


async def fan_out(db: Database, now: datetime) -> int:
    """Create the deliveries for outbox events past the cursor; answer how many."""
    async with db.sessionmaker() as session, session.begin():
        cursor = await _lock_cursor(session)
        if cursor is None:
            return 0  # another worker is fanning out right now
        snap = (
            await session.execute(
                text(
                    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin, "
                    "pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax"
                )
            )
        ).one()
        # Every transaction that was running when `pending_event_id` was read has ended,
        # so no outbox id at or below it can still appear.
        settled = cursor.pending_xmax is not None and snap.xmin >= cursor.pending_xmax
        last = cursor.last_event_id
        high = cursor.pending_event_id or last
        # Events that committed late, below ids already fanned out, then the new ones.
        late = await _events(session, last, high, RESCAN_CAP) if high > last else []
        new = await _events(session, high, None, FANOUT_BATCH)
        created = await _insert_deliveries(session, late + new, now)
        if settled:
            upto = high if len(late) < RESCAN_CAP else (late[-1].id or last)
            cursor.last_event_id = max(last, upto)
        if new:
            cursor.pending_event_id = new[-1].id
            cursor.pending_xmax = snap.xmax
        elif settled and cursor.last_event_id >= high:
            cursor.pending_event_id = cursor.pending_xmax = None
        return created


async def _lock_cursor(session: AsyncSession) -> WebhookCursor | None:
    """The cursor row, locked; None while another worker holds it."""
    await session.execute(
        pg_insert(WebhookCursor)
        .values(name=CURSOR_NAME, last_event_id=0)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return (
        await session.execute(
            select(WebhookCursor)
            .where(col(WebhookCursor.name) == CURSOR_NAME)
            .with_for_update(skip_locked=True)
        )
    ).scalar_one_or_none()


async def _events(
    session: AsyncSession, after: int, upto: int | None, limit: int
) -> list[OutboxEvent]:
    stmt = select(OutboxEvent).where(col(OutboxEvent.id) > after)
    if upto is not None:
        stmt = stmt.where(col(OutboxEvent.id) <= upto)
    return list((await session.execute(stmt.order_by(col(OutboxEvent.id)).limit(limit))).scalars())


async def _insert_deliveries(
    session: AsyncSession, events: list[OutboxEvent], now: datetime
) -> int:
    """Delivery rows for each event and the live subscriptions allowed to receive it."""
    if not events:
        return 0
    subs = (
        await session.execute(
            select(WebhookSubscription, IntegrationClient)
            .join(
                IntegrationClient,
                col(IntegrationClient.id) == col(WebhookSubscription.client_id),
            )
            .where(
                col(WebhookSubscription.is_active),
                col(WebhookSubscription.deleted_at).is_(None),
                col(IntegrationClient.is_active),
            )
        )
    ).all()
    rows = []
    for event in events:
        for sub, client in subs:
            if (
                event.event_type in sub.event_types
                # A new subscription receives what happens from then on, not the backlog.
                and event.created_at is not None
                and sub.created_at is not None
                and event.created_at >= sub.created_at
                and may_receive(client.area_code, client.scopes, event.event_type, event.area_code)
            ):
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "subscription_id": sub.id,
                        "outbox_event_id": event.id,
                        "event_type": event.event_type,
                        "status": DeliveryStatus.pending.value,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "retry_until": now + RETRY_WINDOW,
                    }
                )
    created = 0
    for i in range(0, len(rows), 1000):
        result = await session.execute(
            pg_insert(WebhookDelivery)
            .values(rows[i : i + 1000])
            .on_conflict_do_nothing(constraint="uq_webhook_deliveries_event")
        )
        created += int(getattr(result, "rowcount", 0) or 0)
    return created
