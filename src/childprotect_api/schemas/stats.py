"""Statistics responses. Every figure is an object `{"value": ..., "suppressed": ...}`: for
auditors a figure about fewer than 5 children in a village is `{"value": null, "suppressed":
"lt5"}`, and a figure hidden so that it cannot reveal such a figure (a rate, an amount, or a
term of a sum whose other terms are shown) is `{"value": null, "suppressed": "derived"}`;
everyone else gets `suppressed: null` always. Exports show the markers "<5" and
"suppressed" in the cells."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from childprotect_api.models.activity import ActivityKind, Qualification, SiteKind
from childprotect_api.models.area import AreaLevel
from childprotect_api.models.benefit import BenefitCategory, PaymentKind, RemovalReason
from childprotect_api.models.care import DutyKind, MeasureKind
from childprotect_api.models.child import Category, ClosedReason, RiskLevel, SubsidyKind
from childprotect_api.models.report import ReportSituation, ReportStatus
from childprotect_api.models.visit import VisitKind
from childprotect_api.schemas.common import Money


class Suppression(StrEnum):
    """Why a figure is hidden from this caller (auditors)."""

    # A figure about fewer than 5 children in a village.
    lt5 = "lt5"
    # A figure that would reveal such a figure (a rate, an amount, or a term of a sum whose
    # other terms are shown).
    derived = "derived"


# What the figure services compute and exports show: a number, or the markers "<5" and
# "suppressed" (services/stats/suppression.py). The API wraps each in a figure object.
_MARKERS = {"<5": Suppression.lt5, "suppressed": Suppression.derived}
_SUPPRESSED_DESCRIPTION = "Set when the figure is hidden from this caller: `value` is null."


def _wrap(raw: object) -> object:
    if isinstance(raw, str) and raw in _MARKERS:
        return {"value": None, "suppressed": _MARKERS[raw]}
    if raw is None or isinstance(raw, int | float):
        return {"value": raw, "suppressed": None}
    return raw


class _Figure(BaseModel):
    suppressed: Suppression | None = Field(description=_SUPPRESSED_DESCRIPTION)

    def shown(self) -> int | float | str | None:
        """As exports show it: the number, or the marker ("<5", "suppressed")."""
        if self.suppressed is Suppression.lt5:
            return "<5"
        if self.suppressed is Suppression.derived:
            return "suppressed"
        value: int | float | str | None = getattr(self, "value", None)
        return value


class CountFigure(_Figure):
    """A number of children, visits, reports... (null only when suppressed)."""

    value: int | None


class RatioFigure(_Figure):
    """A rate (0 to 1) or a number of hours: null when there is nothing to divide or when
    suppressed."""

    value: float | None


class AmountFigure(_Figure):
    """Yuan, as a decimal string with two places ("1050.00"); null when suppressed."""

    value: Money | None

    def shown(self) -> int | float | str | None:
        if self.suppressed is None and self.value is not None:
            return float(self.value)
        return super().shown()


class MetricFigure(_Figure):
    """A figure of any metric (its kind: services/stats/metrics.py): a count, a rate, hours
    or yuan; null when there is nothing to divide or when suppressed."""

    # A count stays an integer in the JSON (an export shows it so): declared a number.
    value: Annotated[
        int | float | None, WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "null"}]})
    ]


Count = Annotated[CountFigure, BeforeValidator(_wrap)]
Rate = Annotated[RatioFigure, BeforeValidator(_wrap)]
Hours = Annotated[RatioFigure, BeforeValidator(_wrap)]
Amount = Annotated[AmountFigure, BeforeValidator(_wrap)]
Figure = Annotated[MetricFigure, BeforeValidator(_wrap)]


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
    decisions_granted = "decisions.granted"
    decisions_granted_orphan = "decisions.granted.orphan"
    decisions_granted_de_facto_unsupported = "decisions.granted.de_facto_unsupported"
    decisions_granted_low_income_disabled_or_ill = "decisions.granted.low_income_disabled_or_ill"
    decisions_granted_low_income = "decisions.granted.low_income"
    removals_total = "removals.total"
    removals_category_orphan = "removals.category.orphan"
    removals_category_de_facto_unsupported = "removals.category.de_facto_unsupported"
    removals_category_low_income_disabled_or_ill = "removals.category.low_income_disabled_or_ill"
    removals_category_low_income = "removals.category.low_income"
    removals_reason_turned_18 = "removals.reason.turned_18"
    removals_reason_parent_returned = "removals.reason.parent_returned"
    removals_reason_adopted = "removals.reason.adopted"
    removals_reason_moved_away = "removals.reason.moved_away"
    removals_reason_deceased = "removals.reason.deceased"
    removals_reason_no_longer_eligible = "removals.reason.no_longer_eligible"
    removals_reason_other = "removals.reason.other"
    payments_recipients = "payments.recipients"
    payments_amount = "payments.amount"
    payments_recipients_orphan_allowance = "payments.recipients.orphan_allowance"
    payments_amount_orphan_allowance = "payments.amount.orphan_allowance"
    payments_recipients_de_facto_allowance = "payments.recipients.de_facto_allowance"
    payments_amount_de_facto_allowance = "payments.amount.de_facto_allowance"
    payments_recipients_low_income = "payments.recipients.low_income"
    payments_amount_low_income = "payments.amount.low_income"
    payments_recipients_education_grant = "payments.recipients.education_grant"
    payments_amount_education_grant = "payments.amount.education_grant"
    payments_recipients_temporary_assistance = "payments.recipients.temporary_assistance"
    payments_amount_temporary_assistance = "payments.amount.temporary_assistance"
    payments_recipients_other = "payments.recipients.other"
    payments_amount_other = "payments.amount.other"
    visited_children = "visited.children"
    visited_category_left_behind = "visited.category.left_behind"
    visited_category_in_difficulty = "visited.category.in_difficulty"
    visited_category_orphan = "visited.category.orphan"
    visited_category_de_facto_unsupported = "visited.category.de_facto_unsupported"
    visited_category_low_income_disabled_or_ill = "visited.category.low_income_disabled_or_ill"
    visited_category_low_income = "visited.category.low_income"
    visited_category_disabled = "visited.category.disabled"
    visited_category_migrant = "visited.category.migrant"
    visited_category_street = "visited.category.street"
    visited_category_parent_imprisoned = "visited.category.parent_imprisoned"
    visited_category_dropout_risk = "visited.category.dropout_risk"
    visited_category_serious_misconduct = "visited.category.serious_misconduct"
    visited_category_idle_youth = "visited.category.idle_youth"
    visited_risk_blue = "visited.risk.blue"
    visited_risk_yellow = "visited.risk.yellow"
    visited_risk_orange = "visited.risk.orange"
    visited_risk_red = "visited.risk.red"
    visitors_village_director = "visitors.village_director"
    visitors_township_supervisor = "visitors.township_supervisor"
    visitors_county_officer = "visitors.county_officer"
    activities_sessions = "activities.sessions"
    activities_sessions_publicity = "activities.sessions.publicity"
    activities_sessions_law_education = "activities.sessions.law_education"
    activities_sessions_safety_education = "activities.sessions.safety_education"
    activities_sessions_training = "activities.sessions.training"
    activities_sessions_care_visit = "activities.sessions.care_visit"
    activities_sessions_family_education = "activities.sessions.family_education"
    activities_sessions_counselling = "activities.sessions.counselling"
    activities_sessions_school_aid = "activities.sessions.school_aid"
    activities_sessions_goods = "activities.sessions.goods"
    activities_sessions_children_home_activity = "activities.sessions.children_home_activity"
    activities_sessions_joint_meeting = "activities.sessions.joint_meeting"
    activities_sessions_other = "activities.sessions.other"
    activities_participants = "activities.participants"
    activities_participants_publicity = "activities.participants.publicity"
    activities_participants_law_education = "activities.participants.law_education"
    activities_participants_safety_education = "activities.participants.safety_education"
    activities_participants_training = "activities.participants.training"
    activities_participants_care_visit = "activities.participants.care_visit"
    activities_participants_family_education = "activities.participants.family_education"
    activities_participants_counselling = "activities.participants.counselling"
    activities_participants_school_aid = "activities.participants.school_aid"
    activities_participants_goods = "activities.participants.goods"
    activities_participants_children_home_activity = (
        "activities.participants.children_home_activity"
    )
    activities_participants_joint_meeting = "activities.participants.joint_meeting"
    activities_participants_other = "activities.participants.other"
    activities_children_served = "activities.children_served"
    activities_children_served_publicity = "activities.children_served.publicity"
    activities_children_served_law_education = "activities.children_served.law_education"
    activities_children_served_safety_education = "activities.children_served.safety_education"
    activities_children_served_training = "activities.children_served.training"
    activities_children_served_care_visit = "activities.children_served.care_visit"
    activities_children_served_family_education = "activities.children_served.family_education"
    activities_children_served_counselling = "activities.children_served.counselling"
    activities_children_served_school_aid = "activities.children_served.school_aid"
    activities_children_served_goods = "activities.children_served.goods"
    activities_children_served_children_home_activity = (
        "activities.children_served.children_home_activity"
    )
    activities_children_served_joint_meeting = "activities.children_served.joint_meeting"
    activities_children_served_other = "activities.children_served.other"
    activities_amount = "activities.amount"
    activities_children_reached = "activities.children_reached"
    training_staff = "training.staff"
    training_trained = "training.trained"
    training_rate = "training.rate"
    staff_qualified = "staff.qualified"
    staff_qualified_social_worker = "staff.qualified.social_worker"
    staff_qualified_psychological_counsellor = "staff.qualified.psychological_counsellor"
    staff_qualified_teacher = "staff.qualified.teacher"
    staff_qualified_lawyer = "staff.qualified.lawyer"
    sites_open = "sites.open"
    sites_open_children_home = "sites.open.children_home"
    sites_open_protection_station = "sites.open.protection_station"
    sites_open_parent_school = "sites.open.parent_school"
    sites_open_care_centre = "sites.open.care_centre"
    sites_open_other = "sites.open.other"


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


class DecisionFigures(BaseModel):
    """Category decisions (认定) and removals (减员) in the period."""

    granted: Count = Field(
        description="Benefit categories granted in the period (county approvals and county "
        "officers' registrations; not those recorded as held before decisions were)."
    )
    granted_by_category: dict[BenefitCategory, Count]
    removed: Count = Field(description="Benefit categories removed in the period.")
    removed_by_category: dict[BenefitCategory, Count]
    removed_by_reason: dict[RemovalReason, Count]


class PaymentKindFigures(BaseModel):
    recipients: Count = Field(description="Distinct children paid this kind in the period.")
    amount: Amount = Field(description="Paid in the period, in yuan.")


class PaymentFigures(BaseModel):
    """Benefit payments (发放) in the period: a monthly payment counts on the first day of its
    month, a one-off on the day paid."""

    recipients: Count = Field(description="Distinct children paid in the period.")
    amount: Amount = Field(description="Paid in the period, in yuan.")
    by_kind: dict[PaymentKind, PaymentKindFigures]


class VisitedFigures(BaseModel):
    """Distinct children visited in the period (current versions of visits), by category and
    risk level as the children are now; visits by the visitor's role."""

    children: Count
    by_category: dict[Category, Count]
    by_risk_level: dict[RiskLevel, Count]
    visits_by_visitor_role: dict[str, Count] = Field(
        description="village_director, township_supervisor, county_officer."
    )


class ActivityKindFigures(BaseModel):
    sessions: int = Field(description="Activities of this kind held in the period.")
    participants: int = Field(description="Their participants (人次).")
    children_served: Count = Field(description="Their children served (人次).")


class ActivityFigures(BaseModel):
    """Care activities (关爱服务台账), training and sites (DESIGN.md "Care work", Figures).
    Activities count in the area they were logged at and in its ancestors (a township's own
    activities are part of the township and the county, and a remainder row in a breakdown by
    village)."""

    sessions: int = Field(description="Activities held in the period (场次).")
    participants: int = Field(description="Their participants, summed (人次).")
    children_served: Count = Field(description="Their children served, summed (人次).")
    children_reached: Count = Field(
        description="Distinct children of the area (whatever their status now) named "
        "(`child_ids`) by an activity of their county held in the period, each counted once, "
        "where it is registered (for counties and above: in the county of the activity)."
    )
    amount: Amount = Field(description="Yuan spent on the activities of the period.")
    by_kind: dict[ActivityKind, ActivityKindFigures]
    training_staff: int = Field(
        description="Active village child directors and township child supervisors of the area."
    )
    trained: int = Field(
        description="Of these, those among the `staff_ids` of a `training` activity of their "
        "county (logged at any level) held in the period."
    )
    training_rate: Rate = Field(description="trained / training_staff; null when none.")
    staff_qualified: int = Field(
        description="Active users of the area holding at least one qualification."
    )
    staff_by_qualification: dict[Qualification, int] = Field(
        description="Active users of the area holding each qualification."
    )
    sites_open: int = Field(description="Sites (阵地) of the area now open.")
    sites_open_by_kind: dict[SiteKind, int]


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
    decisions: DecisionFigures
    payments: PaymentFigures
    visited: VisitedFigures
    activities: ActivityFigures


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
