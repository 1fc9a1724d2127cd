"""Category applications (认定), removals (减员) and benefit payments (发放) as the API reads
and writes them. Money is a decimal string in yuan ("1050.00") both ways."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from childprotect_api.models.benefit import (
    ApplicationEventKind,
    ApplicationSource,
    ApplicationStatus,
    BenefitCategory,
    CategoryCountyDecision,
    CategoryReviewDecision,
    PaymentKind,
    RemovalReason,
)
from childprotect_api.schemas.activity import AMOUNT_PATTERN, money

PERIOD_PATTERN = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$"
MAX_PAYMENTS = 500


class CategoryApplicationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(description="Made by the client: a retry answers the stored record.")
    category: BenefitCategory
    basis: str = Field(
        min_length=1, max_length=4000, description="Why the child qualifies (认定依据)."
    )


class CategoryApplicationReview(BaseModel):
    """The township's review (初步筛选/调查评估): `agree` sends it to the county, `return`
    sends it back to the filer (a note says why)."""

    model_config = ConfigDict(extra="forbid")

    decision: CategoryReviewDecision
    note: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _return_says_why(self) -> CategoryApplicationReview:
        if self.decision == CategoryReviewDecision.return_ and not (
            self.note and self.note.strip()
        ):
            raise ValueError("a return needs a note saying why")
        return self


class CategoryApplicationDecision(BaseModel):
    """The county's decision (审核认定): `approve` grants the category at once."""

    model_config = ConfigDict(extra="forbid")

    decision: CategoryCountyDecision
    note: str | None = Field(default=None, max_length=4000)


class CategoryApplicationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    child_id: uuid.UUID
    area_code: str
    category: BenefitCategory
    basis: str | None
    status: ApplicationStatus
    source: ApplicationSource = Field(
        description="`pre_existing`: the child held the category before decisions were "
        "recorded (granted before the record)."
    )
    filed_by: uuid.UUID | None
    reviewed_by: uuid.UUID | None
    reviewed_at: datetime | None
    review_note: str | None
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    decision_note: str | None
    version: int
    created_at: datetime | None
    updated_at: datetime | None


class CategoryApplicationEventRead(BaseModel):
    """One step of an application's timeline (immutable): who, when, with what note."""

    model_config = ConfigDict(from_attributes=True)

    kind: ApplicationEventKind
    by: uuid.UUID | None
    at: datetime | None
    note: str | None


class CategoryRemovalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(description="Made by the client: a retry answers the stored record.")
    category: BenefitCategory
    reason: RemovalReason
    removed_on: date = Field(description="The date the category ends (减员日期).")
    note: str | None = Field(default=None, max_length=4000)


class CategoryRemovalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    child_id: uuid.UUID
    area_code: str
    category: BenefitCategory
    reason: RemovalReason
    removed_on: date
    note: str | None
    created_by: uuid.UUID | None
    created_at: datetime | None


class BenefitPaymentItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(description="Made by the client: a replay answers `unchanged`.")
    child_id: uuid.UUID
    kind: PaymentKind
    period: str | None = Field(
        default=None, pattern=PERIOD_PATTERN, description="The month paid for (YYYY-MM)."
    )
    paid_on: date | None = Field(default=None, description="For a one-off payment.")
    amount: str = Field(pattern=AMOUNT_PATTERN, description='Yuan, e.g. "1050.00".')
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _period_or_paid_on(self) -> BenefitPaymentItem:
        if (self.period is None) == (self.paid_on is None):
            raise ValueError("give either period (monthly) or paid_on (one-off)")
        if Decimal(self.amount) <= 0:
            raise ValueError("amount must be more than zero")
        return self


class BenefitPaymentBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[BenefitPaymentItem] = Field(min_length=1, max_length=MAX_PAYMENTS)


class BenefitPaymentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    child_id: uuid.UUID
    area_code: str
    kind: PaymentKind
    period: str | None
    paid_on: date | None
    amount: str = Field(description='Yuan, e.g. "1050.00".')
    note: str | None
    created_at: datetime | None

    @field_validator("amount", mode="before")
    @classmethod
    def _money(cls, v: Any) -> Any:
        return money(v) if isinstance(v, Decimal) else v


class PaymentItemError(BaseModel):
    code: str
    message: str


class BenefitPaymentResult(BaseModel):
    id: uuid.UUID
    status: Literal["created", "unchanged", "error"]
    error: PaymentItemError | None = None


class BenefitPaymentBatchResult(BaseModel):
    results: list[BenefitPaymentResult]
    created: int
    unchanged: int
    errors: int
