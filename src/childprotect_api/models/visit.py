"""Home visits (入户探访): one row per version of a visit, never deleted.

A visit is known by the id its phone generated (`original_id` of every version). A correction
adds a row with `revision + 1` and marks the previous row `is_current = false`,
`superseded_by = <new id>`; the old row stays readable as it was.

The worklist indexes on `children` live here too, next to the visits that move the due
dates: they serve `GET /api/v1/worklist` (services/visits/worklist.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import (
    area_code_column,
    county_code_column,
    created_at_column,
    tz_column,
    updated_at_column,
)
from childprotect_api.models.child import Child


class VisitKind(StrEnum):
    home = "home"
    phone = "phone"
    school = "school"
    other = "other"


class VisitStatus(StrEnum):
    submitted = "submitted"
    accepted = "accepted"
    returned = "returned"


class Visit(SQLModel, table=True):
    __tablename__ = "visits"
    __table_args__ = (
        # Scope: county first (the distribution key), then the village prefix.
        Index("ix_visits_scope", "county_code", "area_code", "visited_at", "id"),
        # A child's history, and its latest visit (the worklist's open follow-up actions).
        Index(
            "ix_visits_child_current",
            "child_id",
            "visited_at",
            "id",
            postgresql_where=text("is_current"),
        ),
        Index("ix_visits_visitor", "visitor_id", "visited_at", "id"),
        # The visits sent back to their visitor (small: the worklist's "to fix" list).
        Index(
            "ix_visits_returned",
            "visitor_id",
            "reviewed_at",
            postgresql_where=text("status = 'returned' AND is_current"),
        ),
        Index("uq_visits_original_revision", "original_id", "revision", unique=True),
        Index(
            "uq_visits_one_current",
            "original_id",
            unique=True,
            postgresql_where=text("is_current"),
        ),
        CheckConstraint("kind IN ('home', 'phone', 'school', 'other')", name="ck_visits_kind"),
        CheckConstraint("status IN ('submitted', 'accepted', 'returned')", name="ck_visits_status"),
        CheckConstraint("latitude BETWEEN -90 AND 90", name="ck_visits_latitude"),
        CheckConstraint("longitude BETWEEN -180 AND 180", name="ck_visits_longitude"),
        CheckConstraint("(latitude IS NULL) = (longitude IS NULL)", name="ck_visits_position"),
        CheckConstraint("revision >= 1", name="ck_visits_revision"),
    )

    id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    original_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    revision: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    is_current: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    superseded_by: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("visits.id"), nullable=True)
    )
    correction_reason: str | None = Field(default=None, sa_column=Column(Text))

    child_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("children.id"), nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    visitor_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("users.id"), nullable=False))

    visited_at: datetime = Field(sa_column=tz_column(nullable=False))
    kind: str = Field(sa_column=Column(String(10), nullable=False))
    latitude: float | None = Field(default=None, sa_column=Column(Double))
    longitude: float | None = Field(default=None, sa_column=Column(Double))
    accuracy_m: float | None = Field(default=None, sa_column=Column(Double))
    # {item: {"rating": ..., "note": ...}} as validated by schemas/visit.py VisitChecklist.
    checklist: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    notes: str | None = Field(default=None, sa_column=Column(Text))
    suggested_risk_level: str | None = Field(default=None, sa_column=Column(String(10)))
    # [{"action": str, "due_on": date, "done": bool}]
    follow_up_actions: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    )

    status: str = Field(default="submitted", sa_column=Column(String(10), nullable=False))
    review_comment: str | None = Field(default=None, sa_column=Column(Text))
    reviewed_by: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("users.id"), nullable=True)
    )
    reviewed_at: datetime | None = Field(default=None, sa_column=tz_column())

    # SHA-256 of the submitted content: a retried PUT with the same content is recognised.
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())


# The worklist: active children of a scope ordered by due date. County callers walk the first
# index in order and stop at the page size; village and township callers range over their
# villages in the second and sort the few hundred matches.
_children = Child.__table__  # type: ignore[attr-defined]
Index(
    "ix_children_worklist",
    _children.c.county_code,
    _children.c.next_visit_due,
    _children.c.id,
    postgresql_where=text("status = 'active'"),
)
Index(
    "ix_children_worklist_area",
    _children.c.county_code,
    _children.c.area_code,
    _children.c.next_visit_due,
    _children.c.id,
    postgresql_where=text("status = 'active'"),
)
