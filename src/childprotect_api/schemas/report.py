from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from childprotect_api.core.client_ids import ClientId
from childprotect_api.models.child import Gender
from childprotect_api.models.report import (
    ReferralStatus,
    ReferralTarget,
    ReporterSector,
    ReportEventKind,
    ReportOutcome,
    ReportSituation,
    ReportStatus,
)
from childprotect_api.schemas.child import ChildCreate

# Where a report happened: at least a county (6, 9 or 12 digits).
REPORT_AREA_PATTERN = r"^(\d{6}|\d{9}|\d{12})$"
CONFIDENTIAL = "confidential"


class ChildDescription(BaseModel):
    """What the reporter knows of a child who may not be registered."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=64)
    approximate_age: int | None = Field(default=None, ge=0, le=17)
    gender: Gender | None = None
    school: str | None = Field(default=None, max_length=100)
    guardian: str | None = Field(default=None, max_length=100)

    def is_empty(self) -> bool:
        return all(v is None or v == "" for v in self.model_dump().values())


class ReportCreate(BaseModel):
    """A mandatory report. Name the child by `child_id` (registered, in your area), by
    `id_number`, or describe it in `child_description`; at least one of them."""

    id: ClientId | None = Field(
        default=None,
        description="Client-generated id: a retry with the same id and content "
        "answers the stored report instead of filing twice.",
    )
    situation: ReportSituation
    description: str = Field(min_length=1, max_length=5000)
    occurred_at: AwareDatetime
    discovered_at: AwareDatetime | None = Field(
        default=None, description="When the harm was found; the time of filing when omitted."
    )
    area_code: str | None = Field(
        default=None,
        pattern=REPORT_AREA_PATTERN,
        description="Where: at least a county, inside your own area. Optional with child_id.",
    )
    place_description: str | None = Field(default=None, max_length=500)
    reporter_sector: ReporterSector
    police_notified: bool = False
    police_notified_at: AwareDatetime | None = None
    police_case_number: str | None = Field(default=None, max_length=64)
    urgent: bool = Field(default=False, description="The child is in immediate danger.")
    child_id: uuid.UUID | None = None
    id_number: str | None = Field(
        default=None,
        max_length=18,
        description="The child's ID number; a registered child is linked without the answer "
        "saying whether one was found.",
    )
    child_description: ChildDescription | None = None
    reporter_name: str | None = Field(
        default=None, max_length=64, description="Defaults to the filer's account name."
    )
    reporter_contact: str | None = Field(
        default=None, max_length=100, description="Defaults to the filer's account phone."
    )


class FiledReportRead(BaseModel):
    """The filer's view of their own report: its status and the outcome told to them,
    nothing about the handling."""

    id: uuid.UUID
    situation: ReportSituation
    area_code: str = Field(description="The area as the filer gave it.")
    occurred_at: datetime
    submitted_at: datetime
    status: ReportStatus
    outcome: ReportOutcome | None
    outcome_message: str | None
    closed_at: datetime | None


class ReporterRead(BaseModel):
    """The filer of a report; `confidential` (and every other field null) unless the caller
    may see who filed it."""

    confidential: bool
    user_id: uuid.UUID | None
    client_id: uuid.UUID | None
    name: str | None
    contact: str | None

    @classmethod
    def hidden(cls) -> ReporterRead:
        return cls(confidential=True, user_id=None, client_id=None, name=None, contact=None)


class ReferralRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    report_id: uuid.UUID
    target: ReferralTarget
    contact: str | None
    case_number: str | None
    note: str | None
    status: ReferralStatus
    status_note: str | None
    status_updated_at: datetime | None
    created_at: datetime | None
    created_by: uuid.UUID | None
    version: int


class ReportRead(BaseModel):
    id: uuid.UUID
    situation: ReportSituation
    description: str
    occurred_at: datetime
    discovered_at: datetime
    submitted_at: datetime
    county_code: str
    area_code: str = Field(
        description="The most precise area known (the child's village "
        "when a registered child is linked)."
    )
    reported_area_code: str
    place_description: str | None
    reporter_sector: ReporterSector
    police_notified: bool
    police_notified_at: datetime | None
    police_case_number: str | None
    urgent: bool
    child_id: uuid.UUID | None
    child_description: ChildDescription | None
    child_id_number: str | None = Field(description="Masked.")
    reporter: ReporterRead = Field(
        description="The filer; `confidential: true` (no name, no contact) unless you are a "
        "county officer of the report's county or the filer."
    )
    status: ReportStatus
    accepted_at: datetime | None
    first_referral_at: datetime | None
    closed_at: datetime | None
    outcome: ReportOutcome | None
    outcome_message: str | None
    accept_deadline: datetime
    first_referral_deadline: datetime
    overdue: bool = Field(description="A deadline has passed without its step.")
    referrals: list[ReferralRead]
    version: int
    updated_at: datetime | None


class ReferralCreate(BaseModel):
    id: ClientId | None = Field(default=None, description="Client-generated id (idempotent).")
    target: ReferralTarget
    contact: str | None = Field(default=None, max_length=200)
    case_number: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=2000)


class ReferralStatusUpdate(BaseModel):
    status: Literal["acknowledged", "in_progress", "completed", "declined"]
    note: str | None = Field(default=None, max_length=2000)
    case_number: str | None = Field(default=None, max_length=64)


class NoteCreate(BaseModel):
    id: ClientId | None = Field(default=None, description="Client-generated id (idempotent).")
    text: str = Field(min_length=1, max_length=5000)


class LinkChild(BaseModel):
    """Exactly one of `child_id` (a registered child of your county) or `register` (a child
    to register from the report, by the registry's own rules, then link)."""

    child_id: uuid.UUID | None = None
    # `register` in JSON; another name in Python (BaseModel's ABC metaclass has `register`).
    new_child: ChildCreate | None = Field(
        default=None,
        alias="register",
        description="Register the child (as POST /children does) and link it, in one step.",
    )


class ReportClose(BaseModel):
    outcome: ReportOutcome
    message: str = Field(
        min_length=1, max_length=2000, description="What the reporter is told of the outcome."
    )


class TimelineEventRead(BaseModel):
    id: int
    at: datetime
    kind: ReportEventKind
    actor_id: uuid.UUID | None = Field(description="Hidden (null) for the confidential filer.")
    actor_role: str
    referral_id: uuid.UUID | None
    data: dict[str, Any]
    note: str | None = Field(default=None, description="The text of a note or status remark.")


class ReportSummary(BaseModel):
    """Counts over the reports you may see."""

    by_status: dict[str, int]
    overdue: int
    overdue_accept: int
    overdue_first_referral: int
