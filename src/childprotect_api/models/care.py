"""Care work (DESIGN.md "Care work"): pairings (结对帮扶) and their contact log, cases
(个案, 一人一案) with their measures and immutable timeline, the risk duties a child's level
opens, and the alerts that reach the officers. Every table is area-scoped like a child
(county_code leads its scope index)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Identity,
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


class HelperKind(StrEnum):
    caring_mother = "caring_mother"
    cadre = "cadre"
    teacher = "teacher"
    volunteer = "volunteer"
    social_worker = "social_worker"
    organisation = "organisation"
    other = "other"


class PairingStatus(StrEnum):
    active = "active"
    ended = "ended"


class PairingEndReason(StrEnum):
    child_safe = "child_safe"
    helper_unavailable = "helper_unavailable"
    child_moved = "child_moved"
    turned_18 = "turned_18"
    other = "other"


class ContactKind(StrEnum):
    home = "home"
    phone = "phone"
    school = "school"
    other = "other"


class CaseReason(StrEnum):
    risk = "risk"
    report = "report"
    visit_finding = "visit_finding"
    referral_in = "referral_in"
    other = "other"


class CaseStatus(StrEnum):
    open = "open"
    closed = "closed"


class CaseOutcome(StrEnum):
    resolved = "resolved"
    moved_away = "moved_away"
    turned_18 = "turned_18"
    placed = "placed"
    other = "other"


class AssessmentDomain(StrEnum):
    safety = "safety"
    guardianship = "guardianship"
    living = "living"
    health = "health"
    education = "education"
    psychology = "psychology"


class AssessmentLevel(StrEnum):
    none = "none"
    low = "low"
    medium = "medium"
    high = "high"


class MeasureKind(StrEnum):
    psychological_support = "psychological_support"
    living_assistance = "living_assistance"
    medical_assistance = "medical_assistance"
    school_return = "school_return"
    home_education = "home_education"
    guardianship_guidance = "guardianship_guidance"
    guardianship_intervention = "guardianship_intervention"
    guardianship_revocation = "guardianship_revocation"
    temporary_placement = "temporary_placement"
    legal_aid = "legal_aid"
    referral = "referral"
    other = "other"


class MeasureStatus(StrEnum):
    planned = "planned"
    done = "done"
    cancelled = "cancelled"


class CaseEventKind(StrEnum):
    opened = "opened"
    assessed = "assessed"
    measure_added = "measure_added"
    measure_done = "measure_done"
    measure_cancelled = "measure_cancelled"
    reviewed = "reviewed"
    owner_changed = "owner_changed"
    closed = "closed"


class DutyKind(StrEnum):
    needs_pairing = "needs_pairing"
    needs_case = "needs_case"
    case_review_due = "case_review_due"


class AlertKind(StrEnum):
    child_red = "child_red"
    duty_overdue = "duty_overdue"
    report_overdue = "report_overdue"
    case_review_due = "case_review_due"


class Pairing(SQLModel, table=True):
    __tablename__ = "pairings"
    __table_args__ = (
        Index("ix_pairings_scope", "county_code", "area_code", "id"),
        Index("ix_pairings_child", "child_id", "starts_on", "id"),
        Index("ix_pairings_child_active", "child_id", postgresql_where=text("status = 'active'")),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    child_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("children.id"), nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    helper_name: str = Field(sa_column=Column(String(64), nullable=False))
    helper_phone: str | None = Field(default=None, sa_column=Column(String(20)))
    helper_kind: str = Field(sa_column=Column(String(20), nullable=False))
    starts_on: date = Field(sa_column=Column(Date, nullable=False))
    ends_on: date | None = Field(default=None, sa_column=Column(Date))
    status: str = Field(default="active", sa_column=Column(String(10), nullable=False))
    end_reason: str | None = Field(default=None, sa_column=Column(String(20)))
    note: str | None = Field(default=None, sa_column=Column(Text))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())
    created_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    updated_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))


class PairingContact(SQLModel, table=True):
    __tablename__ = "pairing_contacts"
    __table_args__ = (
        Index("ix_pairing_contacts_scope", "county_code", "area_code", "id"),
        Index("ix_pairing_contacts_pairing", "pairing_id", "contacted_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    pairing_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("pairings.id"), nullable=False))
    child_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    contacted_at: datetime = Field(sa_column=tz_column(nullable=False))
    kind: str = Field(sa_column=Column(String(10), nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    created_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_scope", "county_code", "area_code", "id"),
        Index("ix_cases_child", "child_id", "id"),
        Index("ix_cases_open_review", "review_on", postgresql_where=text("status = 'open'")),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    child_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("children.id"), nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    reason: str = Field(sa_column=Column(String(20), nullable=False))
    summary: str | None = Field(default=None, sa_column=Column(Text))
    owner_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("users.id"), nullable=False))
    # {domain: {"level": none|low|medium|high, "note": str|None}}
    assessment: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
    review_on: date | None = Field(default=None, sa_column=Column(Date))
    status: str = Field(default="open", sa_column=Column(String(10), nullable=False))
    outcome: str | None = Field(default=None, sa_column=Column(String(20)))
    closed_at: datetime | None = Field(default=None, sa_column=tz_column())
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())
    created_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    updated_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))


class CaseMeasure(SQLModel, table=True):
    __tablename__ = "case_measures"
    __table_args__ = (
        Index("ix_case_measures_scope", "county_code", "area_code", "id"),
        Index("ix_case_measures_case", "case_id", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    case_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("cases.id"), nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    kind: str = Field(sa_column=Column(String(30), nullable=False))
    responsible: str = Field(sa_column=Column(String(100), nullable=False))
    due_on: date | None = Field(default=None, sa_column=Column(Date))
    status: str = Field(default="planned", sa_column=Column(String(10), nullable=False))
    done_on: date | None = Field(default=None, sa_column=Column(Date))
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())
    created_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    updated_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))


class CaseEvent(SQLModel, table=True):
    """The case's timeline: appended, never changed."""

    __tablename__ = "case_events"
    __table_args__ = (
        Index("ix_case_events_scope", "county_code", "area_code", "id"),
        Index("ix_case_events_case", "case_id", "id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    case_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("cases.id"), nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    data: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
    at: datetime | None = Field(default=None, sa_column=created_at_column())
    by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))


class ChildDuty(SQLModel, table=True):
    """A risk duty (DESIGN.md's table): open while `met_at` is null. At most one open duty
    of a kind per child (a partial unique index), so two racing writers cannot open two."""

    __tablename__ = "child_duties"
    __table_args__ = (
        Index("ix_child_duties_scope", "county_code", "area_code", "id"),
        Index(
            "uq_child_duties_open",
            "child_id",
            "kind",
            unique=True,
            postgresql_where=text("met_at IS NULL"),
        ),
        # The overdue job's scan: open duties not yet alerted, by due time.
        Index(
            "ix_child_duties_due",
            "due_at",
            postgresql_where=text("met_at IS NULL AND overdue_alerted_at IS NULL"),
        ),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    child_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("children.id"), nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    case_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    opened_at: datetime = Field(sa_column=tz_column(nullable=False))
    due_at: datetime = Field(sa_column=tz_column(nullable=False))
    met_at: datetime | None = Field(default=None, sa_column=tz_column())
    overdue_alerted_at: datetime | None = Field(default=None, sa_column=tz_column())


class Alert(SQLModel, table=True):
    """One alert in one user's inbox (so each recipient acknowledges their own)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_scope", "county_code", "area_code", "id"),
        Index("ix_alerts_recipient", "recipient_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    recipient_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("users.id"), nullable=False))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    child_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    duty_kind: str | None = Field(default=None, sa_column=Column(String(20)))
    source_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    acknowledged_at: datetime | None = Field(default=None, sa_column=tz_column())
    acknowledged_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
