"""Category decisions (认定), removals (减员) and benefit payments (发放): DESIGN.md "Care work".

The benefit categories of a child (orphan, de_facto_unsupported, low_income_disabled_or_ill,
low_income) are granted by an application that the township reviews and the county decides;
every step is an immutable timeline row. Each table carries the child's area (county_code,
area_code) so that it is scoped like the child and moves with it on a transfer."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    Uuid,
)
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import (
    area_code_column,
    county_code_column,
    created_at_column,
    tz_column,
    updated_at_column,
)


class BenefitCategory(StrEnum):
    """The categories granted only by a county decision (a subset of child.Category)."""

    orphan = "orphan"
    de_facto_unsupported = "de_facto_unsupported"
    low_income_disabled_or_ill = "low_income_disabled_or_ill"
    low_income = "low_income"


BENEFIT_CATEGORIES = frozenset(c.value for c in BenefitCategory)


class ApplicationStatus(StrEnum):
    submitted = "submitted"  # filed, awaiting the township's review (初步筛选)
    agreed = "agreed"  # the township agreed, awaiting the county's decision (调查评估)
    returned = "returned"  # sent back by the township (final: file a new one)
    approved = "approved"  # granted (审核认定)
    rejected = "rejected"


class ApplicationSource(StrEnum):
    application = "application"  # filed through the API (or proposed by an import)
    pre_existing = "pre_existing"  # the category was held before decisions were recorded
    county_import = "county_import"  # granted by a county officer's import or registration


class ApplicationEventKind(StrEnum):
    filed = "filed"
    agreed = "agreed"
    returned = "returned"
    approved = "approved"
    rejected = "rejected"
    recorded = "recorded"  # a pre-existing or county-registered grant written down


class CategoryReviewDecision(StrEnum):
    agree = "agree"
    return_ = "return"


class CategoryCountyDecision(StrEnum):
    approve = "approve"
    reject = "reject"


class RemovalReason(StrEnum):
    turned_18 = "turned_18"
    parent_returned = "parent_returned"
    adopted = "adopted"
    moved_away = "moved_away"
    deceased = "deceased"
    no_longer_eligible = "no_longer_eligible"
    other = "other"


class PaymentKind(StrEnum):
    orphan_allowance = "orphan_allowance"
    de_facto_allowance = "de_facto_allowance"
    low_income = "low_income"
    education_grant = "education_grant"
    temporary_assistance = "temporary_assistance"
    other = "other"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class CategoryApplication(SQLModel, table=True):
    __tablename__ = "category_applications"
    __table_args__ = (
        Index("ix_category_applications_scope", "county_code", "area_code", "id"),
        Index("ix_category_applications_child", "child_id", "created_at"),
        # The statistics: grants decided in a period.
        Index("ix_category_applications_decided", "county_code", "decided_at"),
        CheckConstraint(_in("category", BenefitCategory), name="ck_category_applications_category"),
        CheckConstraint(_in("status", ApplicationStatus), name="ck_category_applications_status"),
        CheckConstraint(_in("source", ApplicationSource), name="ck_category_applications_source"),
    )

    id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    child_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("children.id"), nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    category: str = Field(sa_column=Column(String(32), nullable=False))
    basis: str | None = Field(default=None, sa_column=Column(Text))
    status: str = Field(sa_column=Column(String(12), nullable=False))
    source: str = Field(sa_column=Column(String(16), nullable=False))
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    filed_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    reviewed_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    reviewed_at: datetime | None = Field(default=None, sa_column=tz_column())
    review_note: str | None = Field(default=None, sa_column=Column(Text))
    decided_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    decided_at: datetime | None = Field(default=None, sa_column=tz_column())
    decision_note: str | None = Field(default=None, sa_column=Column(Text))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=updated_at_column())


class CategoryApplicationEvent(SQLModel, table=True):
    """An application's timeline: appended, never changed."""

    __tablename__ = "category_application_events"
    __table_args__ = (
        Index("ix_category_application_events_scope", "county_code", "area_code", "id"),
        Index("ix_category_application_events_application", "application_id", "id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    application_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("category_applications.id"), nullable=False)
    )
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    kind: str = Field(sa_column=Column(String(12), nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    at: datetime | None = Field(default=None, sa_column=created_at_column())


class CategoryRemoval(SQLModel, table=True):
    __tablename__ = "category_removals"
    __table_args__ = (
        Index("ix_category_removals_scope", "county_code", "area_code", "id"),
        Index("ix_category_removals_child", "child_id", "removed_on"),
        Index("ix_category_removals_county_on", "county_code", "removed_on"),
        CheckConstraint(_in("category", BenefitCategory), name="ck_category_removals_category"),
        CheckConstraint(_in("reason", RemovalReason), name="ck_category_removals_reason"),
    )

    id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    child_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("children.id"), nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    category: str = Field(sa_column=Column(String(32), nullable=False))
    reason: str = Field(sa_column=Column(String(24), nullable=False))
    removed_on: date = Field(sa_column=Column(Date, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())


class BenefitPayment(SQLModel, table=True):
    """One payment to one child: monthly (`period`) or one-off (`paid_on`). `month` is the
    first day of the month it counts in (the period's, or paid_on's), for the statistics."""

    __tablename__ = "benefit_payments"
    __table_args__ = (
        Index("ix_benefit_payments_scope", "county_code", "area_code", "month", "id"),
        Index("ix_benefit_payments_child", "child_id", "month"),
        Index("ix_benefit_payments_county_month", "county_code", "month", "kind"),
        CheckConstraint(_in("kind", PaymentKind), name="ck_benefit_payments_kind"),
        CheckConstraint("amount > 0", name="ck_benefit_payments_amount"),
        CheckConstraint(
            "(period IS NULL) <> (paid_on IS NULL)", name="ck_benefit_payments_period_or_paid_on"
        ),
    )

    id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    child_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("children.id"), nullable=False))
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    kind: str = Field(sa_column=Column(String(24), nullable=False))
    period: str | None = Field(default=None, sa_column=Column(String(7)))
    paid_on: date | None = Field(default=None, sa_column=Column(Date))
    month: date = Field(sa_column=Column(Date, nullable=False))
    amount: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_by: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    created_by_client: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
