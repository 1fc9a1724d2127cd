"""Integration clients: education, civil-affairs and hospital systems calling the API with
OAuth2 client credentials. One area (of any level) and a set of OAuth2 scopes each."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import created_at_column


class ClientScope(StrEnum):
    """The documented OAuth2 scopes (labels in services/enums.py)."""

    children_read = "children:read"
    children_write = "children:write"
    schooling_write = "schooling:write"
    subsidies_write = "subsidies:write"
    reports_write = "reports:write"
    reports_read = "reports:read"
    stats_read = "stats:read"


class IntegrationClient(SQLModel, table=True):
    __tablename__ = "integration_clients"
    __table_args__ = (Index("ix_integration_clients_name", "name", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    # Any level; byte-wise collation like every area code so prefix filters use the index.
    area_code: str = Field(
        sa_column=Column(
            String(12, collation="C"), ForeignKey("areas.code"), nullable=False, index=True
        )
    )
    scopes: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String(40)), nullable=False)
    )
    # Argon2, like passwords: the secret itself is shown once and never stored.
    secret_hash: str = Field(sa_column=Column(String(200), nullable=False))
    is_active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
