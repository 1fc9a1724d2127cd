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
from childprotect_api.models.care import DutyKind, MeasureKind
from childprotect_api.models.child import Category, ClosedReason, RiskLevel, SubsidyKind
from childprotect_api.models.report import ReportSituation, ReportStatus
from childprotect_api.models.visit import VisitKind

Marker = Literal["<5", "suppressed"]
Count = int | Marker
Rate = float | None | Literal["suppressed"]
Amount = float | Literal["suppressed"]
Hours = float | None | Literal["suppressed"]
Figure = int | float | None | Marker


# Every figure of the statistics endpoints by name (what each counts: services/stats/metrics.py).
class Metric(StrEnum):
    children_active = "children.active"
    children_category_left_behind = "children.category.left_behind"
    children_category_in_difficulty = "children.category.in_difficulty"
    children_category_orphan = "children.category.orphan"
    children_category_de_facto_unsupported = "children.category.de_facto_unsupported"
    children_category_low_income_disabled_or_ill = "children.category.low_income_disabled_or_ill"
    children_category_low_income = "children.category.low_income"
    children_category_disabled = "children.category.disabled"
    children_category_migrant = "children.category.migrant"
    children_category_street = "children.category.street"
    children_category_parent_imprisoned = "children.category.parent_imprisoned"
    children_category_dropout_risk = "children.category.dropout_risk"
    children_category_serious_misconduct = "children.category.serious_misconduct"
    children_category_idle_youth = "children.category.idle_youth"
    children_risk_blue = "children.risk.blue"
    children_risk_yellow = "children.risk.yellow"
    children_risk_orange = "children.risk.orange"
    children_risk_red = "children.risk.red"
    children_new = "children.new"
    children_closed = "children.closed"
    children_closed_turned_18 = "children.closed.turned_18"
    children_closed_moved_away = "children.closed.moved_away"
    children_closed_deceased = "children.closed.deceased"
    children_closed_no_longer_eligible = "children.closed.no_longer_eligible"
    visits_due = "visits.due"
    visits_covered = "visits.covered"
    visits_overdue = "visits.overdue"
    visits_coverage = "visits.coverage"
    visits_due_blue = "visits.due.blue"
    visits_covered_blue = "visits.covered.blue"
    visits_overdue_blue = "visits.overdue.blue"
    visits_coverage_blue = "visits.coverage.blue"
    visits_due_yellow = "visits.due.yellow"
    visits_covered_yellow = "visits.covered.yellow"
    visits_overdue_yellow = "visits.overdue.yellow"
    visits_coverage_yellow = "visits.coverage.yellow"
    visits_due_orange = "visits.due.orange"
    visits_covered_orange = "visits.covered.orange"
    visits_overdue_orange = "visits.overdue.orange"
    visits_coverage_orange = "visits.coverage.orange"
    visits_due_red = "visits.due.red"
    visits_covered_red = "visits.covered.red"
    visits_overdue_red = "visits.overdue.red"
    visits_coverage_red = "visits.coverage.red"
    visits_made = "visits.made"
    visits_made_home = "visits.made.home"
    visits_made_phone = "visits.made.phone"
    visits_made_school = "visits.made.school"
    visits_made_other = "visits.made.other"
    agreements_left_behind = "agreements.left_behind"
    agreements_covered = "agreements.covered"
    agreements_coverage = "agreements.coverage"
    agreements_active = "agreements.active"
    agreements_expiring = "agreements.expiring"
    reports_filed = "reports.filed"
    reports_situation_genital_injury = "reports.situation.genital_injury"
    reports_situation_sexual_assault_under_14 = "reports.situation.sexual_assault_under_14"
    reports_situation_assault_pregnancy_14_plus = "reports.situation.assault_pregnancy_14_plus"
    reports_situation_multiple_injuries_or_abuse = "reports.situation.multiple_injuries_or_abuse"
    reports_situation_abnormal_disability_or_death = (
        "reports.situation.abnormal_disability_or_death"
    )
    reports_situation_abandoned_or_no_care = "reports.situation.abandoned_or_no_care"
    reports_situation_missing_or_trafficked = "reports.situation.missing_or_trafficked"
    reports_situation_organised_begging = "reports.situation.organised_begging"
    reports_situation_other_serious_harm = "reports.situation.other_serious_harm"
    reports_status_submitted = "reports.status.submitted"
    reports_status_accepted = "reports.status.accepted"
    reports_status_referred = "reports.status.referred"
    reports_status_closed = "reports.status.closed"
    reports_accepted = "reports.accepted"
    reports_accept_due = "reports.accept_due"
    reports_accepted_in_time = "reports.accepted_in_time"
    reports_accepted_in_time_rate = "reports.accepted_in_time_rate"
    reports_referral_due = "reports.referral_due"
    reports_referred_in_time = "reports.referred_in_time"
    reports_referred_in_time_rate = "reports.referred_in_time_rate"
    reports_median_hours_to_acceptance = "reports.median_hours_to_acceptance"
    workforce_village_directors = "workforce.village_directors"
    workforce_township_supervisors = "workforce.township_supervisors"
    workforce_villages = "workforce.villages"
    workforce_villages_without_director = "workforce.villages_without_director"
    subsidies_children = "subsidies.children"
    subsidies_monthly_total = "subsidies.monthly_total"
    subsidies_children_orphan_allowance = "subsidies.children.orphan_allowance"
    subsidies_children_de_facto_unsupported_allowance = (
        "subsidies.children.de_facto_unsupported_allowance"
    )
    subsidies_children_minimum_living_allowance = "subsidies.children.minimum_living_allowance"
    subsidies_children_disability_allowance = "subsidies.children.disability_allowance"
    subsidies_children_education_aid = "subsidies.children.education_aid"
    subsidies_children_other = "subsidies.children.other"
    subsidies_monthly_total_orphan_allowance = "subsidies.monthly_total.orphan_allowance"
    subsidies_monthly_total_de_facto_unsupported_allowance = (
        "subsidies.monthly_total.de_facto_unsupported_allowance"
    )
    subsidies_monthly_total_minimum_living_allowance = (
        "subsidies.monthly_total.minimum_living_allowance"
    )
    subsidies_monthly_total_disability_allowance = "subsidies.monthly_total.disability_allowance"
    subsidies_monthly_total_education_aid = "subsidies.monthly_total.education_aid"
    subsidies_monthly_total_other = "subsidies.monthly_total.other"
    care_pairing_needed = "care.pairing_needed"
    care_paired = "care.paired"
    care_pairing_coverage = "care.pairing_coverage"
    care_red = "care.red"
    care_red_intervened = "care.red_intervened"
    care_intervention_coverage = "care.intervention_coverage"
    care_pairings_active = "care.pairings_active"
    cases_open = "cases.open"
    measures_done = "measures.done"
    measures_done_psychological_support = "measures.done.psychological_support"
    measures_done_living_assistance = "measures.done.living_assistance"
    measures_done_medical_assistance = "measures.done.medical_assistance"
    measures_done_school_return = "measures.done.school_return"
    measures_done_home_education = "measures.done.home_education"
    measures_done_guardianship_guidance = "measures.done.guardianship_guidance"
    measures_done_guardianship_intervention = "measures.done.guardianship_intervention"
    measures_done_guardianship_revocation = "measures.done.guardianship_revocation"
    measures_done_temporary_placement = "measures.done.temporary_placement"
    measures_done_legal_aid = "measures.done.legal_aid"
    measures_done_referral = "measures.done.referral"
    measures_done_other = "measures.done.other"
    duties_open = "duties.open"
    duties_overdue = "duties.overdue"
    duties_open_needs_pairing = "duties.open.needs_pairing"
    duties_open_needs_case = "duties.open.needs_case"
    duties_open_case_review_due = "duties.open.case_review_due"


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


class CareFigures(BaseModel):
    """Care work: pairings, cases, measures and risk duties (DESIGN.md "Care work")."""

    pairing_needed: Count = Field(description="Active orange or red children.")
    paired: Count = Field(description="Of these, with an active pairing.")
    pairing_coverage: Rate = Field(description="paired / pairing_needed.")
    red: Count = Field(description="Active red children.")
    red_intervened: Count = Field(description="Of these, with an open case.")
    intervention_coverage: Rate = Field(description="red_intervened / red.")
    children_paired: Count = Field(description="Active children with an active pairing.")
    cases_open: Count = Field(description="Open cases.")
    measures_done: Count = Field(description="Case measures done in the period.")
    measures_done_by_kind: dict[MeasureKind, Count]
    duties_open: Count = Field(description="Open risk duties.")
    duties_overdue: Count = Field(description="Open risk duties past their due time.")
    duties_open_by_kind: dict[DutyKind, Count]


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
    care: CareFigures


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
