from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from childprotect_api.models.child import RiskLevel
from childprotect_api.schemas.visit import FollowUpAction


class WorklistChild(BaseModel):
    id: uuid.UUID
    name: str
    area_code: str
    risk_level: RiskLevel
    categories: list[str]


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
