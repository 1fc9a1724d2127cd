"""API shapes of care work: pairings, cases and measures, duties, alerts."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from childprotect_api.core.client_ids import ClientId
from childprotect_api.models.care import (
    AlertKind,
    AssessmentDomain,
    AssessmentLevel,
    CaseEventKind,
    CaseOutcome,
    CaseReason,
    CaseStatus,
    ContactKind,
    DutyKind,
    HelperKind,
    MeasureKind,
    MeasureStatus,
    PairingEndReason,
    PairingStatus,
)
from childprotect_api.schemas.user import PHONE_PATTERN

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PairingCreate(_Strict):
    id: ClientId | None = Field(
        default=None, description="Client-made id: a retry answers the stored pairing."
    )
    child_id: uuid.UUID
    helper_name: Name
    helper_phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    helper_kind: HelperKind
    starts_on: date
    ends_on: date | None = None
    note: Note | None = None


class PairingUpdate(_Strict):
    helper_phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    ends_on: date | None = None
    note: Note | None = None


class PairingEnd(_Strict):
    end_reason: PairingEndReason
    ends_on: date | None = Field(default=None, description="Defaults to today.")
    note: Note | None = None


class PairingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    child_id: uuid.UUID
    area_code: str
    helper_name: str
    helper_phone: str | None
    helper_kind: HelperKind
    starts_on: date
    ends_on: date | None
    status: PairingStatus
    end_reason: PairingEndReason | None
    note: str | None
    version: int
    created_at: datetime | None
    updated_at: datetime | None


class ContactCreate(_Strict):
    id: ClientId | None = Field(default=None, description="Client-made id (idempotent).")
    contacted_at: datetime
    kind: ContactKind
    note: Note | None = None


class ContactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    pairing_id: uuid.UUID
    child_id: uuid.UUID
    contacted_at: datetime
    kind: ContactKind
    note: str | None
    created_at: datetime | None


class DomainAssessment(_Strict):
    level: AssessmentLevel
    note: Note | None = None


class Assessment(_Strict):
    safety: DomainAssessment | None = None
    guardianship: DomainAssessment | None = None
    living: DomainAssessment | None = None
    health: DomainAssessment | None = None
    education: DomainAssessment | None = None
    psychology: DomainAssessment | None = None


class MeasureCreate(_Strict):
    id: ClientId | None = Field(default=None, description="Client-made id (idempotent).")
    kind: MeasureKind
    responsible: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ] = Field(description="A department's name, or a user's.")
    due_on: date | None = None
    note: Note | None = None


class MeasureDone(_Strict):
    done_on: date | None = Field(default=None, description="Defaults to today.")
    note: Note | None = None


class MeasureCancel(_Strict):
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ] = Field(description="Why the measure will not be carried out (recorded on the timeline).")


class MeasureRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_id: uuid.UUID
    kind: MeasureKind
    responsible: str
    due_on: date | None
    status: MeasureStatus
    done_on: date | None
    note: str | None


class CaseCreate(_Strict):
    id: ClientId | None = Field(default=None, description="Client-made id (idempotent).")
    child_id: uuid.UUID
    reason: CaseReason
    summary: Note | None = None
    owner_id: uuid.UUID | None = Field(
        default=None,
        description="A township supervisor or county officer in scope; the caller by default.",
    )
    review_on: date | None = None


class CaseUpdate(_Strict):
    """Assess (the six domains), set the next review date (a review), change the owner."""

    assessment: Assessment | None = None
    review_on: date | None = None
    owner_id: uuid.UUID | None = None
    summary: Note | None = None


class CaseClose(_Strict):
    outcome: CaseOutcome
    note: Note | None = None


class CaseEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: CaseEventKind
    data: dict[str, object]
    at: datetime | None
    by: uuid.UUID | None


class CaseRead(BaseModel):
    id: uuid.UUID
    child_id: uuid.UUID
    area_code: str
    reason: CaseReason
    summary: str | None
    owner_id: uuid.UUID
    assessment: dict[AssessmentDomain, DomainAssessment]
    review_on: date | None
    status: CaseStatus
    outcome: CaseOutcome | None
    closed_at: datetime | None
    measures: list[MeasureRead]
    version: int
    created_at: datetime | None
    updated_at: datetime | None


class DutyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: DutyKind
    opened_at: datetime
    due_at: datetime
    overdue: bool = False
    case_id: uuid.UUID | None = None


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: AlertKind
    child_id: uuid.UUID | None
    area_code: str
    duty_kind: DutyKind | None
    source_id: uuid.UUID | None
    created_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None
