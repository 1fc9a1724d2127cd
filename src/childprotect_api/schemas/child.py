"""The child record (一人一档) as the API shows and takes it.

`id_number` is the masked form on read (`6207**********1234`) unless a county officer asks
for it whole. A PATCH cannot move the child (that is the transfer) nor change its risk level
(that is PUT /risk) nor its status (close/reopen)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from childprotect_api.core.client_ids import ClientId
from childprotect_api.models.child import (
    Category,
    ChildEventKind,
    ChildStatus,
    ClosedReason,
    EnrolmentStatus,
    Gender,
    ParentSituation,
    RiskLevel,
    RiskSource,
    SubsidyKind,
)
from childprotect_api.schemas.common import Money, MoneyIn
from childprotect_api.schemas.user import PHONE_PATTERN

VILLAGE_CODE_PATTERN = r"^\d{12}$"
# Any level, so that a township or county code gets the clearer "must be a village" answer.
ANY_AREA_PATTERN = r"^\d{2,12}$"

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class ParentInfo(BaseModel):
    """One parent's situation, as the 2016 screening form asks it."""

    model_config = ConfigDict(extra="ignore")

    situation: ParentSituation
    work_place: str | None = Field(
        default=None, max_length=100, description="Where they work, when working away."
    )
    away_since: date | None = None
    note: str | None = Field(default=None, max_length=500)


class Subsidy(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    kind: SubsidyKind
    monthly_amount: MoneyIn | None = Field(default=None, ge=0, le=100_000, description="Yuan.")
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None

    @model_validator(mode="after")
    def _period(self) -> Subsidy:
        if self.from_ and self.to and self.to < self.from_:
            raise ValueError("`to` is before `from`")
        return self


class SubsidyRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    kind: SubsidyKind
    monthly_amount: Money | None = Field(default=None, description="Yuan per month.")
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None


class _ChildFields(BaseModel):
    """Fields shared by create and update (all optional here; create makes some required)."""

    ethnicity: str | None = Field(default=None, max_length=32, examples=["汉族"])
    household_registration: ShortText | None = Field(default=None, description="户籍")
    residence: ShortText | None = Field(default=None, description="居住地")
    address: ShortText | None = None
    family_situation: Note | None = None
    main_income_source: str | None = Field(default=None, max_length=100)
    father: ParentInfo | None = None
    mother: ParentInfo | None = None
    school: str | None = Field(default=None, max_length=100)
    grade: str | None = Field(default=None, max_length=20)
    enrolment_status: EnrolmentStatus | None = None
    boarding: bool | None = None
    health_notes: Note | None = None
    disability_notes: Note | None = None
    subsidies: list[Subsidy] | None = Field(default=None, max_length=20)
    assigned_director_id: uuid.UUID | None = Field(
        default=None,
        description="An active village director or township supervisor whose area covers "
        "the child's village.",
    )
    pairing_helper_name: Name | None = None
    pairing_helper_phone: str | None = Field(default=None, pattern=PHONE_PATTERN)


class ChildCreate(_ChildFields):
    model_config = ConfigDict(extra="forbid")

    id: ClientId | None = Field(
        default=None,
        description="Client-generated id: a retry with the same id and content answers the "
        "stored record (200) and never makes a second one.",
    )
    area_code: str = Field(pattern=ANY_AREA_PATTERN, description="The child's village (12 digits).")
    name: Name
    gender: Gender
    birth_date: date
    id_number: str | None = Field(
        default=None,
        max_length=32,
        description="居民身份证号 (18 characters); birth date and gender must agree with it.",
    )
    categories: list[Category] = Field(default_factory=list, max_length=len(Category))
    risk_level: RiskLevel = RiskLevel.blue
    risk_reason: Reason | None = None
    registered_at: AwareDatetime | None = Field(
        default=None,
        description="When the child was registered on the phone (offline work); default: "
        "now. With a time zone; not in the future (a few minutes of clock skew allowed: a "
        "later time is stored as now), nor older than the offline window "
        "(CHILDPROTECT_SYNC_PUSH_LEDGER_DAYS, 30 days). Stored as the record's `created_at`, "
        "the base of the first visit due date; a visit may not be dated before it.",
    )


class ChildUpdate(_ChildFields):
    """Only the fields sent are changed; `null` clears an optional field."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    gender: Gender | None = None
    birth_date: date | None = None
    id_number: str | None = Field(default=None, max_length=32)
    categories: list[Category] | None = Field(default=None, max_length=len(Category))
    # Accepted only to answer a clear error: these change through their own operations.
    area_code: SkipJsonSchema[Any] = None
    risk_level: SkipJsonSchema[Any] = None
    status: SkipJsonSchema[Any] = None


class ChildSummary(BaseModel):
    """A row of the registry list: what a worklist screen needs."""

    id: uuid.UUID
    area_code: str
    name: str
    gender: Gender
    birth_date: date
    age: int
    id_number: str | None = Field(description="Masked: 6207**********1234")
    categories: list[Category]
    school: str | None
    assigned_director_id: uuid.UUID | None
    risk_level: RiskLevel
    status: ChildStatus
    last_visit_at: datetime | None
    next_visit_due: datetime | None
    version: int
    updated_at: datetime | None


class ChildRead(ChildSummary):
    ethnicity: str | None
    household_registration: str | None
    residence: str | None
    address: str | None
    family_situation: str | None
    main_income_source: str | None
    father: ParentInfo | None
    mother: ParentInfo | None
    grade: str | None
    enrolment_status: EnrolmentStatus | None
    boarding: bool | None
    dropout_risk: bool | None = Field(description="Set with PUT /children/{id}/schooling.")
    dropout_reported_on: date | None
    health_notes: str | None
    disability_notes: str | None
    subsidies: list[SubsidyRead]
    pairing_helper_name: str | None
    pairing_helper_phone: str | None
    risk_reason: str | None
    risk_set_by: uuid.UUID | None
    risk_set_at: datetime | None
    closed_reason: ClosedReason | None
    closed_at: datetime | None
    created_at: datetime | None = Field(
        description="When the child was registered: the create's `registered_at`, or the "
        "time the server received it."
    )
    created_by: uuid.UUID | None
    updated_by: uuid.UUID | None


class RiskLevelSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: RiskLevel
    reason: Reason


class RiskChangeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    child_id: uuid.UUID
    old_level: RiskLevel | None
    new_level: RiskLevel
    reason: str
    source: RiskSource
    source_id: uuid.UUID | None
    set_by: uuid.UUID | None
    set_at: datetime | None


class ChildClose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ClosedReason
    note: Reason | None = None


class ChildReopen(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class ChildTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_area_code: str = Field(pattern=ANY_AREA_PATTERN, description="The new village.")
    reason: Reason


class ChildEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    child_id: uuid.UUID
    kind: ChildEventKind
    reason: str | None
    closed_reason: ClosedReason | None
    from_area_code: str | None
    to_area_code: str | None
    by: uuid.UUID | None
    at: datetime | None
