"""Entrusted-care agreements: what the app sends and what it reads back. ID numbers are taken
in clear and always answered masked."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from childprotect_api.core.client_ids import ClientId
from childprotect_api.models.agreement import (
    Agreement,
    AgreementStatus,
    CaregiverRelation,
    ChecklistItem,
    GuardianRelation,
    SignatureParty,
    TerminationReason,
)
from childprotect_api.schemas.user import PHONE_PATTERN

ID_NUMBER_PATTERN = r"^\s*[0-9]{17}[0-9Xx]\s*$"
WEEKLY = "times per week; the law's floor is once a week"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GuardianIn(_Strict):
    name: str = Field(min_length=1, max_length=64)
    relation: GuardianRelation
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    id_number: str | None = Field(default=None, pattern=ID_NUMBER_PATTERN)
    work_place: str | None = Field(
        default=None, max_length=200, description="Defaults to the parent's on the child record."
    )
    away_since: date | None = Field(
        default=None, description="Defaults to the parent's on the child record."
    )


class GuardianPatch(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    relation: GuardianRelation | None = None
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    id_number: str | None = Field(default=None, pattern=ID_NUMBER_PATTERN)
    work_place: str | None = Field(default=None, max_length=200)
    away_since: date | None = None


class CaregiverIn(_Strict):
    name: str = Field(min_length=1, max_length=64)
    relation: CaregiverRelation
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    id_number: str = Field(
        pattern=ID_NUMBER_PATTERN, description="Required: the caregiver must be 18 or over."
    )
    address: str | None = Field(default=None, max_length=200)


class CaregiverPatch(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    relation: CaregiverRelation | None = None
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    id_number: str | None = Field(default=None, pattern=ID_NUMBER_PATTERN)
    address: str | None = Field(default=None, max_length=200)


class ChecklistIn(_Strict):
    """Art. 22 items as confirmed by the drafter: true = confirmed, false = not confirmed,
    null = not yet checked. Items left out are unchanged."""

    no_sexual_assault_record: bool | None = None
    no_abuse_record: bool | None = None
    no_abandonment_record: bool | None = None
    no_trafficking_record: bool | None = None
    no_violence_record: bool | None = None
    no_drug_habit: bool | None = None
    no_alcohol_habit: bool | None = None
    no_gambling_habit: bool | None = None
    never_refused_or_neglected_care: bool | None = None


class AgreementCreate(_Strict):
    id: ClientId | None = Field(
        default=None, description="Client-generated for offline drafts; a retry answers 200."
    )
    guardian: GuardianIn
    caregiver: CaregiverIn
    checklist: ChecklistIn = Field(default_factory=ChecklistIn)
    school_notified_on: date | None = None
    village_committee_notified_on: date | None = None
    times_per_week_child: int = Field(ge=1, le=50, description=WEEKLY)
    times_per_week_caregiver: int = Field(ge=1, le=50, description=WEEKLY)
    starts_on: date
    ends_on: date = Field(description="The last day covered; must be after starts_on.")


class AgreementUpdate(_Strict):
    """Only drafts are editable. Fields left out are unchanged."""

    guardian: GuardianPatch | None = None
    caregiver: CaregiverPatch | None = None
    checklist: ChecklistIn | None = None
    school_notified_on: date | None = None
    village_committee_notified_on: date | None = None
    times_per_week_child: int | None = Field(default=None, ge=1, le=50, description=WEEKLY)
    times_per_week_caregiver: int | None = Field(default=None, ge=1, le=50, description=WEEKLY)
    starts_on: date | None = None
    ends_on: date | None = None


class SignatureCreate(_Strict):
    party: SignatureParty
    signed_on: date
    witnessed_by: uuid.UUID | None = Field(
        default=None,
        description="Guardian and caregiver only: the staff user who witnessed the signature "
        "(defaults to the caller).",
    )


class TerminateRequest(_Strict):
    reason: TerminationReason
    note: str | None = Field(default=None, max_length=1000, description="Required for `other`.")


class GuardianRead(BaseModel):
    name: str
    relation: GuardianRelation
    phone: str | None
    id_number: str | None = Field(description="Masked.")
    work_place: str | None
    away_since: date | None


class CaregiverRead(BaseModel):
    name: str
    relation: CaregiverRelation
    phone: str | None
    id_number: str = Field(description="Masked.")
    birth_date: date
    address: str | None


class ChecklistEntry(BaseModel):
    confirmed: bool
    by: uuid.UUID | None
    at: datetime | None


class ChecklistRead(BaseModel):
    no_sexual_assault_record: ChecklistEntry | None = None
    no_abuse_record: ChecklistEntry | None = None
    no_abandonment_record: ChecklistEntry | None = None
    no_trafficking_record: ChecklistEntry | None = None
    no_violence_record: ChecklistEntry | None = None
    no_drug_habit: ChecklistEntry | None = None
    no_alcohol_habit: ChecklistEntry | None = None
    no_gambling_habit: ChecklistEntry | None = None
    never_refused_or_neglected_care: ChecklistEntry | None = None


class WitnessedSignature(BaseModel):
    signed_on: date
    witnessed_by: uuid.UUID | None


class UserSignature(BaseModel):
    signed_on: date
    signed_by: uuid.UUID | None


class SignaturesRead(BaseModel):
    guardian: WitnessedSignature | None
    caregiver: WitnessedSignature | None
    village_committee: UserSignature | None
    township: UserSignature | None


class TerminationRead(BaseModel):
    reason: TerminationReason
    note: str | None
    terminated_at: datetime | None
    terminated_by: uuid.UUID | None


class AgreementRead(BaseModel):
    id: uuid.UUID
    child_id: uuid.UUID
    area_code: str
    status: AgreementStatus = Field(
        description="An active agreement whose ends_on has passed reads as expired."
    )
    starts_on: date
    ends_on: date
    guardian: GuardianRead
    caregiver: CaregiverRead
    checklist: ChecklistRead
    unconfirmed_items: list[ChecklistItem] = Field(
        description="Checklist items not confirmed yet (activation needs none)."
    )
    school_notified_on: date | None
    village_committee_notified_on: date | None
    times_per_week_child: int
    times_per_week_caregiver: int
    signatures: SignaturesRead
    activated_at: datetime | None
    termination: TerminationRead | None
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    created_by: uuid.UUID | None
    updated_by: uuid.UUID | None

    @classmethod
    def from_row(cls, a: Agreement, today: date) -> AgreementRead:
        return cls(
            id=a.id,
            child_id=a.child_id,
            area_code=a.area_code,
            status=effective_status(a, today),
            starts_on=a.starts_on,
            ends_on=a.ends_on,
            guardian=GuardianRead(
                name=a.guardian_name,
                relation=GuardianRelation(a.guardian_relation),
                phone=a.guardian_phone,
                id_number=a.guardian_id_number_masked,
                work_place=a.guardian_work_place,
                away_since=a.guardian_away_since,
            ),
            caregiver=CaregiverRead(
                name=a.caregiver_name,
                relation=CaregiverRelation(a.caregiver_relation),
                phone=a.caregiver_phone,
                id_number=a.caregiver_id_number_masked,
                birth_date=a.caregiver_birth_date,
                address=a.caregiver_address,
            ),
            checklist=ChecklistRead.model_validate(a.checklist),
            unconfirmed_items=unconfirmed_items(a.checklist),
            school_notified_on=a.school_notified_on,
            village_committee_notified_on=a.village_committee_notified_on,
            times_per_week_child=a.times_per_week_child,
            times_per_week_caregiver=a.times_per_week_caregiver,
            signatures=_signatures(a),
            activated_at=a.activated_at,
            termination=(
                TerminationRead(
                    reason=TerminationReason(a.termination_reason),
                    note=a.termination_note,
                    terminated_at=a.terminated_at,
                    terminated_by=a.terminated_by,
                )
                if a.termination_reason
                else None
            ),
            version=a.version,
            created_at=a.created_at,
            updated_at=a.updated_at,
            created_by=a.created_by,
            updated_by=a.updated_by,
        )


def _signatures(a: Agreement) -> SignaturesRead:
    def witnessed(on: date | None, by: uuid.UUID | None) -> WitnessedSignature | None:
        return WitnessedSignature(signed_on=on, witnessed_by=by) if on else None

    def signed(on: date | None, by: uuid.UUID | None) -> UserSignature | None:
        return UserSignature(signed_on=on, signed_by=by) if on else None

    return SignaturesRead(
        guardian=witnessed(a.guardian_signed_on, a.guardian_witnessed_by),
        caregiver=witnessed(a.caregiver_signed_on, a.caregiver_witnessed_by),
        village_committee=signed(a.village_committee_signed_on, a.village_committee_signed_by),
        township=signed(a.township_signed_on, a.township_signed_by),
    )


def effective_status(a: Agreement, today: date) -> AgreementStatus:
    """The stored status, except that an active agreement past its end reads as expired
    before the expiry job has run."""
    if a.status == AgreementStatus.active and a.ends_on < today:
        return AgreementStatus.expired
    return AgreementStatus(a.status)


def unconfirmed_items(checklist: dict[str, Any]) -> list[ChecklistItem]:
    return [
        item
        for item in ChecklistItem
        if not (checklist.get(item.value) or {}).get("confirmed", False)
    ]


class AgreementStatusChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    old_status: AgreementStatus | None
    new_status: AgreementStatus
    reason: str | None
    note: str | None
    changed_by: uuid.UUID | None = Field(description="null when the expiry job changed it.")
    changed_at: datetime | None


class GapKind(StrEnum):
    no_active_agreement = "no_active_agreement"
    ending_soon = "ending_soon"


class ChildGap(BaseModel):
    """A left-behind child in scope with no active agreement."""

    child_id: uuid.UUID
    name: str
    area_code: str
    risk_level: str
    has_draft: bool = Field(description="A draft agreement exists for the child.")
    last_ended_on: date | None = Field(
        description="End date of the child's latest expired or terminated agreement."
    )


class ChildGapPage(BaseModel):
    items: list[ChildGap]
    next_cursor: str | None = None


class EndingSoonPage(BaseModel):
    items: list[AgreementRead]
    next_cursor: str | None = None


class AgreementGaps(BaseModel):
    """The 一人一协议 follow-up lists. Each list is keyset-paginated on its own
    (`children_cursor`, `ending_cursor`); `kind` asks for one list only."""

    as_of: date
    within_days: int
    no_active_agreement: ChildGapPage
    ending_soon: EndingSoonPage
