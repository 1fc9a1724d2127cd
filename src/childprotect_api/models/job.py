"""Long-running work started by a request (a bulk import of children) and followed by its
starter with GET /api/v1/jobs/{id}: status, progress counters and, once finished, the report.

The report holds row numbers, outcomes, record ids and reasons only, never names or ID
numbers, so a job row is not personal data."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Column, Index, Integer, String, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import created_at_column, tz_column, updated_at_column


class JobKind(StrEnum):
    children_import = "children_import"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        # County officers read the jobs of their area: prefix filter on the starter's area.
        Index("ix_jobs_area", "area_code", "id"),
        Index("ix_jobs_actor", "actor_id", "created_at"),
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="ck_jobs_status"),
        CheckConstraint(
            "processed <= total AND created + duplicates + invalid = processed",
            name="ck_jobs_progress",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    kind: str = Field(sa_column=Column(String(40), nullable=False))
    # Who started it: a user or an integration client, with the area of their scope then.
    actor_type: str = Field(sa_column=Column(String(10), nullable=False))
    actor_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    actor_role: str = Field(sa_column=Column(String(32), nullable=False))
    area_code: str = Field(sa_column=Column(String(12, collation="C"), nullable=False))
    dry_run: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    status: str = Field(default="queued", sa_column=Column(String(10), nullable=False))
    total: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    processed: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    created: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    duplicates: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    invalid: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    # Why a job failed: the error's type, never its message (which may quote row values).
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())
    finished_at: datetime | None = Field(default=None, sa_column=tz_column())
