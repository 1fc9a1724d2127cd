from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

COUNTY_CODE_PATTERN = r"^[0-9]{6}$"

Days = Annotated[int, Field(ge=1, le=365)]


class VisitPolicyUpdate(BaseModel):
    """A county's visit intervals in days. Higher risk is visited at least as often:
    blue >= yellow >= orange >= red."""

    model_config = ConfigDict(extra="forbid")

    blue_days: Days
    yellow_days: Days
    orange_days: Days
    red_days: Days

    @field_validator("yellow_days", "orange_days", "red_days")
    @classmethod
    def _ordered(cls, days: int, info: ValidationInfo) -> int:
        lower = _LOWER_LEVEL[str(info.field_name)]
        lower_days = info.data.get(lower)
        if lower_days is not None and days > lower_days:
            raise ValueError(
                f"may not be longer than {lower} ({lower_days}): blue >= yellow >= orange >= red"
            )
        return days


_LOWER_LEVEL = {"yellow_days": "blue_days", "orange_days": "yellow_days", "red_days": "orange_days"}


class VisitPolicyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    county_code: str
    blue_days: int
    yellow_days: int
    orange_days: int
    red_days: int
    is_default: bool = Field(description="True while the county uses the national defaults.")
    updated_by: uuid.UUID | None = None
    updated_at: datetime | None = None
    children_rescheduled: int | None = Field(
        default=None, description="On update: how many active children got a new due date."
    )
