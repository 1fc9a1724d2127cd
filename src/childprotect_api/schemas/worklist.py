from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from childprotect_api.models.care import DutyKind
from childprotect_api.models.child import RiskLevel
from childprotect_api.schemas.agreement import AgreementRead, ChildGap
from childprotect_api.schemas.visit import FollowUpAction


class WorklistChild(BaseModel):
    id: uuid.UUID
    name: str
    area_code: str
    risk_level: RiskLevel
    categories: list[str]


class WorklistDuty(BaseModel):
    kind: DutyKind
    due_at: datetime
    overdue: bool
    case_id: uuid.UUID | None


class WorklistItem(BaseModel):
    child: WorklistChild
    next_visit_due: datetime
    last_visit_at: datetime | None
    overdue: bool
    days_overdue: int = Field(
        description="Whole days past the due date (0 when not yet due or less than a day late)."
    )
    open_follow_ups: list[FollowUpAction] = Field(
        description="The follow-up actions not yet done, from the child's latest visit."
    )
    latest_visit_id: uuid.UUID | None
    duties: list[WorklistDuty] = Field(
        description="The child's open risk duties (needs_pairing, needs_case, "
        "case_review_due), earliest due first."
    )


class WorklistCounts(BaseModel):
    overdue: int = Field(description="Children in scope whose visit is overdue.")
    due_soon: int = Field(description="Children in scope due within `within_days`, not overdue.")


class ReturnedVisit(BaseModel):
    """One of the caller's own visits that a supervisor sent back: correct it."""

    id: uuid.UUID
    child_id: uuid.UUID
    child_name: str
    visited_at: datetime
    review_comment: str | None
    reviewed_by: uuid.UUID | None
    reviewed_at: datetime | None
    version: int


class AgreementFollowUps(BaseModel):
    """The first page of each 一人一协议 follow-up list, as `GET /api/v1/agreements/gaps`
    answers it without parameters (page through the rest there)."""

    as_of: date = Field(description="China's date the lists were computed for.")
    within_days: int = Field(description="The window of `ending_soon`, in days.")
    no_active_agreement: list[ChildGap] = Field(
        description="Left-behind children in scope with no active agreement, by village then "
        "id; at most `limit` of them."
    )
    no_active_agreement_count: int = Field(
        description="How many such children there are in scope in all."
    )
    ending_soon: list[AgreementRead] = Field(
        description="Active agreements in scope ending within `within_days`, soonest first; "
        "at most `limit` of them."
    )
    ending_soon_count: int = Field(
        description="How many such agreements there are in scope in all."
    )
    limit: int = Field(description="The most items each list holds here.")


class Worklist(BaseModel):
    """The first screen of the app: who to visit next, most overdue first."""

    items: list[WorklistItem]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )
    counts: WorklistCounts
    returned_visits: list[ReturnedVisit]
    as_of: datetime
    within_days: int
    agreement_follow_ups: AgreementFollowUps | None = Field(
        default=None,
        description="The agreement follow-up lists, on the first page only (null when a "
        "`cursor` is given) and only for callers who may read agreements (null otherwise).",
    )
