"""Staff accounts: one role and one area each."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ARRAY, Boolean, Column, ForeignKey, Integer, String, Uuid, text
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import created_at_column, updated_at_column


class Role(StrEnum):
    village_director = "village_director"
    township_supervisor = "township_supervisor"
    county_officer = "county_officer"
    reporter = "reporter"
    auditor = "auditor"
    admin = "admin"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    username: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    phone: str | None = Field(default=None, sa_column=Column(String(20), unique=True))
    display_name: str = Field(sa_column=Column(String(64), nullable=False))
    role: str = Field(sa_column=Column(String(32), nullable=False))
    # None only for system-wide admins (the root of the area tree).
    area_code: str | None = Field(
        default=None,
        sa_column=Column(
            String(12, collation="C"), ForeignKey("areas.code"), nullable=True, index=True
        ),
    )
    password_hash: str = Field(sa_column=Column(String(200), nullable=False))
    # Qualifications held (models/activity.py Qualification: 社工证, ...), set by county officers.
    qualifications: list[str] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(String(32)), nullable=False, server_default=text("'{}'")),
    )
    is_active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())
