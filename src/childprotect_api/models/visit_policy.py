"""How often children of each risk level must be visited, per county."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Integer, String, Uuid
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import updated_at_column

# DESIGN.md defaults: visit at least every N days.
DEFAULT_INTERVAL_DAYS: dict[str, int] = {"blue": 90, "yellow": 30, "orange": 7, "red": 1}


class VisitPolicy(SQLModel, table=True):
    """A county's own intervals; a county without a row uses the defaults."""

    __tablename__ = "visit_policies"

    county_code: str = Field(sa_column=Column(String(6, collation="C"), primary_key=True))
    blue_days: int = Field(default=90, sa_column=Column(Integer, nullable=False))
    yellow_days: int = Field(default=30, sa_column=Column(Integer, nullable=False))
    orange_days: int = Field(default=7, sa_column=Column(Integer, nullable=False))
    red_days: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    updated_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())

    def interval_days(self) -> dict[str, int]:
        return {
            "blue": self.blue_days,
            "yellow": self.yellow_days,
            "orange": self.orange_days,
            "red": self.red_days,
        }
