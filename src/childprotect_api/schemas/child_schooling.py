"""What the education and civil-affairs systems (and staff) send about a child's schooling and
subsidies, and the lookup of a child by ID number for systems that do not know our ids.

The answers are narrow on purpose: an education system that may write schooling sees the
schooling fields and the record's version, not the child's family or health notes."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from childprotect_api.models.child import ChildStatus, EnrolmentStatus, SubsidyKind
from childprotect_api.schemas.common import Money, MoneyInDecimal

MAX_SUBSIDIES = 20


class ChildSchoolingSet(BaseModel):
    """The child's schooling as the system of record knows it now (all fields replaced)."""

    model_config = ConfigDict(extra="forbid")

    school: str | None = Field(default=None, max_length=100, examples=["洪水镇中心小学"])
    grade: str | None = Field(default=None, max_length=20, examples=["四年级"])
    enrolment_status: EnrolmentStatus
    boarding: bool | None = None
    dropout_risk: bool = Field(
        default=False,
        description="疑似辍学: the school reports the child at risk of dropping out "
        "(long absence, stated intention to leave...).",
    )
    dropout_reported_on: date | None = Field(
        default=None,
        description="When the dropout or the risk was reported (not in the future); "
        "today when omitted for a child at risk or dropped out.",
    )


class ChildSchoolingRead(BaseModel):
    id: uuid.UUID
    area_code: str
    school: str | None
    grade: str | None
    enrolment_status: EnrolmentStatus | None
    boarding: bool | None
    dropout_risk: bool | None
    dropout_reported_on: date | None
    categories_changed: bool = Field(
        description="Whether this update added the `dropout_risk` category."
    )
    next_visit_due: datetime | None
    version: int
    updated_at: datetime | None


class SubsidyGrant(BaseModel):
    """One subsidy the child receives (or received) over a period."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind: SubsidyKind
    monthly_amount: MoneyInDecimal = Field(
        ge=0, le=100_000, max_digits=8, decimal_places=2, description="Yuan per month."
    )
    from_: date = Field(alias="from", description="First day paid.")
    to: date | None = Field(default=None, description="Last day paid; null while it runs.")

    @model_validator(mode="after")
    def _period(self) -> SubsidyGrant:
        if self.to is not None and self.to < self.from_:
            raise ValueError("`to` is before `from`")
        return self


class ChildSubsidiesSet(BaseModel):
    """The child's subsidies as the civil-affairs system knows them now (the list replaces the
    stored one; an empty list clears it)."""

    model_config = ConfigDict(extra="forbid")

    subsidies: list[SubsidyGrant] = Field(max_length=MAX_SUBSIDIES)


class SubsidyGrantRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    kind: SubsidyKind
    monthly_amount: Money = Field(description="Yuan per month.")
    from_: date | None = Field(alias="from")
    to: date | None


class ChildSubsidiesRead(BaseModel):
    id: uuid.UUID
    area_code: str
    subsidies: list[SubsidyGrantRead]
    version: int
    updated_at: datetime | None


class ChildLookup(BaseModel):
    """In the body, never in a URL (URLs end up in logs)."""

    model_config = ConfigDict(extra="forbid")

    id_number: str = Field(min_length=1, max_length=32, description="居民身份证号")


class ChildLookupRead(BaseModel):
    """Enough to address the record; read it with getChild (if your scopes allow)."""

    id: uuid.UUID
    area_code: str
    status: ChildStatus
    id_number: str | None = Field(description="Masked: 6207**********1234")
