from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from childprotect_api.models.area import AreaLevel

AREA_CODE_PATTERN = r"^(\d{2}|\d{4}|\d{6}|\d{9}|\d{12})$"


class AreaCreate(BaseModel):
    code: str = Field(pattern=AREA_CODE_PATTERN, description="2, 4, 6, 9 or 12 digits")
    name: str = Field(min_length=1, max_length=100)
    parent_code: str | None = Field(default=None, pattern=AREA_CODE_PATTERN)


class AreaRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    parent_code: str | None
    level: AreaLevel


class AreaImportStatus(StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"
    invalid = "invalid"


class AreaImportRow(BaseModel):
    line: int
    code: str
    status: AreaImportStatus
    errors: list[str] = []


class AreaImportReport(BaseModel):
    applied: bool
    created: int
    updated: int
    invalid: int
    rows: list[AreaImportRow]
