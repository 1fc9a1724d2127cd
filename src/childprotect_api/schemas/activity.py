"""Care activities (关爱服务/活动台账) and sites (阵地), as the API reads and writes them.
Money is a decimal string in yuan ("1050.00") both ways."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from childprotect_api.core.client_ids import ClientId
from childprotect_api.models.activity import ActivityKind, OrganiserKind, SiteKind, SiteStatus
from childprotect_api.schemas.area import AREA_CODE_PATTERN

AMOUNT_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
MAX_IDS = 500


def money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


class ActivityFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    area_code: str = Field(
        pattern=AREA_CODE_PATTERN,
        description="The village, township or county it was held for (in the caller's scope).",
    )
    kind: ActivityKind
    title: str = Field(min_length=1, max_length=200)
    held_on: date
    place: str | None = Field(default=None, max_length=200)
    site_id: uuid.UUID | None = Field(default=None, description="The site (阵地) it was held at.")
    organiser: str | None = Field(default=None, max_length=200)
    organiser_kind: OrganiserKind = OrganiserKind.government
    participants: int = Field(default=0, ge=0, le=1_000_000, description="人次.")
    children_served: int = Field(default=0, ge=0, le=1_000_000, description="Children, 人次.")
    child_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=MAX_IDS, description="Children served (in scope)."
    )
    staff_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=MAX_IDS,
        description="Users who attended (in scope); a `training`'s staff are the trained.",
    )
    amount: str | None = Field(
        default=None, pattern=AMOUNT_PATTERN, description='Yuan spent, e.g. "1050.00".'
    )
    goods: str | None = Field(default=None, max_length=2000, description="e.g. 爱心包 30 箱.")
    notes: str | None = Field(default=None, max_length=4000)

    @field_validator("child_ids", "staff_ids")
    @classmethod
    def _distinct(cls, v: list[uuid.UUID]) -> list[uuid.UUID]:
        return list(dict.fromkeys(v))


class ActivityCreate(ActivityFields):
    id: ClientId = Field(description="Made by the client: a retry answers the stored record.")


class ActivityUpdate(BaseModel):
    """Only the fields sent change (null clears an optional one)."""

    model_config = ConfigDict(extra="forbid")

    area_code: str | None = Field(default=None, pattern=AREA_CODE_PATTERN)
    kind: ActivityKind | None = None
    title: str | None = Field(default=None, min_length=1, max_length=200)
    held_on: date | None = None
    place: str | None = Field(default=None, max_length=200)
    site_id: uuid.UUID | None = None
    organiser: str | None = Field(default=None, max_length=200)
    organiser_kind: OrganiserKind | None = None
    participants: int | None = Field(default=None, ge=0, le=1_000_000)
    children_served: int | None = Field(default=None, ge=0, le=1_000_000)
    child_ids: list[uuid.UUID] | None = Field(default=None, max_length=MAX_IDS)
    staff_ids: list[uuid.UUID] | None = Field(default=None, max_length=MAX_IDS)
    amount: str | None = Field(default=None, pattern=AMOUNT_PATTERN)
    goods: str | None = Field(default=None, max_length=2000)
    notes: str | None = Field(default=None, max_length=4000)


class ActivityRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    area_code: str
    kind: ActivityKind
    title: str
    held_on: date
    place: str | None
    site_id: uuid.UUID | None
    organiser: str | None
    organiser_kind: OrganiserKind
    participants: int
    children_served: int
    child_ids: list[uuid.UUID]
    staff_ids: list[uuid.UUID]
    amount: str | None = Field(description='Yuan, e.g. "1050.00".')
    goods: str | None
    notes: str | None
    created_by: uuid.UUID | None
    version: int
    created_at: datetime | None
    updated_at: datetime | None

    @field_validator("amount", mode="before")
    @classmethod
    def _money(cls, v: Any) -> Any:
        return money(v) if isinstance(v, Decimal) else v


class SiteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: ClientId = Field(description="Made by the client: a retry answers the stored record.")
    area_code: str = Field(pattern=AREA_CODE_PATTERN)
    kind: SiteKind
    name: str = Field(min_length=1, max_length=100)
    opened_on: date | None = None
    notes: str | None = Field(default=None, max_length=4000)


class SiteUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: SiteKind | None = None
    name: str | None = Field(default=None, min_length=1, max_length=100)
    opened_on: date | None = None
    status: SiteStatus | None = None
    closed_on: date | None = None
    notes: str | None = Field(default=None, max_length=4000)


class SiteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    area_code: str
    kind: SiteKind
    name: str
    opened_on: date | None
    status: SiteStatus
    closed_on: date | None
    notes: str | None
    version: int
    created_at: datetime | None
    updated_at: datetime | None
