from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from childprotect_api.models.job import JobKind, JobStatus
from childprotect_api.schemas.auth import PrincipalKind
from childprotect_api.schemas.child_import import ChildImportReport


class JobRead(BaseModel):
    """A long-running job and its progress; `report` once it is done."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: JobKind
    status: JobStatus
    dry_run: bool
    actor_type: PrincipalKind = Field(description="Who started it.")
    actor_id: uuid.UUID
    total: int
    processed: int = Field(description="Rows handled so far (updated every 100 rows).")
    created: int
    duplicates: int
    invalid: int
    report: ChildImportReport | None = Field(description="The per-row report, once done.")
    error: str | None = Field(description="Why the job failed (no row data).")
    created_at: datetime | None
    updated_at: datetime | None
    finished_at: datetime | None
