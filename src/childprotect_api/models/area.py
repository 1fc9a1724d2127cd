"""The area tree: 12-digit statistical division codes, as data."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import created_at_column


class AreaLevel(StrEnum):
    province = "province"
    city = "city"
    county = "county"
    township = "township"
    village = "village"


LEVEL_BY_LENGTH: dict[int, AreaLevel] = {
    2: AreaLevel.province,
    4: AreaLevel.city,
    6: AreaLevel.county,
    9: AreaLevel.township,
    12: AreaLevel.village,
}
PARENT_LENGTH: dict[int, int] = {4: 2, 6: 4, 9: 6, 12: 9}


class Area(SQLModel, table=True):
    __tablename__ = "areas"

    code: str = Field(sa_column=Column(String(12, collation="C"), primary_key=True))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    parent_code: str | None = Field(
        default=None,
        sa_column=Column(
            String(12, collation="C"), ForeignKey("areas.code"), nullable=True, index=True
        ),
    )
    level: str = Field(sa_column=Column(String(10), nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
