from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from childprotect_api.models.webhook import DeliveryStatus, WebhookEventType


class WebhookCreate(BaseModel):
    url: str = Field(
        min_length=8,
        max_length=2000,
        description="https:// (plain http only to localhost in local and test mode).",
    )
    event_types: list[WebhookEventType] = Field(min_length=1, max_length=len(WebhookEventType))
    client_id: uuid.UUID | None = Field(
        default=None, description="Admins only: the client the subscription is for."
    )

    @field_validator("event_types")
    @classmethod
    def _unique(cls, v: list[WebhookEventType]) -> list[WebhookEventType]:
        if len(set(v)) != len(v):
            raise ValueError("event_types must not repeat")
        return v


class WebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    client_id: uuid.UUID
    url: str
    event_types: list[WebhookEventType]
    is_active: bool
    created_at: datetime | None = None


class WebhookWithSecret(WebhookRead):
    secret: str = Field(
        description="Shown once. Receivers check X-Childprotect-Signature: sha256=<hex "
        "HMAC-SHA256 of '{X-Childprotect-Timestamp}.{raw body}' with this secret>."
    )


class AttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryRead(BaseModel):
    id: uuid.UUID = Field(description="Sent as X-Childprotect-Delivery.")
    subscription_id: uuid.UUID
    event_id: int = Field(description="The payload's `id`: the same on every redelivery.")
    event_type: WebhookEventType
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime | None
    delivered_at: datetime | None
    attempt_log: list[AttemptRead] = []
