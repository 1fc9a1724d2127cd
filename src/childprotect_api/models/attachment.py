"""Files attached to visits and agreements (photos of the 探访登记表 and the home, scans of
signed agreements).

Stored in PostgreSQL (bytea) with their SHA-256: an upload is one row written in the request's
transaction, so a server stopping mid-upload leaves nothing half-written, backups and replicas
carry the files with the records, and a retried upload of the same file is recognised."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, Integer, LargeBinary, String, Uuid
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import area_code_column, county_code_column, created_at_column


class Attachment(SQLModel, table=True):
    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_owner", "owner_type", "owner_id", "sha256", unique=True),
        Index("ix_attachments_scope", "county_code", "area_code", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    owner_type: str = Field(sa_column=Column(String(20), nullable=False))  # visit, agreement
    owner_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    filename: str = Field(sa_column=Column(String(200), nullable=False))
    content_type: str = Field(sa_column=Column(String(50), nullable=False))
    size_bytes: int = Field(sa_column=Column(Integer, nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
