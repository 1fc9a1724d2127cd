"""Visits in and out: the checklist and its one rating scale, follow-up actions, review.

The checklist has a fixed set of items (those of the 探访登记表), every one required, each
rated on one scale:

| rating | meaning |
|---|---|
| `good` 良好 | the need is met / no concern |
| `fair` 一般 | minor concern, keep watching |
| `poor` 较差 | a real problem that needs a follow-up action |
| `critical` 危急 | the child is at risk now: act today |
| `not_applicable` 不适用 | not assessable on this visit (a phone call, a toddler's school) |

`guardian_present` (监护人是否在场) is a yes/no item, not a rating: `present` true (the
guardian or the entrusted caregiver was there), false (not), null (not assessable, a phone
call). App versions from before this change send a `rating` instead, still accepted: `good`
reads as present, `fair`/`poor`/`critical` as not present, `not_applicable` as null (the
rating is kept as sent). Unknown items or ratings are refused (422)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from childprotect_api.core.client_ids import ClientId
from childprotect_api.models.child import RiskLevel
from childprotect_api.models.visit import VisitKind, VisitStatus

NOTE_MAX = 500


class Rating(StrEnum):
    good = "good"
    fair = "fair"
    poor = "poor"
    critical = "critical"
    not_applicable = "not_applicable"


class VisitChecklistEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Rating
    note: str | None = Field(default=None, max_length=NOTE_MAX)


class GuardianPresentEntry(BaseModel):
    """监护人是否在场: yes/no (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid")

    present: bool | None = Field(
        default=None,
        description="Whether the guardian (or the entrusted caregiver) was there; null: not "
        "assessable. Required unless an older app sends `rating`.",
    )
    rating: Rating | None = Field(
        default=None,
        description="Deprecated, older app versions only: read as `present` (`good`: yes; `fair`, "
        "`poor`, `critical`: no; `not_applicable`: null).",
    )
    note: str | None = Field(default=None, max_length=NOTE_MAX)

    @model_validator(mode="after")
    def _yes_or_no(self) -> GuardianPresentEntry:
        if "present" in self.model_fields_set:
            return self
        if self.rating is None:
            raise ValueError("give `present`: true or false (or null when not assessable)")
        if self.rating != Rating.not_applicable:
            self.present = self.rating == Rating.good
        return self


class VisitChecklist(BaseModel):
    """Every item of the visit form, each with a rating and an optional note."""

    model_config = ConfigDict(extra="forbid")

    living_conditions: VisitChecklistEntry
    health: VisitChecklistEntry
    schooling: VisitChecklistEntry
    guardian_present: GuardianPresentEntry
    caregiver_capacity: VisitChecklistEntry
    safety_hazards: VisitChecklistEntry
    emotional_state: VisitChecklistEntry


CHECKLIST_ITEMS: list[str] = list(VisitChecklist.model_fields)


class FollowUpAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(min_length=1, max_length=200)
    due_on: date
    done: bool = False


class VisitContent(BaseModel):
    """What the visitor records; the same for a new visit and for a correction."""

    model_config = ConfigDict(extra="forbid")

    child_id: uuid.UUID
    visited_at: AwareDatetime = Field(
        description="When the visit took place (with a UTC offset). Not more than 5 minutes "
        "in the future, not before the child was registered."
    )
    kind: VisitKind
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180, validate_default=True)
    accuracy_m: float | None = Field(
        default=None, ge=0, le=100_000, description="GPS accuracy in metres"
    )
    checklist: VisitChecklist
    notes: str | None = Field(default=None, max_length=4000)
    suggested_risk_level: RiskLevel | None = None
    follow_up_actions: list[FollowUpAction] = Field(default_factory=list, max_length=20)

    @field_validator("longitude")
    @classmethod
    def _position_pairs(cls, longitude: float | None, info: ValidationInfo) -> float | None:
        if (info.data.get("latitude") is None) != (longitude is None):
            raise ValueError("latitude and longitude go together: give both or neither")
        return longitude

    @field_validator("accuracy_m")
    @classmethod
    def _accuracy_needs_position(cls, accuracy: float | None, info: ValidationInfo) -> float | None:
        if accuracy is not None and info.data.get("longitude") is None:
            raise ValueError("needs a position (latitude and longitude)")
        return accuracy


class VisitCreate(VisitContent):
    """The body of `PUT /api/v1/visits/{id}` (the id is the phone's UUID, in the path)."""


class VisitCorrection(VisitContent):
    """A new version of a visit. `id` is the new version's UUID, generated by the client so
    that a retried correction never makes two."""

    id: ClientId
    correction_reason: str = Field(min_length=1, max_length=1000)


class ReviewDecision(StrEnum):
    accept = "accept"
    return_ = "return"


class VisitReview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: ReviewDecision
    comment: str | None = Field(
        default=None,
        max_length=2000,
        validate_default=True,
        description="Required when the visit is returned.",
    )
    risk_level: RiskLevel | None = Field(
        default=None,
        description="When accepting: set the child's risk level (e.g. to the visitor's "
        "suggestion). Kept in the child's risk history.",
    )

    @field_validator("comment")
    @classmethod
    def _comment_for_return(cls, comment: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("decision") == ReviewDecision.return_ and not (comment or "").strip():
            raise ValueError("a returned visit needs a comment saying what to fix")
        return comment

    @field_validator("risk_level")
    @classmethod
    def _risk_only_on_accept(
        cls, level: RiskLevel | None, info: ValidationInfo
    ) -> RiskLevel | None:
        if level is not None and info.data.get("decision") != ReviewDecision.accept:
            raise ValueError("may only be set when accepting")
        return level


class VisitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    original_id: uuid.UUID = Field(description="The id of the first version of this visit.")
    revision: int
    is_current: bool
    superseded_by: uuid.UUID | None
    correction_reason: str | None
    child_id: uuid.UUID
    area_code: str
    visitor_id: uuid.UUID
    visited_at: datetime
    kind: VisitKind
    latitude: float | None
    longitude: float | None
    accuracy_m: float | None
    checklist: VisitChecklist
    notes: str | None
    suggested_risk_level: RiskLevel | None
    follow_up_actions: list[FollowUpAction]
    status: VisitStatus
    review_comment: str | None
    reviewed_by: uuid.UUID | None
    reviewed_at: datetime | None
    version: int
    created_at: datetime | None
