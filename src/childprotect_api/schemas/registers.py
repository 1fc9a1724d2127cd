"""Registers (台账): the kinds and their columns, for integrators reading the files."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class RegisterFormat(StrEnum):
    xlsx = "xlsx"
    csv = "csv"


class RegisterColumnRead(BaseModel):
    key: str = Field(description="The column's English name, stable for integrators.")
    label_zh: str = Field(description="The header the file carries (Chinese).")
    label_en: str


class RegisterKindRead(BaseModel):
    kind: str
    label_zh: str
    label_en: str
    period_zh: str = Field(description="What `from`/`to` filter on (Chinese).")
    filters: list[str] = Field(description="Filters besides area and period (`category`).")
    county_officers_only: bool
    columns: list[RegisterColumnRead] = Field(description="In the file's order.")
