"""The transactional outbox: domain events written in the same transaction as the change, so
nothing is lost if the server stops after the commit. Webhook delivery and notifications read
from here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Identity, Index, String, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import created_at_column


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_scope", "county_code", "area_code", "id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    # e.g. report.submitted, report.overdue, child.risk_raised, visit.overdue,
    # agreement.expiring, child.transferred
    event_type: str = Field(sa_column=Column(String(40), nullable=False))
    county_code: str | None = Field(default=None, sa_column=Column(String(6, collation="C")))
    area_code: str | None = Field(default=None, sa_column=Column(String(12, collation="C")))
    resource_type: str = Field(sa_column=Column(String(32), nullable=False))
    resource_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    # Ids and non-personal facts only; consumers fetch details through the API with their
    # own scope.
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
