"""Care work: activities (关爱服务/活动台账) and sites (阵地: 儿童之家, 未成年人保护工作站, ...).

Area-scoped like a child's records (area_code of a village, township or county, and the
county code leading the scope indexes); both carried by the sync feed (change-log triggers in
the 0021activ migration)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    Uuid,
    text,
)
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import (
    area_code_column,
    county_code_column,
    created_at_column,
    updated_at_column,
)


class ActivityKind(StrEnum):
    publicity = "publicity"
    law_education = "law_education"
    safety_education = "safety_education"
    training = "training"
    care_visit = "care_visit"
    family_education = "family_education"
    counselling = "counselling"
    school_aid = "school_aid"
    goods = "goods"
    children_home_activity = "children_home_activity"
    joint_meeting = "joint_meeting"
    other = "other"


class OrganiserKind(StrEnum):
    government = "government"
    school = "school"
    social_organisation = "social_organisation"
    volunteers = "volunteers"
    enterprise = "enterprise"
    other = "other"


class SiteKind(StrEnum):
    children_home = "children_home"
    protection_station = "protection_station"
    parent_school = "parent_school"
    care_centre = "care_centre"
    other = "other"


class SiteStatus(StrEnum):
    open = "open"
    closed = "closed"


class Qualification(StrEnum):
    """What a user holds (users.qualifications)."""

    social_worker = "social_worker"
    psychological_counsellor = "psychological_counsellor"
    teacher = "teacher"
    lawyer = "lawyer"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Site(SQLModel, table=True):
    __tablename__ = "sites"
    __table_args__ = (
        Index("ix_sites_scope", "county_code", "area_code", "id"),
        CheckConstraint(_in("kind", SiteKind), name="ck_sites_kind"),
        CheckConstraint(_in("status", SiteStatus), name="ck_sites_status"),
    )

    id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    kind: str = Field(sa_column=Column(String(24), nullable=False))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    opened_on: date | None = Field(default=None, sa_column=Column(Date))
    status: str = Field(default="open", sa_column=Column(String(10), nullable=False))
    closed_on: date | None = Field(default=None, sa_column=Column(Date))
    notes: str | None = Field(default=None, sa_column=Column(Text))
    # SHA-256 of the create request: a retry with the same id and content is recognised.
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    updated_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())


class Activity(SQLModel, table=True):
    __tablename__ = "activities"
    __table_args__ = (
        # Scope and the lists (newest first), county first (the distribution key).
        Index("ix_activities_scope", "county_code", "area_code", "held_on", "id"),
        # The statistics: a county's period by kind.
        Index("ix_activities_county_held", "county_code", "held_on", "kind"),
        Index("ix_activities_site", "site_id", "held_on"),
        # "Who was trained": the staff of training activities.
        Index("ix_activities_staff", "staff_ids", postgresql_using="gin"),
        CheckConstraint(_in("kind", ActivityKind), name="ck_activities_kind"),
        CheckConstraint(_in("organiser_kind", OrganiserKind), name="ck_activities_organiser_kind"),
        CheckConstraint("participants >= 0 AND children_served >= 0", name="ck_activities_counts"),
        CheckConstraint("amount IS NULL OR amount >= 0", name="ck_activities_amount"),
    )

    id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    kind: str = Field(sa_column=Column(String(24), nullable=False))
    title: str = Field(sa_column=Column(String(200), nullable=False))
    held_on: date = Field(sa_column=Column(Date, nullable=False))
    place: str | None = Field(default=None, sa_column=Column(String(200)))
    site_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("sites.id"), nullable=True)
    )
    organiser: str | None = Field(default=None, sa_column=Column(String(200)))
    organiser_kind: str = Field(sa_column=Column(String(24), nullable=False))
    participants: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    children_served: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    child_ids: list[uuid.UUID] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(Uuid), nullable=False, server_default=text("'{}'")),
    )
    staff_ids: list[uuid.UUID] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(Uuid), nullable=False, server_default=text("'{}'")),
    )
    amount: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2)))
    goods: str | None = Field(default=None, sa_column=Column(Text))
    notes: str | None = Field(default=None, sa_column=Column(Text))
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    updated_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())
