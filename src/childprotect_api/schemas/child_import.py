"""The report of a bulk import of screening results (摸排): one line per row of the file, with
row numbers, outcomes, record ids and reasons, and never a name or an ID number (reports are
kept in the jobs table and may be read later)."""

from __future__ import annotations

import uuid
from enum import StrEnum

from pydantic import BaseModel, Field


class RowOutcome(StrEnum):
    created = "created"
    duplicate = "duplicate"
    invalid = "invalid"


class RowError(BaseModel):
    field: str = Field(description="The API field (e.g. `id_number`, `father.situation`).")
    code: str
    message: str


class ImportRowReport(BaseModel):
    row: int = Field(description="The row number as a spreadsheet shows it (the header is 1).")
    outcome: RowOutcome = Field(
        description="In a dry run, `created` means the row would be created."
    )
    child_id: uuid.UUID | None = Field(
        default=None, description="The record created (real runs only)."
    )
    existing_child_id: uuid.UUID | None = Field(
        default=None,
        description="For a duplicate: the existing record, only when it lies in your scope.",
    )
    duplicate_of_row: int | None = Field(
        default=None, description="For a duplicate of an earlier row of the same file."
    )
    errors: list[RowError] = Field(default_factory=list)


class ChildImportReport(BaseModel):
    dry_run: bool
    total: int = Field(description="Rows with data (blank rows are skipped).")
    created: int
    duplicates: int
    invalid: int
    ignored_columns: list[str] = Field(
        default_factory=list, description="Headers that name no known column."
    )
    rows: list[ImportRowReport]
