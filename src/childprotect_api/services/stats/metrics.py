"""The figures of the statistics endpoints: one `Metric` name per figure, what it counts, its
labels, and the linear relations between figures that small-figure suppression must respect.

A metric is named `section.figure[.value]`: `children.category.orphan`, `visits.due.red`,
`reports.accepted_in_time_rate`. Kinds:
- `count`: a number of children (or of their visits, agreements, reports); additive over
  areas; suppressed for auditors in villages when below 5.
- `staff`: workforce figures (people and villages, not children): additive, never suppressed.
- `rate`: numerator / denominator (two count metrics), 0..1, null when nothing is due.
- `hours`: the median time to acceptance; shown when its basis count is shown.
- `amount`: yuan per month; additive; shown when the number of children it is paid to is.
- `work`: the care work held and the places it is held in (activities, their participants,
  sites): additive, never suppressed (not figures about children; the children an activity
  served are `count` figures).
- `spent`: yuan spent on activities in the period; additive, never suppressed.

Figures "in the period" count what happened between `from` and `to` (China days, both
included); the others are as of the moment of the request."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from childprotect_api.models.activity import ActivityKind, Qualification, SiteKind
from childprotect_api.models.benefit import BenefitCategory, PaymentKind, RemovalReason
from childprotect_api.models.care import DutyKind, MeasureKind
from childprotect_api.models.child import Category, ClosedReason, RiskLevel, SubsidyKind
from childprotect_api.models.report import ReportSituation, ReportStatus
from childprotect_api.models.visit import VisitKind
from childprotect_api.schemas.stats import Metric
from childprotect_api.services.enums import ENUM_LABELS


class MetricKind(StrEnum):
    count = "count"  # type: ignore[assignment]  # (shadows str.count, harmlessly)
    staff = "staff"
    rate = "rate"
    hours = "hours"
    amount = "amount"
    work = "work"
    spent = "spent"


# The statement (figure group) that computes a metric: services/stats/queries.py.
GROUPS = (
    "children",
    "visits",
    "agreements",
    "reports",
    "users",
    "villages",
    "subsidies",
    "care",
    "cases",
    "measures",
    "duties",
    "decisions",
    "removals",
    "payments",
    "visited",
    "visitors",
    "activities",
    "reach",
    "sites",
)


@dataclass(frozen=True)
class MetricDef:
    name: str
    kind: MetricKind
    group: str
    label_zh: str
    label_en: str
    period: bool = False  # counts what happened in the period (else: as of now)
    trendable: bool = False
    # rate: (numerator, denominator, the hidden complement denominator - numerator);
    # hours/amount: the count whose suppression hides this figure.
    parts: tuple[str, ...] = ()

    @property
    def additive(self) -> bool:
        return self.kind in (
            MetricKind.count,
            MetricKind.staff,
            MetricKind.amount,
            MetricKind.work,
            MetricKind.spent,
        )

    @property
    def protected(self) -> bool:
        """Whether auditors may see it suppressed (figures about children)."""
        return self.kind in (MetricKind.count, MetricKind.amount, MetricKind.rate, MetricKind.hours)


def _zh(enum: str, value: str) -> str:
    return ENUM_LABELS[enum][value][0]


def _en(enum: str, value: str) -> str:
    return ENUM_LABELS[enum][value][1]


def _with_noun(label: str) -> str:
    """A category as a noun: 疑似辍学 → 疑似辍学儿童 (孤儿, 留守儿童 ... already are)."""
    return label if label.endswith(("儿童", "孤儿", "未成年人", "子女")) else f"{label}儿童"


def _colour(level: str) -> str:
    """蓝色 of 蓝色（低风险，关注）: a figure names the level, not its duties."""
    return _zh("risk_level", level).split("（", 1)[0]


def _status_label(status: str) -> str:
    if status == "submitted":
        return "待受理报告数"
    return f"当前状态{_zh('report_status', status)}的报告数"


def _count(name: str, group: str, zh: str, en: str, **kw: object) -> MetricDef:
    return MetricDef(name, MetricKind.count, group, zh, en, **kw)  # type: ignore[arg-type]


def _children() -> Iterable[MetricDef]:
    yield _count("children.active", "children", "在册儿童数", "Active children", trendable=True)
    for c in Category:
        yield _count(
            f"children.category.{c.value}",
            "children",
            f"在册{_with_noun(_zh('child_category', c.value))}数",
            f"Active children: {_en('child_category', c.value)}",
        )
    for r in RiskLevel:
        yield _count(
            f"children.risk.{r.value}",
            "children",
            f"风险等级{_colour(r.value)}儿童数",
            f"Active children at risk level {r.value}",
        )
    yield _count(
        "children.new",
        "children",
        "期内新登记儿童数",
        "Children registered in the period",
        period=True,
        trendable=True,
    )
    yield _count(
        "children.closed",
        "children",
        "期内销档儿童数",
        "Records closed in the period (still closed)",
        period=True,
        trendable=True,
    )
    for reason in ClosedReason:
        yield _count(
            f"children.closed.{reason.value}",
            "children",
            f"期内销档：{_zh('closed_reason', reason.value)}",
            f"Records closed in the period: {_en('closed_reason', reason.value)}",
            period=True,
            trendable=True,
        )


def _coverage(suffix: str, zh: str, en: str) -> Iterable[MetricDef]:
    yield _count(
        f"visits.due{suffix}",
        "children",
        f"应探访儿童数{zh}",
        f"Children due a visit{en}",
    )
    yield _count(
        f"visits.covered{suffix}",
        "children",
        f"按期探访儿童数{zh}",
        f"Children visited within their interval{en}",
    )
    yield _count(
        f"visits.overdue{suffix}",
        "children",
        f"探访逾期儿童数{zh}",
        f"Children whose visit is overdue{en}",
    )
    yield MetricDef(
        f"visits.coverage{suffix}",
        MetricKind.rate,
        "children",
        f"按期探访率{zh}",
        f"Visit coverage{en}",
        parts=(f"visits.covered{suffix}", f"visits.due{suffix}", f"visits.overdue{suffix}"),
    )


def _visits() -> Iterable[MetricDef]:
    yield from _coverage("", "", "")
    for r in RiskLevel:
        yield from _coverage(f".{r.value}", f"（{_colour(r.value)}）", f" (risk level {r.value})")
    yield _count(
        "visits.made", "visits", "期内探访次数", "Visits made in the period", period=True,
        trendable=True,
    )  # fmt: skip
    for k in VisitKind:
        yield _count(
            f"visits.made.{k.value}",
            "visits",
            f"期内{_zh('visit_kind', k.value)}次数",
            f"Visits made in the period: {_en('visit_kind', k.value)}",
            period=True,
            trendable=True,
        )


def _agreements() -> Iterable[MetricDef]:
    yield _count(
        "agreements.left_behind", "children", "在册农村留守儿童数", "Active left-behind children"
    )
    yield _count(
        "agreements.covered",
        "children",
        "签订生效委托照护协议的留守儿童数",
        "Left-behind children with an active agreement",
    )
    yield MetricDef(
        "agreements.coverage",
        MetricKind.rate,
        "children",
        "委托照护协议覆盖率",
        "Agreement coverage of left-behind children",
        parts=("agreements.covered", "agreements.left_behind", "~agreements.uncovered"),
    )
    yield _count("agreements.active", "agreements", "生效协议数", "Active agreements")
    yield _count(
        "agreements.expiring",
        "agreements",
        "30日内到期协议数",
        "Active agreements ending within 30 days",
    )


def _reports() -> Iterable[MetricDef]:
    kw = {"period": True, "trendable": True}
    yield _count(
        "reports.filed", "reports", "期内强制报告数", "Mandatory reports filed in the period", **kw
    )
    for s in ReportSituation:
        yield _count(
            f"reports.situation.{s.value}",
            "reports",
            f"报告情形：{_zh('report_situation', s.value)}",
            f"Reports filed in the period: {s.value}",
            **kw,
        )
    for st in ReportStatus:
        yield _count(
            f"reports.status.{st.value}",
            "reports",
            _status_label(st.value),
            f"Reports filed in the period, now {st.value}",
            **kw,
        )
    yield _count("reports.accepted", "reports", "已受理报告数", "Of these, accepted", **kw)
    yield _count(
        "reports.accept_due",
        "reports",
        "应受理报告数",
        "Reports accepted or past their acceptance time limit",
        **kw,
    )
    yield _count(
        "reports.accepted_in_time",
        "reports",
        "按时受理报告数",
        "Reports accepted within the time limit",
        **kw,
    )
    yield MetricDef(
        "reports.accepted_in_time_rate",
        MetricKind.rate,
        "reports",
        "按时受理率",
        "Share accepted within the time limit",
        parts=("reports.accepted_in_time", "reports.accept_due", "~reports.accept_missed"),
        **kw,
    )
    yield _count(
        "reports.referral_due",
        "reports",
        "应转介报告数",
        "Reports referred or past their first-referral time limit",
        **kw,
    )
    yield _count(
        "reports.referred_in_time",
        "reports",
        "按时转介报告数",
        "Reports referred within the time limit",
        **kw,
    )
    yield MetricDef(
        "reports.referred_in_time_rate",
        MetricKind.rate,
        "reports",
        "按时转介率",
        "Share referred within the time limit",
        parts=("reports.referred_in_time", "reports.referral_due", "~reports.referral_missed"),
        **kw,
    )
    yield MetricDef(
        "reports.median_hours_to_acceptance",
        MetricKind.hours,
        "reports",
        "受理用时中位数（小时）",
        "Median hours from filing to acceptance",
        parts=("reports.accepted",),
        **kw,
    )


def _workforce() -> Iterable[MetricDef]:
    for name, group, zh, en in (
        ("village_directors", "users", "在岗儿童主任数", "Active village child directors"),
        (
            "township_supervisors",
            "users",
            "在岗儿童督导员数",
            "Active township child supervisors",
        ),
        ("villages", "villages", "村（居）数", "Villages"),
        (
            "villages_without_director",
            "villages",
            "未配备儿童主任的村（居）数",
            "Villages without an active child director",
        ),
    ):
        yield MetricDef(f"workforce.{name}", MetricKind.staff, group, zh, en)


def _subsidies() -> Iterable[MetricDef]:
    yield _count(
        "subsidies.children", "subsidies", "领取补贴儿童数", "Children receiving a subsidy"
    )
    yield MetricDef(
        "subsidies.monthly_total",
        MetricKind.amount,
        "subsidies",
        "月发放补贴合计（元）",
        "Subsidies paid per month (yuan)",
        parts=("subsidies.children",),
    )
    for k in SubsidyKind:
        yield _count(
            f"subsidies.children.{k.value}",
            "subsidies",
            f"领取{_zh('subsidy_kind', k.value)}儿童数",
            f"Children receiving: {_en('subsidy_kind', k.value)}",
        )
    for k in SubsidyKind:
        yield MetricDef(
            f"subsidies.monthly_total.{k.value}",
            MetricKind.amount,
            "subsidies",
            f"{_zh('subsidy_kind', k.value)}月发放额（元）",
            f"Paid per month (yuan): {_en('subsidy_kind', k.value)}",
            parts=(f"subsidies.children.{k.value}",),
        )


def _care() -> Iterable[MetricDef]:
    """Care work (DESIGN.md "Care work" figures): pairing coverage of orange/red children,
    open cases, measures done per kind, intervention coverage of red children, duties."""
    yield _count("care.pairing_needed", "care", "橙色/红色儿童数", "Active orange or red children")
    yield _count(
        "care.paired",
        "care",
        "其中已落实结对帮扶儿童数",
        "Of these, with an active pairing",
    )
    yield MetricDef(
        "care.pairing_coverage",
        MetricKind.rate,
        "care",
        "橙色/红色儿童结对帮扶覆盖率",
        "Pairing coverage of orange and red children",
        parts=("care.paired", "care.pairing_needed", "~care.unpaired"),
    )
    yield _count("care.red", "care", "红色儿童数", "Active red children")
    yield _count(
        "care.red_intervened",
        "care",
        "其中已建立个案（一人一案）儿童数",
        "Of these, with an open case",
    )
    yield MetricDef(
        "care.intervention_coverage",
        MetricKind.rate,
        "care",
        "红色儿童干预覆盖率",
        "Intervention coverage of red children",
        parts=("care.red_intervened", "care.red", "~care.red_not_intervened"),
    )
    yield _count("care.pairings_active", "care", "结对帮扶中的儿童数", "Children with a pairing")
    yield _count("cases.open", "cases", "在办个案数", "Open cases")
    yield _count(
        "measures.done",
        "measures",
        "期内落实帮扶措施数",
        "Case measures done in the period",
        period=True,
        trendable=True,
    )
    for k in MeasureKind:
        yield _count(
            f"measures.done.{k.value}",
            "measures",
            f"期内落实：{_zh('measure_kind', k.value)}",
            f"Measures done in the period: {_en('measure_kind', k.value)}",
            period=True,
            trendable=True,
        )
    yield _count("duties.open", "duties", "未落实帮扶责任数", "Open risk duties")
    yield _count("duties.overdue", "duties", "逾期帮扶责任数", "Overdue risk duties")
    for d in DutyKind:
        yield _count(
            f"duties.open.{d.value}",
            "duties",
            f"未落实：{_zh('duty_kind', d.value)}",
            f"Open duties: {_en('duty_kind', d.value)}",
        )


# Roles that log visits (visits by the visitor's role).
VISITOR_ROLES = ("village_director", "township_supervisor", "county_officer")


def _decisions() -> Iterable[MetricDef]:
    """Category decisions (认定) and removals (减员) in the period; payments (发放) in the
    period: recipients (distinct children) and amounts per kind (DESIGN.md "Figures")."""
    kw: dict[str, object] = {"period": True, "trendable": True}
    yield _count("decisions.granted", "decisions", "期内新认定儿童数", "Newly granted", **kw)
    for c in BenefitCategory:
        yield _count(
            f"decisions.granted.{c.value}",
            "decisions",
            f"期内新认定{_zh('benefit_category', c.value)}数",
            f"Newly granted: {_en('benefit_category', c.value)}",
            **kw,
        )
    yield _count("removals.total", "removals", "期内减员数", "Removed in the period", **kw)
    for c in BenefitCategory:
        yield _count(
            f"removals.category.{c.value}",
            "removals",
            f"期内减员{_zh('benefit_category', c.value)}数",
            f"Removed: {_en('benefit_category', c.value)}",
            **kw,
        )
    for r in RemovalReason:
        yield _count(
            f"removals.reason.{r.value}",
            "removals",
            f"期内减员原因：{_zh('removal_reason', r.value)}",
            f"Removed because: {_en('removal_reason', r.value)}",
            **kw,
        )
    yield _count(
        "payments.recipients", "payments", "期内发放对象儿童数", "Children paid in the period", **kw
    )
    yield MetricDef(
        "payments.amount",
        MetricKind.amount,
        "payments",
        "期内发放金额合计（元）",
        "Paid in the period (yuan)",
        parts=("payments.recipients",),
        period=True,
        trendable=True,
    )
    for k in PaymentKind:
        yield _count(
            f"payments.recipients.{k.value}",
            "payments",
            f"期内{_zh('payment_kind', k.value)}发放对象数",
            f"Children paid: {_en('payment_kind', k.value)}",
            **kw,
        )
        yield MetricDef(
            f"payments.amount.{k.value}",
            MetricKind.amount,
            "payments",
            f"期内{_zh('payment_kind', k.value)}发放金额（元）",
            f"Paid (yuan): {_en('payment_kind', k.value)}",
            parts=(f"payments.recipients.{k.value}",),
            period=True,
            trendable=True,
        )


def _visited() -> Iterable[MetricDef]:
    """Distinct children visited in the period (per category and risk level, as they are
    now) and visits by the visitor's role."""
    kw: dict[str, object] = {"period": True, "trendable": True}
    yield _count("visited.children", "visited", "期内探访儿童人数", "Children visited", **kw)
    for c in Category:
        yield _count(
            f"visited.category.{c.value}",
            "visited",
            f"期内探访{_zh('child_category', c.value)}人数",
            f"Children visited: {_en('child_category', c.value)}",
            **kw,
        )
    for r in RiskLevel:
        yield _count(
            f"visited.risk.{r.value}",
            "visited",
            f"期内探访风险等级{_zh('risk_level', r.value)}儿童人数",
            f"Children visited at risk level {r.value}",
            **kw,
        )
    for role in VISITOR_ROLES:
        yield _count(
            f"visitors.{role}",
            "visitors",
            f"期内{_zh('role', role)}探访次数",
            f"Visits made by: {_en('role', role)}",
            **kw,
        )


def _activities() -> Iterable[MetricDef]:
    """Care activities (关爱服务台账) held in the period, counted where they were logged (a
    township's or county's own activities in that area and its ancestors, and in a breakdown
    as its remainder); the distinct children they reached, counted where each child lives;
    staff trained and qualified, counted where each works; open sites."""
    kw = {"period": True, "trendable": True}
    figures = (
        ("sessions", MetricKind.work, "场次", "sessions"),
        ("participants", MetricKind.work, "参与人次", "participants (person-times)"),
        ("children_served", MetricKind.count, "服务儿童人次", "children served (person-times)"),
    )
    for name, kind, zh, en in figures:
        yield MetricDef(
            f"activities.{name}",
            kind,
            "activities",
            f"期内关爱服务活动{zh}",
            f"Care activities held in the period: {en}",
            **kw,  # type: ignore[arg-type]
        )
        for k in ActivityKind:
            yield MetricDef(
                f"activities.{name}.{k.value}",
                kind,
                "activities",
                f"{_zh('activity_kind', k.value)}活动{zh}",
                f"{_en('activity_kind', k.value)}: {en}",
                **kw,  # type: ignore[arg-type]
            )
    yield MetricDef(
        "activities.amount",
        MetricKind.spent,
        "activities",
        "期内关爱服务活动支出金额（元）",
        "Amount spent on care activities in the period (yuan)",
        **kw,  # type: ignore[arg-type]
    )
    yield _count(
        "activities.children_reached",
        "reach",
        "期内关爱服务覆盖儿童数（去重）",
        "Distinct children named by an activity held in the period",
        period=True,
    )
    yield MetricDef(
        "training.staff",
        MetricKind.staff,
        "users",
        "应参训儿童主任和儿童督导员数",
        "Active village directors and township supervisors",
    )
    yield MetricDef(
        "training.trained",
        MetricKind.staff,
        "users",
        "其中期内参加业务培训人数",
        "Of these, attended a training activity in the period",
        period=True,
    )
    yield MetricDef(
        "training.rate",
        MetricKind.rate,
        "users",
        "儿童主任和儿童督导员培训率",
        "Training rate of village directors and township supervisors",
        period=True,
        parts=("training.trained", "training.staff"),
    )
    yield MetricDef(
        "staff.qualified",
        MetricKind.staff,
        "users",
        "持有专业资格的工作人员数",
        "Active staff holding a qualification",
    )
    for q in Qualification:
        yield MetricDef(
            f"staff.qualified.{q.value}",
            MetricKind.staff,
            "users",
            f"持有{_zh('qualification', q.value)}的工作人员数",
            f"Active staff holding: {_en('qualification', q.value)}",
        )
    yield MetricDef("sites.open", MetricKind.work, "sites", "运行中的阵地数", "Open sites")
    for sk in SiteKind:
        yield MetricDef(
            f"sites.open.{sk.value}",
            MetricKind.work,
            "sites",
            f"运行中的{_zh('site_kind', sk.value)}数",
            f"Open sites: {_en('site_kind', sk.value)}",
        )


DEFS: dict[str, MetricDef] = {
    d.name: d
    for d in (
        *_children(),
        *_visits(),
        *_agreements(),
        *_reports(),
        *_workforce(),
        *_subsidies(),
        *_care(),
        *_decisions(),
        *_visited(),
        *_activities(),
    )
}
METRICS: tuple[str, ...] = tuple(m.value for m in Metric)
TRENDABLE: tuple[str, ...] = tuple(n for n in METRICS if DEFS[n].trendable)

Metric.__doc__ = (
    "A statistics figure, named section.figure[.value]. Kinds: count (children, or their "
    'visits, agreements, reports; for auditors "<5" or "suppressed" in villages), staff '
    "(workforce, never hidden), rate (0..1; null when nothing is due), hours (median), amount "
    "(yuan per month), work (activities held, their participants, sites: never hidden), spent "
    "(yuan spent on activities: never hidden). *period*: counts what happened between `from` "
    "and `to`; otherwise as of the request.\n\n"
    + "\n".join(
        f"- `{n}` ({DEFS[n].kind.value}{', period' if DEFS[n].period else ''}): {DEFS[n].label_en}"
        for n in METRICS
    )
)

# Stored with the other enum labels: GET /api/v1/meta/enums serves them as `stats_metric`.
METRIC_LABELS: dict[str, tuple[str, str]] = {
    n: (DEFS[n].label_zh, DEFS[n].label_en) for n in METRICS
}


# --- the relations between figures ------------------------------------------------------

# Figures nobody is shown but anyone can compute from two shown ones (a denominator minus
# its numerator): `~name` -> (whole, part). They take part in suppression like any figure.
HIDDEN: dict[str, tuple[str, str]] = {
    "~agreements.uncovered": ("agreements.left_behind", "agreements.covered"),
    "~reports.accept_missed": ("reports.accept_due", "reports.accepted_in_time"),
    "~reports.referral_missed": ("reports.referral_due", "reports.referred_in_time"),
    "~reports.accept_open_overdue": ("reports.accept_due", "reports.accepted"),
    "~care.unpaired": ("care.pairing_needed", "care.paired"),
    "~care.red_not_intervened": ("care.red", "care.red_intervened"),
}


def _sum(total: str, parts: Iterable[str]) -> tuple[str, tuple[str, ...]]:
    return total, tuple(parts)


def _row_equations() -> list[tuple[str, tuple[str, ...]]]:
    """total = sum(parts) within one area's figures."""
    levels = [r.value for r in RiskLevel]
    eqs = [
        _sum("children.active", (f"children.risk.{r}" for r in levels)),
        _sum("children.closed", (f"children.closed.{r.value}" for r in ClosedReason)),
        _sum("visits.due", ("visits.covered", "visits.overdue")),
        *(_sum(f"visits.due.{r}", (f"visits.covered.{r}", f"visits.overdue.{r}")) for r in levels),
        _sum("visits.due", (f"visits.due.{r}" for r in levels)),
        _sum("visits.covered", (f"visits.covered.{r}" for r in levels)),
        _sum("visits.overdue", (f"visits.overdue.{r}" for r in levels)),
        _sum("visits.made", (f"visits.made.{k.value}" for k in VisitKind)),
        _sum("agreements.left_behind", ("children.category.left_behind",)),
        _sum("reports.filed", (f"reports.status.{s.value}" for s in ReportStatus)),
        _sum("reports.filed", (f"reports.situation.{s.value}" for s in ReportSituation)),
        # Acceptance comes first: every report past `submitted` was accepted.
        _sum(
            "reports.accepted",
            (f"reports.status.{s}" for s in ("accepted", "referred", "closed")),
        ),
        _sum(
            "subsidies.monthly_total", (f"subsidies.monthly_total.{k.value}" for k in SubsidyKind)
        ),
        _sum("measures.done", (f"measures.done.{k.value}" for k in MeasureKind)),
        _sum("decisions.granted", (f"decisions.granted.{c.value}" for c in BenefitCategory)),
        _sum("removals.total", (f"removals.category.{c.value}" for c in BenefitCategory)),
        _sum("removals.total", (f"removals.reason.{r.value}" for r in RemovalReason)),
        _sum("payments.amount", (f"payments.amount.{k.value}" for k in PaymentKind)),
        _sum("visited.children", (f"visited.risk.{r}" for r in levels)),
        _sum("duties.open", (f"duties.open.{d.value}" for d in DutyKind)),
        _sum(
            "activities.children_served",
            (f"activities.children_served.{k.value}" for k in ActivityKind),
        ),
    ]
    eqs += [_sum(whole, (part, hidden)) for hidden, (whole, part) in HIDDEN.items()]
    return eqs


ROW_EQUATIONS: list[tuple[str, tuple[str, ...]]] = _row_equations()


def values(metrics: Iterable[str]) -> set[str]:
    """The metrics (and hidden figures) a set of metrics is computed from."""
    out: set[str] = set()
    for m in metrics:
        out.add(m)
        out.update(DEFS[m].parts)
    return out


def derive(fig: dict[str, float | int | None]) -> None:
    """Fill the figures computed from others (totals of the coverage, hidden differences,
    rates) in place, from the raw counts a statement answered."""
    for suffix in ("", *(f".{r.value}" for r in RiskLevel)):
        covered, overdue = fig.get(f"visits.covered{suffix}"), fig.get(f"visits.overdue{suffix}")
        if covered is not None and overdue is not None:
            fig[f"visits.due{suffix}"] = int(covered) + int(overdue)
    if "children.category.left_behind" in fig:
        fig["agreements.left_behind"] = fig["children.category.left_behind"]
    for hidden, (whole, part) in HIDDEN.items():
        w, p = fig.get(whole), fig.get(part)
        if w is not None and p is not None:
            fig[hidden] = int(w) - int(p)
    for name, d in DEFS.items():
        if d.kind == MetricKind.rate:
            num, den = fig.get(d.parts[0]), fig.get(d.parts[1])
            if num is not None and den is not None:
                fig[name] = round(num / den, 4) if den else None
