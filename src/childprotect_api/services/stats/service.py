"""Statistics for self-assessment (自查自评) reports: a summary of an area, its breakdown one or
two levels down, a metric's last twelve months, and the export of all of it
(services/stats/export.py). Figures and their definitions: services/stats/metrics.py and
services/stats/queries.py.

How it stays fast (index-only passes, rollups, county snapshots: seven statements a summary)
and what auditor suppression does not protect: docs/statistics.md."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core.errors import NotFound, Unprocessable
from childprotect_api.models.activity import ActivityKind, Qualification, SiteKind
from childprotect_api.models.area import Area, AreaLevel
from childprotect_api.models.base import utcnow
from childprotect_api.models.benefit import BenefitCategory, PaymentKind, RemovalReason
from childprotect_api.models.care import DutyKind, MeasureKind
from childprotect_api.models.child import Category, ClosedReason, RiskLevel, SubsidyKind
from childprotect_api.models.report import ReportSituation, ReportStatus
from childprotect_api.models.user import Role
from childprotect_api.models.visit import VisitKind
from childprotect_api.schemas import stats as s
from childprotect_api.security.scope import Action, Scope, in_scope
from childprotect_api.services.children.rules import today as china_today
from childprotect_api.services.stats import export as stats_export
from childprotect_api.services.stats import figures, periods
from childprotect_api.services.stats.figures import Figure, RowKey, Shown, Tree
from childprotect_api.services.stats.metrics import DEFS, METRICS, TRENDABLE, VISITOR_ROLES
from childprotect_api.services.stats.queries import Rows

MAX_PERIOD_DAYS = 366
EARLIEST = date(2000, 1, 1)
LENGTH: dict[str, int] = {
    AreaLevel.province: 2,
    AreaLevel.city: 4,
    AreaLevel.county: 6,
    AreaLevel.township: 9,
    AreaLevel.village: 12,
}
LEVEL: dict[int, AreaLevel] = {n: AreaLevel(level) for level, n in LENGTH.items()}
TREND_MONTHS = periods.TREND_MONTHS


@dataclass
class Target:
    """The area asked about, inside the caller's scope."""

    scope: Scope  # the caller's
    area: Area

    @property
    def code(self) -> str:
        return self.area.code

    @property
    def auditor(self) -> bool:
        return not self.scope.is_client and self.scope.role == Role.auditor

    def ref(self) -> s.StatsArea:
        return s.StatsArea(code=self.area.code, name=self.area.name, level=self.area.level)


async def target(session: AsyncSession, scope: Scope, area_code: str | None) -> Target:
    """The area (the caller's own when not given); 404 when it lies outside the scope."""
    scope.require(Action.stats_read)
    code = area_code or scope.area_code
    if not code:
        raise Unprocessable.field(
            "area", "give the area to report on (your account covers every area)",
            code="area_required",
        )  # fmt: skip
    scope.narrowed(code)
    area = await session.get(Area, code)
    if area is None:
        raise NotFound("no such area")
    return Target(scope, area)


def period(start: date | None, end: date | None) -> s.StatsPeriod:
    """`from`/`to` as given, by default the current year up to today (China's calendar)."""
    today = china_today()
    end = end or today
    start = start or end.replace(month=1, day=1)
    if start > end:
        raise Unprocessable.field("from", "`from` is after `to`", code="invalid_period")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise Unprocessable.field(
            "from", f"a period is at most {MAX_PERIOD_DAYS} days", code="period_too_long"
        )
    if start < EARLIEST:
        raise Unprocessable.field("from", "`from` is before 2000", code="invalid_period")
    return s.StatsPeriod(from_=start, to=end)


# --- the computation behind every answer --------------------------------------------------


@dataclass
class Computation:
    tree: Tree
    rows: Rows
    shown: Shown
    names: dict[str, Area]
    suppressed: bool
    as_of: datetime

    def key(self, code: str) -> RowKey:
        if code == self.tree.root:
            return (0, code)
        return (len(code), code)

    def values(self, code: str) -> dict[str, Figure]:
        return self.shown[self.key(code)]


def _root(t: Target, levels: tuple[int, ...]) -> tuple[str, bool]:
    """Where the computation starts, and whether small figures must be hidden: for auditors
    asking about townships or villages, at the county they lie in (or the auditor's own area
    when that is smaller), so that every answer hides the same figures."""
    if not t.auditor or max((*levels, len(t.code))) <= 6:
        return t.code, False
    if len(t.code) <= 6:
        return t.code, True
    county = t.code[:6]
    return (county if t.scope.covers(county) else t.scope.area_code), True


def _lengths(root: str, levels: tuple[int, ...], solve: bool) -> tuple[int, ...]:
    if not solve:
        return tuple(sorted((n for n in levels if n > len(root)), reverse=True))
    return tuple(n for n in (12, 9, 6, 4) if n > len(root))


async def _areas(session: AsyncSession, scope: Scope, lengths: set[int]) -> dict[str, Area]:
    if not lengths:
        return {scope.area_code: a} if (a := await session.get(Area, scope.area_code)) else {}
    stmt = select(Area).where(
        in_scope(scope, col(Area.code)), func.length(col(Area.code)).in_(sorted(lengths))
    )
    return {a.code: a for a in (await session.execute(stmt)).scalars()}


def _zero_rows(rows: Rows, areas: dict[str, Area], lengths: tuple[int, ...], root: str) -> None:
    """Areas without any record still have a row (of zeros)."""
    template = next(iter(rows.values()), None)
    if template is None:
        return
    for code in areas:
        key = (0, code) if code == root else (len(code), code)
        if key not in rows and (key[0] in lengths or key[0] == 0):
            blank: dict[str, float | int | None] = {
                n: (None if n in DEFS and DEFS[n].kind.value in ("rate", "hours") else 0)
                for n in template
            }
            rows[key] = blank


async def compute(
    session: AsyncSession,
    t: Target,
    levels: tuple[int, ...],
    days: list[date],
    metrics: list[str],
    now: datetime,
) -> Computation:
    """The figures of the area and of the areas at `levels` below it (code lengths)."""
    root, solve = _root(t, levels)
    lengths = _lengths(root, levels, solve)
    area = t.scope.narrowed(root)
    wanted = list(METRICS) if solve else metrics
    rows, as_of = await figures.compute(session, area, lengths, days, now, china_today(), wanted)
    deepest = max(levels, default=len(root))
    chain = {*lengths, len(root), *(n for n in LENGTH.values() if len(root) < n < deepest)}
    names = await _areas(session, area, chain)
    _zero_rows(rows, names, lengths, root)
    tree = Tree(root, lengths)
    shown = (
        figures.shown_to_auditor(rows, tree, metrics, _shown_keys(t, tree, rows, levels))
        if solve
        else figures.shown_all(rows, metrics)
    )
    return Computation(tree, rows, shown, names, solve, as_of)


def _shown_keys(t: Target, tree: Tree, rows: Rows, levels: tuple[int, ...]) -> list[RowKey]:
    """The rows an answer shows: the area's own, and its rows at the breakdown levels (with
    the rows that stand for their remainders)."""
    own = (0, t.code) if t.code == tree.root else (len(t.code), t.code)
    below = [k for k in rows if k[0] in levels and k[1].startswith(t.code)]
    return [own, *below, *(tree.canonical(k) for k in below)]


def _days(p: s.StatsPeriod) -> list[date]:
    return [p.from_, p.to + timedelta(days=1)]


# --- summary ------------------------------------------------------------------------------


def _coverage(v: dict[str, Figure], suffix: str = "") -> s.Coverage:
    return s.Coverage(
        due=v[f"visits.due{suffix}"],
        covered=v[f"visits.covered{suffix}"],
        overdue=v[f"visits.overdue{suffix}"],
        rate=v[f"visits.coverage{suffix}"],
    )


def summary_from(
    v: dict[str, Any], t: Target, p: s.StatsPeriod, now: datetime, hidden: bool
) -> s.StatsSummary:
    return s.StatsSummary(
        area=t.ref(),
        period=p,
        as_of=now,
        suppressed=hidden,
        children=s.ChildrenFigures(
            active=v["children.active"],
            by_category={c: v[f"children.category.{c.value}"] for c in Category},
            by_risk_level={r: v[f"children.risk.{r.value}"] for r in RiskLevel},
            new=v["children.new"],
            closed=v["children.closed"],
            closed_by_reason={r: v[f"children.closed.{r.value}"] for r in ClosedReason},
        ),
        visits=s.VisitFigures(
            coverage=_coverage(v),
            coverage_by_risk_level={r: _coverage(v, f".{r.value}") for r in RiskLevel},
            made=v["visits.made"],
            made_by_kind={k: v[f"visits.made.{k.value}"] for k in VisitKind},
        ),
        agreements=s.AgreementFigures(
            left_behind=v["agreements.left_behind"],
            covered=v["agreements.covered"],
            coverage_rate=v["agreements.coverage"],
            active=v["agreements.active"],
            expiring_within_30_days=v["agreements.expiring"],
        ),
        reports=s.ReportFigures(
            filed=v["reports.filed"],
            by_situation={x: v[f"reports.situation.{x.value}"] for x in ReportSituation},
            by_status={x: v[f"reports.status.{x.value}"] for x in ReportStatus},
            accepted=v["reports.accepted"],
            accept_due=v["reports.accept_due"],
            accepted_in_time=v["reports.accepted_in_time"],
            accepted_in_time_rate=v["reports.accepted_in_time_rate"],
            referral_due=v["reports.referral_due"],
            referred_in_time=v["reports.referred_in_time"],
            referred_in_time_rate=v["reports.referred_in_time_rate"],
            median_hours_to_acceptance=v["reports.median_hours_to_acceptance"],
        ),
        workforce=s.WorkforceFigures(
            village_directors=v["workforce.village_directors"],
            township_supervisors=v["workforce.township_supervisors"],
            villages=v["workforce.villages"],
            villages_without_director=v["workforce.villages_without_director"],
        ),
        subsidies=s.SubsidyFigures(
            children=v["subsidies.children"],
            monthly_total=v["subsidies.monthly_total"],
            by_kind={
                k: s.SubsidyKindFigures(
                    children=v[f"subsidies.children.{k.value}"],
                    monthly_total=v[f"subsidies.monthly_total.{k.value}"],
                )
                for k in SubsidyKind
            },
        ),
        care=s.CareFigures(
            pairing_needed=v["care.pairing_needed"],
            paired=v["care.paired"],
            pairing_coverage=v["care.pairing_coverage"],
            red=v["care.red"],
            red_intervened=v["care.red_intervened"],
            intervention_coverage=v["care.intervention_coverage"],
            children_paired=v["care.pairings_active"],
            cases_open=v["cases.open"],
            measures_done=v["measures.done"],
            measures_done_by_kind={k: v[f"measures.done.{k.value}"] for k in MeasureKind},
            duties_open=v["duties.open"],
            duties_overdue=v["duties.overdue"],
            duties_open_by_kind={d: v[f"duties.open.{d.value}"] for d in DutyKind},
        ),
        decisions=s.DecisionFigures(
            granted=v["decisions.granted"],
            granted_by_category={c: v[f"decisions.granted.{c.value}"] for c in BenefitCategory},
            removed=v["removals.total"],
            removed_by_category={c: v[f"removals.category.{c.value}"] for c in BenefitCategory},
            removed_by_reason={r: v[f"removals.reason.{r.value}"] for r in RemovalReason},
        ),
        payments=s.PaymentFigures(
            recipients=v["payments.recipients"],
            amount=v["payments.amount"],
            by_kind={
                k: s.PaymentKindFigures(
                    recipients=v[f"payments.recipients.{k.value}"],
                    amount=v[f"payments.amount.{k.value}"],
                )
                for k in PaymentKind
            },
        ),
        visited=s.VisitedFigures(
            children=v["visited.children"],
            by_category={c: v[f"visited.category.{c.value}"] for c in Category},
            by_risk_level={r: v[f"visited.risk.{r.value}"] for r in RiskLevel},
            visits_by_visitor_role={role: v[f"visitors.{role}"] for role in VISITOR_ROLES},
        ),
        activities=s.ActivityFigures(
            sessions=v["activities.sessions"],
            participants=v["activities.participants"],
            children_served=v["activities.children_served"],
            children_reached=v["activities.children_reached"],
            amount=v["activities.amount"],
            by_kind={
                k: s.ActivityKindFigures(
                    sessions=v[f"activities.sessions.{k.value}"],
                    participants=v[f"activities.participants.{k.value}"],
                    children_served=v[f"activities.children_served.{k.value}"],
                )
                for k in ActivityKind
            },
            training_staff=v["training.staff"],
            trained=v["training.trained"],
            training_rate=v["training.rate"],
            staff_qualified=v["staff.qualified"],
            staff_by_qualification={q: v[f"staff.qualified.{q.value}"] for q in Qualification},
            sites_open=v["sites.open"],
            sites_open_by_kind={k: v[f"sites.open.{k.value}"] for k in SiteKind},
        ),
    )


async def summary(
    session: AsyncSession, t: Target, p: s.StatsPeriod, now: datetime | None = None
) -> s.StatsSummary:
    now = now or utcnow()
    c = await compute(session, t, (), _days(p), list(METRICS), now)
    return summary_from(c.values(t.code), t, p, c.as_of, c.suppressed)


# --- breakdown ----------------------------------------------------------------------------


def _below(t: Target) -> list[int]:
    """The code lengths of the two levels under the area."""
    return [n for n in (4, 6, 9, 12) if n > len(t.code)][:2]


def breakdown_level(t: Target, by: AreaLevel | None) -> AreaLevel:
    """One level down by default; one or two levels down on request."""
    below = _below(t)
    if not below:
        raise Unprocessable.field("area", "a village has no lower level", code="no_lower_level")
    if by is None:
        return LEVEL[below[0]]
    if LENGTH[by] not in below:
        raise Unprocessable.field(
            "by",
            f"break down a {t.area.level} by one of: {', '.join(LEVEL[n] for n in below)}",
            code="invalid_breakdown",
        )
    return by


def _label(area: Area | None, code: str) -> str:
    return area.name if area else code


def breakdown_rows(c: Computation, t: Target, by: AreaLevel) -> list[s.BreakdownRow]:
    n = LENGTH[by]
    out: list[s.BreakdownRow] = []
    for key in sorted(k for k in c.rows if k[0] == n and k[1].startswith(t.code)):
        code = key[1]
        remainder = len(code) < n
        if remainder and not any(c.rows[key].get(m) for m in METRICS if DEFS[m].additive):
            continue
        shown = c.shown.get(c.tree.canonical(key), c.shown[key]) if c.suppressed else c.shown[key]
        area = c.names.get(code)
        out.append(
            s.BreakdownRow(
                area_code=code,
                name=f"{_label(area, code)}（本级）" if remainder else _label(area, code),
                level=LEVEL[len(code)],
                remainder=remainder,
                values=shown,
            )
        )
    return out


async def breakdown(
    session: AsyncSession,
    t: Target,
    p: s.StatsPeriod,
    by: AreaLevel | None,
    metrics: list[str] | None,
    now: datetime | None = None,
) -> s.StatsBreakdown:
    now = now or utcnow()
    level = breakdown_level(t, by)
    wanted = metrics or list(METRICS)
    c = await compute(session, t, (LENGTH[level],), _days(p), wanted, now)
    total = s.BreakdownRow(
        area_code=t.code,
        name=t.area.name,
        level=AreaLevel(t.area.level),
        values=c.values(t.code),
    )
    return s.StatsBreakdown(
        area=t.ref(),
        by=level,
        period=p,
        as_of=c.as_of,
        suppressed=c.suppressed,
        metrics=wanted,
        total=total,
        rows=breakdown_rows(c, t, level),
    )


# --- trend --------------------------------------------------------------------------------


def trend_months(today: date) -> list[date]:
    """The first days of the last twelve months (this one included) and of the next (the
    windows the county period entries keep for cities and the province: periods.py)."""
    return periods.trend_windows(today)


async def trend(
    session: AsyncSession, t: Target, metric: str, now: datetime | None = None
) -> s.StatsTrend:
    if metric not in TRENDABLE:
        raise Unprocessable.field(
            "metric",
            f"{metric} has no history; trendable: {', '.join(TRENDABLE)}",
            code="metric_not_trendable",
        )
    now = now or utcnow()
    months = trend_months(china_today())
    root, solve = _root(t, ())
    lengths = _lengths(root, (), solve)
    area = t.scope.narrowed(root)
    rows, as_of = await figures.compute_trend(
        session, area, lengths, months, now, china_today(), metric
    )
    key = (0, root) if root == t.code else (len(t.code), t.code)
    windows = len(months) - 1
    if solve:
        names = await _areas(session, area, {*lengths, len(root)})
        _zero_trend_rows(rows, names, lengths, root)
        shown = figures.trend_shown_to_auditor(rows, Tree(root, lengths), metric, windows)
    else:
        shown = figures.trend_shown_all(rows, metric, windows)
    empty = None if DEFS[metric].kind.value in ("rate", "hours") else 0
    values = shown.get(key) or {str(i): empty for i in range(windows)}
    points = [
        s.TrendPoint(
            month=months[i].strftime("%Y-%m"),
            from_=months[i],
            to=months[i + 1] - timedelta(days=1),
            value=values[str(i)],
        )
        for i in range(windows)
    ]
    return s.StatsTrend(
        area=t.ref(),
        metric=metric,
        interval=s.StatsInterval.month,
        as_of=as_of,
        suppressed=solve,
        points=points,
    )


def _zero_trend_rows(
    rows: Rows, areas: dict[str, Area], lengths: tuple[int, ...], root: str
) -> None:
    names = {n for figs in rows.values() for n in figs}
    for code in areas:
        key = (0, code) if code == root else (len(code), code)
        if key not in rows and (key[0] in lengths or key[0] == 0):
            rows[key] = dict.fromkeys(names, 0)


# --- export -------------------------------------------------------------------------------


async def export(
    session: AsyncSession, t: Target, p: s.StatsPeriod, now: datetime | None = None
) -> stats_export.Export:
    """The summary and the breakdowns one and two levels down, from one computation."""
    now = now or utcnow()
    levels = tuple(_below(t))
    c = await compute(session, t, levels, _days(p), list(METRICS), now)
    values = c.values(t.code)
    return stats_export.Export(
        summary=summary_from(values, t, p, c.as_of, c.suppressed),
        values=values,
        breakdowns=[(LEVEL[n], breakdown_rows(c, t, LEVEL[n])) for n in levels],
        total=s.BreakdownRow(
            area_code=t.code,
            name=t.area.name,
            level=AreaLevel(t.area.level),
            values=values,
        ),
    )
