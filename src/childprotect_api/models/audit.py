"""The append-only audit log of every read and write of a child's personal data.

Updates, deletes and truncation are refused by a database trigger (see the migration)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, Identity, Index, Integer, String, Text, Uuid
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import created_at_column


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_scope", "county_code", "area_code", "id"),
        # A county's log newest first (GET /audit without a narrower filter).
        Index("ix_audit_log_county_recent", "county_code", "id"),
        Index("ix_audit_log_resource", "resource_id", "id"),
        Index("ix_audit_log_actor", "actor_id", "id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    at: datetime | None = Field(default=None, sa_column=created_at_column())
    actor_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    actor_role: str = Field(sa_column=Column(String(32), nullable=False))
    client_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    action: str = Field(sa_column=Column(String(40), nullable=False))
    resource_type: str = Field(sa_column=Column(String(32), nullable=False))
    resource_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    county_code: str | None = Field(
        default=None, sa_column=Column(String(6, collation="C"), nullable=True)
    )
    area_code: str | None = Field(
        default=None, sa_column=Column(String(12, collation="C"), nullable=True)
    )
    request_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    # Exports (registers, 台账): how many records the file held, and the purpose a county
    # officer stated to have ID numbers shown in full (None: they were masked).
    row_count: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    purpose: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
