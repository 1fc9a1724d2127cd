"""Mandatory reports (强制报告): the report, its referrals, its notes, its immutable timeline,
and each county's time limits.

`report_events` is append-only (a database trigger refuses UPDATE, DELETE and TRUNCATE; see
the migration) and holds no personal data: free text (notes) lives in `report_notes`, which
can be anonymised when the retention period ends."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
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
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import (
    area_code_column,
    county_code_column,
    created_at_column,
    tz_column,
    updated_at_column,
)


class ReportSituation(StrEnum):
    """The nine situations of the 2020 opinion on mandatory reporting."""

    genital_injury = "genital_injury"
    sexual_assault_under_14 = "sexual_assault_under_14"
    assault_pregnancy_14_plus = "assault_pregnancy_14_plus"
    multiple_injuries_or_abuse = "multiple_injuries_or_abuse"
    abnormal_disability_or_death = "abnormal_disability_or_death"
    abandoned_or_no_care = "abandoned_or_no_care"
    missing_or_trafficked = "missing_or_trafficked"
    organised_begging = "organised_begging"
    other_serious_harm = "other_serious_harm"


class ReporterSector(StrEnum):
    village_committee = "village_committee"
    school = "school"
    kindergarten = "kindergarten"
    tutoring = "tutoring"
    school_bus = "school_bus"
    childcare = "childcare"
    medical = "medical"
    welfare_institution = "welfare_institution"
    social_work = "social_work"
    hotel = "hotel"
    other = "other"


class ReportStatus(StrEnum):
    submitted = "submitted"
    accepted = "accepted"
    referred = "referred"
    closed = "closed"


class ReportOutcome(StrEnum):
    substantiated = "substantiated"
    unsubstantiated = "unsubstantiated"
    transferred_to_police_case = "transferred_to_police_case"
    other = "other"


class ReferralTarget(StrEnum):
    police = "police"
    procuratorate = "procuratorate"
    civil_affairs = "civil_affairs"
    education = "education"
    health = "health"
    womens_federation = "womens_federation"
    youth_league = "youth_league"
    disabled_persons_federation = "disabled_persons_federation"
    court = "court"
    township_supervisor = "township_supervisor"
    village_director = "village_director"
    other = "other"


# A referral to the local network opens the report to that area's supervisor and director.
LOCAL_REFERRAL_TARGETS: tuple[str, ...] = (
    ReferralTarget.township_supervisor.value,
    ReferralTarget.village_director.value,
)


class ReferralStatus(StrEnum):
    sent = "sent"
    acknowledged = "acknowledged"
    in_progress = "in_progress"
    completed = "completed"
    declined = "declined"


class ReportEventKind(StrEnum):
    submitted = "submitted"
    accepted = "accepted"
    referred = "referred"
    referral_status = "referral_status"
    note = "note"
    child_linked = "child_linked"
    closed = "closed"
    overdue = "overdue"


def _values(enum: type[StrEnum]) -> str:
    return ", ".join(f"'{e.value}'" for e in enum)


class Report(SQLModel, table=True):
    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_scope", "county_code", "area_code", "id"),
        # The county's list, newest first (the officer's screen).
        Index("ix_reports_county_created", "county_code", "created_at", "id"),
        Index("ix_reports_reporter", "reporter_user_id", "created_at", "id"),
        Index(
            "ix_reports_reporter_client",
            "reporter_client_id",
            "created_at",
            "id",
            postgresql_where=text("reporter_client_id IS NOT NULL"),
        ),
        Index("ix_reports_child", "child_id", postgresql_where=text("child_id IS NOT NULL")),
        Index(
            "ix_reports_child_id_number_hash",
            "child_id_number_hash",
            postgresql_where=text("child_id_number_hash IS NOT NULL"),
        ),
        # Overdue filters (services/reports/deadlines.py writes the same predicates).
        Index(
            "ix_reports_accept_due",
            "county_code",
            "accept_deadline",
            postgresql_where=text("status = 'submitted'"),
        ),
        Index(
            "ix_reports_referral_due",
            "county_code",
            "first_referral_deadline",
            postgresql_where=text("status IN ('submitted', 'accepted')"),
        ),
        # What the overdue job has still to announce: small, across counties.
        Index(
            "ix_reports_accept_overdue_pending",
            "accept_deadline",
            postgresql_where=text("status = 'submitted' AND accept_overdue_at IS NULL"),
        ),
        Index(
            "ix_reports_referral_overdue_pending",
            "first_referral_deadline",
            postgresql_where=text(
                "status IN ('submitted', 'accepted') AND referral_overdue_at IS NULL"
            ),
        ),
        CheckConstraint(f"status IN ({_values(ReportStatus)})", name="ck_reports_status"),
        CheckConstraint(
            "(status = 'closed') = (outcome IS NOT NULL AND closed_at IS NOT NULL)",
            name="ck_reports_closed_outcome",
        ),
        CheckConstraint("county_code = left(area_code, 6)", name="ck_reports_county"),
    )

    # Client-suppliable (offline filing): a retry with the same id never makes a second row.
    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    county_code: str = Field(sa_column=county_code_column())
    # The most precise area known: the linked child's village, else the area the filer gave.
    area_code: str = Field(sa_column=area_code_column())
    # The area as the filer gave it (what the filer's own view shows).
    reported_area_code: str = Field(sa_column=area_code_column())

    situation: str = Field(sa_column=Column(String(40), nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    occurred_at: datetime = Field(sa_column=tz_column(nullable=False))
    discovered_at: datetime = Field(sa_column=tz_column(nullable=False))
    place_description: str | None = Field(default=None, sa_column=Column(String(500)))
    reporter_sector: str = Field(sa_column=Column(String(30), nullable=False))
    police_notified: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    police_notified_at: datetime | None = Field(default=None, sa_column=tz_column())
    police_case_number: str | None = Field(default=None, sa_column=Column(String(64)))
    urgent: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))

    child_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("children.id"), nullable=True)
    )
    # What the reporter knows of an unregistered child: name, approximate_age, gender,
    # school, guardian.
    child_description: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    # An ID number given by the reporter: never stored in clear.
    child_id_number_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    child_id_number_hash: str | None = Field(default=None, sa_column=Column(String(64)))
    child_id_number_masked: str | None = Field(default=None, sa_column=Column(String(18)))

    # Confidential: only county officers of the report's county and the filer see these.
    reporter_user_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("users.id"), nullable=True)
    )
    reporter_client_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    reporter_name: str | None = Field(default=None, sa_column=Column(String(64)))
    reporter_contact: str | None = Field(default=None, sa_column=Column(String(100)))

    status: str = Field(default="submitted", sa_column=Column(String(12), nullable=False))
    accept_deadline: datetime = Field(sa_column=tz_column(nullable=False))
    first_referral_deadline: datetime = Field(sa_column=tz_column(nullable=False))
    accepted_at: datetime | None = Field(default=None, sa_column=tz_column())
    accepted_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    first_referral_at: datetime | None = Field(default=None, sa_column=tz_column())
    closed_at: datetime | None = Field(default=None, sa_column=tz_column())
    closed_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    outcome: str | None = Field(default=None, sa_column=Column(String(40)))
    # Told to the reporter (GET /my-reports).
    outcome_message: str | None = Field(default=None, sa_column=Column(Text))
    # When `report.overdue` was emitted for each deadline (so it is emitted once).
    accept_overdue_at: datetime | None = Field(default=None, sa_column=tz_column())
    referral_overdue_at: datetime | None = Field(default=None, sa_column=tz_column())

    # Keyed hash of the intake body: tells an idempotent retry from a conflicting reuse.
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())


class ReportReferral(SQLModel, table=True):
    __tablename__ = "report_referrals"
    __table_args__ = (
        Index("ix_report_referrals_scope", "county_code", "area_code", "id"),
        Index("ix_report_referrals_report", "report_id", "target"),
        CheckConstraint(
            f"status IN ({_values(ReferralStatus)})", name="ck_report_referrals_status"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    report_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("reports.id"), nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    target: str = Field(sa_column=Column(String(40), nullable=False))
    contact: str | None = Field(default=None, sa_column=Column(String(200)))
    case_number: str | None = Field(default=None, sa_column=Column(String(64)))
    note: str | None = Field(default=None, sa_column=Column(Text))
    status: str = Field(default="sent", sa_column=Column(String(20), nullable=False))
    status_note: str | None = Field(default=None, sa_column=Column(Text))
    status_updated_at: datetime | None = Field(default=None, sa_column=tz_column())
    status_updated_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    created_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))


class ReportEvent(SQLModel, table=True):
    """One step of a report's timeline: who, when, what. Immutable; no personal data."""

    __tablename__ = "report_events"
    __table_args__ = (
        Index("ix_report_events_scope", "county_code", "area_code", "id"),
        Index("ix_report_events_report", "report_id", "id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    report_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("reports.id"), nullable=False))
    # The report's area when the event happened (reads go through the report's own scope).
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    at: datetime | None = Field(default=None, sa_column=created_at_column())
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    actor_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    actor_role: str = Field(sa_column=Column(String(32), nullable=False))
    referral_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("report_referrals.id"), nullable=True)
    )
    # Ids, enum values and timestamps only.
    data: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )


class ReportNote(SQLModel, table=True):
    """Free text of the handling (a note, or the remark of a referral status update); the
    timeline event it belongs to points at it."""

    __tablename__ = "report_notes"
    __table_args__ = (
        Index("ix_report_notes_scope", "county_code", "area_code", "id"),
        Index("ix_report_notes_report", "report_id"),
        Index("ix_report_notes_event", "event_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    report_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("reports.id"), nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    event_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("report_events.id"), nullable=False)
    )
    referral_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("report_referrals.id"), nullable=True)
    )
    body: str = Field(sa_column=Column(Text, nullable=False))
    author_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())


DEFAULT_ACCEPT_WITHIN_HOURS = 24
DEFAULT_FIRST_REFERRAL_WITHIN_HOURS = 72


class ReportPolicy(SQLModel, table=True):
    """A county's own time limits; a county without a row uses the defaults."""

    __tablename__ = "report_policies"

    county_code: str = Field(sa_column=Column(String(6, collation="C"), primary_key=True))
    accept_within_hours: int = Field(
        default=DEFAULT_ACCEPT_WITHIN_HOURS, sa_column=Column(Integer, nullable=False)
    )
    first_referral_within_hours: int = Field(
        default=DEFAULT_FIRST_REFERRAL_WITHIN_HOURS, sa_column=Column(Integer, nullable=False)
    )
    updated_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())
