"""Webhooks: integration clients' subscriptions, one delivery row per (subscription, outbox
event), every delivery attempt, and the fan-out cursor over the outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import created_at_column, tz_column


class WebhookEventType(StrEnum):
    report_submitted = "report.submitted"
    report_overdue = "report.overdue"
    child_risk_raised = "child.risk_raised"
    visit_overdue = "visit.overdue"
    agreement_expiring = "agreement.expiring"
    child_transferred = "child.transferred"


class DeliveryStatus(StrEnum):
    pending = "pending"  # waiting for its first attempt (or a manual redelivery)
    delivering = "delivering"  # claimed by a worker; the lease ends at next_attempt_at
    delivered = "delivered"  # the receiver answered 2xx
    failed = "failed"  # the last attempt failed; another is scheduled
    dead = "dead"  # given up: the retry window passed, or the subscription went away


# Statuses a worker may still pick up (when next_attempt_at is due).
OPEN_STATUSES = (DeliveryStatus.pending, DeliveryStatus.delivering, DeliveryStatus.failed)


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "webhook_subscriptions"
    __table_args__ = (Index("ix_webhook_subscriptions_client", "client_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    client_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("integration_clients.id"), nullable=False)
    )
    url: str = Field(sa_column=Column(String(2000), nullable=False))
    event_types: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String(40)), nullable=False)
    )
    # The signing secret, AES-GCM encrypted with the data key (it must be used, so no hash).
    secret_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    is_active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    deleted_at: datetime | None = Field(default=None, sa_column=tz_column())


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # One delivery per event and subscription: fan-out may run again without doubling.
        UniqueConstraint("subscription_id", "outbox_event_id", name="uq_webhook_deliveries_event"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'delivering', 'failed')"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    subscription_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("webhook_subscriptions.id"), nullable=False)
    )
    outbox_event_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("outbox_events.id"), nullable=False)
    )
    event_type: str = Field(sa_column=Column(String(40), nullable=False))
    status: str = Field(default="pending", sa_column=Column(String(12), nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    next_attempt_at: datetime = Field(sa_column=tz_column(nullable=False))
    # Retries stop (status dead) after this; a manual redelivery opens a new window.
    retry_until: datetime = Field(sa_column=tz_column(nullable=False))
    last_status_code: int | None = Field(default=None, sa_column=Column(Integer))
    # What went wrong, never the response body (it could echo anything).
    last_error: str | None = Field(default=None, sa_column=Column(String(200)))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    delivered_at: datetime | None = Field(default=None, sa_column=tz_column())


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (Index("ix_webhook_delivery_attempts_delivery", "delivery_id", "id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    delivery_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("webhook_deliveries.id"), nullable=False)
    )
    attempted_at: datetime = Field(sa_column=tz_column(nullable=False))
    status_code: int | None = Field(default=None, sa_column=Column(Integer))
    error: str | None = Field(default=None, sa_column=Column(String(200)))
    duration_ms: int = Field(sa_column=Column(Integer, nullable=False))


class WebhookCursor(SQLModel, table=True):
    """How far fan-out has safely read the outbox. `last_event_id` only moves past events
    once every transaction that could still commit an older id has ended (`pending_*`)."""

    __tablename__ = "webhook_cursor"

    name: str = Field(sa_column=Column(String(20), primary_key=True))
    last_event_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    pending_event_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    pending_xmax: int | None = Field(default=None, sa_column=Column(BigInteger))
