"""The child record (一人一档): one row per child, scoped by its village area code."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import (
    area_code_column,
    county_code_column,
    created_at_column,
    tz_column,
    updated_at_column,
)


class Gender(StrEnum):
    male = "male"
    female = "female"


class Category(StrEnum):
    left_behind = "left_behind"
    in_difficulty = "in_difficulty"
    orphan = "orphan"
    de_facto_unsupported = "de_facto_unsupported"
    low_income_disabled_or_ill = "low_income_disabled_or_ill"
    low_income = "low_income"
    disabled = "disabled"
    migrant = "migrant"
    street = "street"
    parent_imprisoned = "parent_imprisoned"
    dropout_risk = "dropout_risk"
    serious_misconduct = "serious_misconduct"
    idle_youth = "idle_youth"  # 闲散未成年人: 16-17, neither in school nor working


class RiskLevel(StrEnum):
    blue = "blue"
    yellow = "yellow"
    orange = "orange"
    red = "red"


RISK_ORDER: dict[str, int] = {"blue": 0, "yellow": 1, "orange": 2, "red": 3}


class ChildStatus(StrEnum):
    active = "active"
    closed = "closed"


class ClosedReason(StrEnum):
    turned_18 = "turned_18"
    moved_away = "moved_away"
    deceased = "deceased"
    no_longer_eligible = "no_longer_eligible"


class EnrolmentStatus(StrEnum):
    preschool = "preschool"
    kindergarten = "kindergarten"
    enrolled = "enrolled"
    suspended = "suspended"
    dropped_out = "dropped_out"
    out_of_school = "out_of_school"
    graduated = "graduated"
    home_education = "home_education"  # 送教上门
    inclusive_class = "inclusive_class"  # 随班就读


class SubsidyKind(StrEnum):
    orphan_allowance = "orphan_allowance"
    de_facto_unsupported_allowance = "de_facto_unsupported_allowance"
    minimum_living_allowance = "minimum_living_allowance"
    disability_allowance = "disability_allowance"
    education_aid = "education_aid"
    other = "other"


class ParentSituation(StrEnum):
    at_home = "at_home"
    working_away = "working_away"
    deceased = "deceased"
    imprisoned = "imprisoned"
    compulsory_rehab = "compulsory_rehab"
    seriously_ill_or_disabled = "seriously_ill_or_disabled"
    missing = "missing"
    unknown = "unknown"
    divorced = "divorced"
    restricted_liberty = "restricted_liberty"
    guardianship_revoked = "guardianship_revoked"
    deported = "deported"


class Child(SQLModel, table=True):
    __tablename__ = "children"
    __table_args__ = (
        # Scope: county first (the distribution key), then the village prefix.
        Index("ix_children_scope", "county_code", "area_code", "id"),
        Index(
            "uq_children_id_number_hash",
            "id_number_hash",
            unique=True,
            postgresql_where=text("id_number_hash IS NOT NULL"),
        ),
        Index("ix_children_categories", "categories", postgresql_using="gin"),
        # The daily job that closes the records of children who turned 18.
        Index(
            "ix_children_active_birth_date",
            "birth_date",
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())

    name: str = Field(sa_column=Column(String(64), nullable=False))
    gender: str = Field(sa_column=Column(String(6), nullable=False))
    ethnicity: str | None = Field(default=None, sa_column=Column(String(32)))
    birth_date: date = Field(sa_column=Column(Date, nullable=False))
    # The ID number is never stored in clear: AES-GCM ciphertext, an HMAC for exact lookup,
    # and the masked form shown to most callers.
    id_number_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    id_number_hash: str | None = Field(default=None, sa_column=Column(String(64)))
    id_number_masked: str | None = Field(default=None, sa_column=Column(String(18)))

    household_registration: str | None = Field(default=None, sa_column=Column(String(200)))
    residence: str | None = Field(default=None, sa_column=Column(String(200)))
    address: str | None = Field(default=None, sa_column=Column(String(200)))
    categories: list[str] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(String(40)), nullable=False, server_default=text("'{}'")),
    )
    family_situation: str | None = Field(default=None, sa_column=Column(Text))
    main_income_source: str | None = Field(default=None, sa_column=Column(String(100)))
    # {"situation": ParentSituation, "work_place": str, "away_since": date, "note": str}
    father: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    mother: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))

    school: str | None = Field(default=None, sa_column=Column(String(100)))
    grade: str | None = Field(default=None, sa_column=Column(String(20)))
    enrolment_status: str | None = Field(default=None, sa_column=Column(String(20)))
    boarding: bool | None = Field(default=None, sa_column=Column(Boolean))
    # 控辍保学: set by PUT /children/{id}/schooling (the education system or staff).
    dropout_risk: bool | None = Field(default=None, sa_column=Column(Boolean))
    dropout_reported_on: date | None = Field(default=None, sa_column=Column(Date))
    health_notes: str | None = Field(default=None, sa_column=Column(Text))
    disability_notes: str | None = Field(default=None, sa_column=Column(Text))
    # [{"kind": str, "monthly_amount": number, "from": date, "to": date|null}]
    subsidies: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    )

    assigned_director_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("users.id"), nullable=True)
    )
    pairing_helper_name: str | None = Field(default=None, sa_column=Column(String(64)))
    pairing_helper_phone: str | None = Field(default=None, sa_column=Column(String(20)))

    risk_level: str = Field(default="blue", sa_column=Column(String(10), nullable=False))
    risk_reason: str | None = Field(default=None, sa_column=Column(Text))
    risk_set_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    risk_set_at: datetime | None = Field(default=None, sa_column=tz_column())

    status: str = Field(default="active", sa_column=Column(String(10), nullable=False))
    closed_reason: str | None = Field(default=None, sa_column=Column(String(30)))
    closed_at: datetime | None = Field(default=None, sa_column=tz_column())
    anonymised_at: datetime | None = Field(default=None, sa_column=tz_column())

    last_visit_at: datetime | None = Field(default=None, sa_column=tz_column())
    next_visit_due: datetime | None = Field(default=None, sa_column=tz_column())
    # The latest current visit, kept by the visits' statistics trigger (migration
    # 0024visited) whatever wrote the visit: the children visited in a period are read from
    # `ix_children_stats` (services/stats/queries.py). Not written by the application.
    stats_visited_at: datetime | None = Field(default=None, sa_column=tz_column())

    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())
    created_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    updated_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    # HMAC of the create request's content, so that a retry of the same create (same id)
    # answers the stored record and a different content under the same id is a conflict.
    create_fingerprint: str | None = Field(default=None, sa_column=Column(String(64)))


class RiskSource(StrEnum):
    manual = "manual"
    visit_review = "visit_review"
    report = "report"
    import_ = "import"


class ChildRiskChange(SQLModel, table=True):
    """Every change of a child's risk level, with who, why and what prompted it."""

    __tablename__ = "child_risk_changes"
    __table_args__ = (Index("ix_child_risk_changes_child", "child_id", "id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    child_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("children.id"), nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    old_level: str | None = Field(default=None, sa_column=Column(String(10)))
    new_level: str = Field(sa_column=Column(String(10), nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(default="manual", sa_column=Column(String(20), nullable=False))
    source_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    set_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    set_at: datetime | None = Field(default=None, sa_column=created_at_column())


class ChildEventKind(StrEnum):
    transferred = "transferred"
    closed = "closed"
    reopened = "reopened"


class ChildEvent(SQLModel, table=True):
    """The record's history besides risk: transfers between villages, closing, reopening.

    `area_code` follows the child (a later transfer moves it); `from_area_code`/`to_area_code`
    keep where a transfer came from and went to, so that sync can send tombstones to the
    village that lost the child."""

    __tablename__ = "child_events"
    __table_args__ = (
        Index("ix_child_events_scope", "county_code", "area_code", "id"),
        Index("ix_child_events_child", "child_id", "id"),
        Index("ix_child_events_from", "from_area_code", "id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    child_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("children.id"), nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    closed_reason: str | None = Field(default=None, sa_column=Column(String(30)))
    from_area_code: str | None = Field(default=None, sa_column=area_code_column(nullable=True))
    to_area_code: str | None = Field(default=None, sa_column=area_code_column(nullable=True))
    by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    at: datetime | None = Field(default=None, sa_column=created_at_column())
