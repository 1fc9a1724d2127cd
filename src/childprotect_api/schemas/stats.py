"""Statistics responses. For auditors a figure about fewer than 5 children in a village is
the string "<5", and a figure hidden so that it cannot reveal such a figure (a rate, an
amount, or a term of a sum whose other terms are shown) is "suppressed"; everyone else gets
numbers only."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from childprotect_api.models.area import AreaLevel
from childprotect_api.models.child import Category, ClosedReason, RiskLevel, SubsidyKind
from childprotect_api.models.report import ReportSituation, ReportStatus
from childprotect_api.models.visit import VisitKind
from childprotect_api.services.stats_metrics import Metric

Marker = Literal["<5", "suppressed"]
Count = int | Marker
Rate = float | None | Literal["suppressed"]
Amount = float | Literal["suppressed"]
Hours = float | None | Literal["suppressed"]
Figure = int | float | None | Marker


class StatsFormat(StrEnum):
    xlsx = "xlsx"
    csv = "csv"


class StatsInterval(StrEnum):
    month = "month"


class StatsArea(BaseModel):
    code: str
    name: str
    level: AreaLevel


class StatsPeriod(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: date = Field(alias="from", description="First day counted (China's calendar).")
    to: date = Field(description="Last day counted, included.")


class Coverage(BaseModel):
    due: Count = Field(
        description="Active children due a visit: visited at least once, or past the first due "
        "date after registration."
    )
    covered: Count = Field(
        description="Of these, visited within the interval of their current risk level (their "
        "next visit is not yet due)."
    )
    overdue: Count = Field(description="Of these, whose next visit date has passed.")
    rate: Rate = Field(description="covered / due; null when nobody is due.")


class ChildrenFigures(BaseModel):
    active: Count = Field(description="Active records now.")
    by_category: dict[Category, Count] = Field(
        description="Active children of each category (a child may have several)."
    )
    by_risk_level: dict[RiskLevel, Count] = Field(description="Active children by risk level.")
    new: Count = Field(description="Children registered in the period.")
    closed: Count = Field(description="Records closed in the period that are still closed.")
    closed_by_reason: dict[ClosedReason, Count]


class VisitFigures(BaseModel):
    coverage: Coverage
    coverage_by_risk_level: dict[RiskLevel, Coverage]
    made: Count = Field(description="Visits made in the period (their current versions).")
    made_by_kind: dict[VisitKind, Count]


class AgreementFigures(BaseModel):
    left_behind: Count = Field(description="Active left-behind children.")
    covered: Count = Field(description="Of these, with an active agreement.")
    coverage_rate: Rate = Field(description="covered / left_behind; null when none.")
    active: Count = Field(description="Active agreements (status active, end date not passed).")
    expiring_within_30_days: Count = Field(description="Active agreements ending within 30 days.")


class ReportFigures(BaseModel):
    filed: Count = Field(description="Mandatory reports filed in the period.")
    by_situation: dict[ReportSituation, Count]
    by_status: dict[ReportStatus, Count] = Field(description="Their status now.")
    accepted: Count = Field(description="Of these, accepted (now or since).")
    accept_due: Count = Field(description="Accepted, or past their acceptance deadline.")
    accepted_in_time: Count = Field(description="Accepted at or before the deadline.")
    accepted_in_time_rate: Rate = Field(description="accepted_in_time / accept_due.")
    referral_due: Count = Field(
        description="Referred, or past the first-referral deadline (not counting reports "
        "closed without a referral before it)."
    )
    referred_in_time: Count = Field(description="First referral at or before its deadline.")
    referred_in_time_rate: Rate = Field(description="referred_in_time / referral_due.")
    median_hours_to_acceptance: Hours = Field(
        description="Median hours from filing to acceptance of the accepted ones."
    )


class WorkforceFigures(BaseModel):
    village_directors: int = Field(description="Active village child director accounts.")
    township_supervisors: int = Field(description="Active township child supervisor accounts.")
    villages: int
    villages_without_director: int = Field(description="Villages with no active director.")


class SubsidyKindFigures(BaseModel):
    children: Count = Field(description="Active children receiving this subsidy today.")
    monthly_total: Amount = Field(description="Their monthly amounts, in yuan.")


class SubsidyFigures(BaseModel):
    children: Count = Field(description="Active children receiving at least one subsidy today.")
    monthly_total: Amount = Field(description="Monthly amounts of the grants running today.")
    by_kind: dict[SubsidyKind, SubsidyKindFigures]


class StatsSummary(BaseModel):
    area: StatsArea
    period: StatsPeriod
    as_of: datetime = Field(description="When the figures were computed (snapshot figures).")
    suppressed: bool = Field(
        description="True when small figures are hidden for this caller (auditors)."
    )
    children: ChildrenFigures
    visits: VisitFigures
    agreements: AgreementFigures
    reports: ReportFigures
    workforce: WorkforceFigures
    subsidies: SubsidyFigures


class BreakdownRow(BaseModel):
    area_code: str
    name: str
    level: AreaLevel
    remainder: bool = Field(
        default=False,
        description="What is recorded at this (higher) area itself and not in any area below "
        "it (reports filed for a township, its supervisors): with it, the rows add up to the "
        "total.",
    )
    values: dict[Metric, Figure]


class StatsBreakdown(BaseModel):
    area: StatsArea
    by: AreaLevel
    period: StatsPeriod
    as_of: datetime
    suppressed: bool
    metrics: list[Metric]
    total: BreakdownRow
    rows: list[BreakdownRow]


class TrendPoint(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    month: str = Field(description="YYYY-MM (China's calendar); the last one is in progress.")
    from_: date = Field(alias="from")
    to: date
    value: Figure


class StatsTrend(BaseModel):
    area: StatsArea
    metric: Metric
    interval: StatsInterval
    as_of: datetime
    suppressed: bool
    points: list[TrendPoint]
