"""Entrusted-care agreements (委托照护协议, Minors Protection Law arts. 21–23, 43) and the
history of their status changes.

At most one agreement per child is active: a partial unique index, so the database refuses a
second activation even when two requests race."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
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
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import (
    area_code_column,
    county_code_column,
    created_at_column,
    tz_column,
    updated_at_column,
)


class AgreementStatus(StrEnum):
    draft = "draft"
    active = "active"
    expired = "expired"
    terminated = "terminated"


class TerminationReason(StrEnum):
    parent_returned = "parent_returned"
    caregiver_unable = "caregiver_unable"
    child_moved = "child_moved"
    other = "other"


class SignatureParty(StrEnum):
    guardian = "guardian"
    caregiver = "caregiver"
    village_committee = "village_committee"
    township = "township"


class GuardianRelation(StrEnum):
    father = "father"
    mother = "mother"
    other_guardian = "other_guardian"


class CaregiverRelation(StrEnum):
    paternal_grandparent = "paternal_grandparent"
    maternal_grandparent = "maternal_grandparent"
    uncle_or_aunt = "uncle_or_aunt"
    adult_sibling = "adult_sibling"
    other_relative = "other_relative"
    neighbour_or_friend = "neighbour_or_friend"
    other = "other"


class ChecklistItem(StrEnum):
    """Art. 22: who may not be entrusted with a child's care. Each item is confirmed by the
    director who drafts the agreement."""

    no_sexual_assault_record = "no_sexual_assault_record"
    no_abuse_record = "no_abuse_record"
    no_abandonment_record = "no_abandonment_record"
    no_trafficking_record = "no_trafficking_record"
    no_violence_record = "no_violence_record"
    no_drug_habit = "no_drug_habit"
    no_alcohol_habit = "no_alcohol_habit"
    no_gambling_habit = "no_gambling_habit"
    never_refused_or_neglected_care = "never_refused_or_neglected_care"


ONE_ACTIVE_INDEX = "uq_agreements_one_active_per_child"


class Agreement(SQLModel, table=True):
    __tablename__ = "agreements"
    __table_args__ = (
        Index("ix_agreements_scope", "county_code", "area_code", "id"),
        Index("ix_agreements_county_ends", "county_code", "ends_on", "id"),
        Index("ix_agreements_child", "child_id", "starts_on", "id"),
        Index(
            ONE_ACTIVE_INDEX,
            "child_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
        # The expiry job's scan: only active rows, by end date.
        Index("ix_agreements_active_ends", "ends_on", postgresql_where=text("status = 'active'")),
        CheckConstraint("ends_on > starts_on", name="ck_agreements_dates"),
        CheckConstraint(
            "times_per_week_child >= 1 AND times_per_week_caregiver >= 1",
            name="ck_agreements_contact_weekly",
        ),
        CheckConstraint(
            "status IN ('draft', 'active', 'expired', 'terminated')", name="ck_agreements_status"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    child_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("children.id"), nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())

    # The guardian (a parent, or another guardian) who entrusts the care.
    guardian_name: str = Field(sa_column=Column(String(64), nullable=False))
    guardian_relation: str = Field(sa_column=Column(String(20), nullable=False))
    guardian_phone: str | None = Field(default=None, sa_column=Column(String(20)))
    guardian_id_number_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    guardian_id_number_hash: str | None = Field(default=None, sa_column=Column(String(64)))
    guardian_id_number_masked: str | None = Field(default=None, sa_column=Column(String(18)))
    guardian_work_place: str | None = Field(default=None, sa_column=Column(String(200)))
    guardian_away_since: date | None = Field(default=None, sa_column=Column(Date))

    # The entrusted caregiver (被委托照护人): an adult, checked from the ID number.
    caregiver_name: str = Field(sa_column=Column(String(64), nullable=False))
    caregiver_relation: str = Field(sa_column=Column(String(30), nullable=False))
    caregiver_phone: str | None = Field(default=None, sa_column=Column(String(20)))
    caregiver_id_number_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    caregiver_id_number_hash: str = Field(sa_column=Column(String(64), nullable=False))
    caregiver_id_number_masked: str = Field(sa_column=Column(String(18), nullable=False))
    caregiver_birth_date: date = Field(sa_column=Column(Date, nullable=False))
    caregiver_address: str | None = Field(default=None, sa_column=Column(String(200)))

    # {item: {"confirmed": bool, "by": uuid, "at": iso datetime}} for ChecklistItem values.
    checklist: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
    school_notified_on: date | None = Field(default=None, sa_column=Column(Date))
    village_committee_notified_on: date | None = Field(default=None, sa_column=Column(Date))
    times_per_week_child: int = Field(sa_column=Column(Integer, nullable=False))
    times_per_week_caregiver: int = Field(sa_column=Column(Integer, nullable=False))

    starts_on: date = Field(sa_column=Column(Date, nullable=False))
    ends_on: date = Field(sa_column=Column(Date, nullable=False))
    status: str = Field(default="draft", sa_column=Column(String(12), nullable=False))

    # Signatures: the guardian and the caregiver sign on paper before a staff witness; the
    # village committee and the township are signed for by a user.
    guardian_signed_on: date | None = Field(default=None, sa_column=Column(Date))
    guardian_witnessed_by: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("users.id"))
    )
    caregiver_signed_on: date | None = Field(default=None, sa_column=Column(Date))
    caregiver_witnessed_by: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("users.id"))
    )
    village_committee_signed_on: date | None = Field(default=None, sa_column=Column(Date))
    village_committee_signed_by: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("users.id"))
    )
    township_signed_on: date | None = Field(default=None, sa_column=Column(Date))
    township_signed_by: uuid.UUID | None = Field(
        default=None, sa_column=Column(Uuid, ForeignKey("users.id"))
    )

    activated_at: datetime | None = Field(default=None, sa_column=tz_column())
    termination_reason: str | None = Field(default=None, sa_column=Column(String(20)))
    termination_note: str | None = Field(default=None, sa_column=Column(Text))
    terminated_at: datetime | None = Field(default=None, sa_column=tz_column())
    terminated_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    # When the `agreement.expiring` event was emitted (once per agreement).
    expiring_notified_at: datetime | None = Field(default=None, sa_column=tz_column())

    # Keyed hash of the create request, so a retried offline create is recognised.
    create_fingerprint: str = Field(sa_column=Column(String(64), nullable=False))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())
    created_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    updated_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))


class AgreementStatusChange(SQLModel, table=True):
    """Every status change of an agreement: who (None for the expiry job), when, and why."""

    __tablename__ = "agreement_status_changes"
    __table_args__ = (
        Index("ix_agreement_status_changes_scope", "county_code", "area_code", "id"),
        Index("ix_agreement_status_changes_agreement", "agreement_id", "id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    agreement_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("agreements.id"), nullable=False)
    )
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    old_status: str | None = Field(default=None, sa_column=Column(String(12)))
    new_status: str = Field(sa_column=Column(String(12), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(String(40)))
    note: str | None = Field(default=None, sa_column=Column(Text))
    changed_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    changed_at: datetime | None = Field(default=None, sa_column=created_at_column())
