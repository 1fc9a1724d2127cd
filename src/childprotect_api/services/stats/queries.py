"""The statements behind the statistics: one per figure group (children, visits, agreements,
reports, users, villages, subsidies), each one pass over the area's rows with one aggregate
`FILTER (WHERE ...)` per figure, grouped by area code prefix with GROUPING SETS, so that a
breakdown and its total are the same statement as the summary. (One module, longer than most,
so that every statement the statistics issue, and what each figure counts, reads in one place.)

Every statement filters by the area through `security.scope` (`scope_filter` on the caller's scope
narrowed to the area: county code first, the leading column of every scope index), so a
county's figures read that county's index range and nothing else.

Definitions (the OpenAPI descriptions repeat them):
- visit coverage: a child is *due* when active and either visited at least once or past the
  first due date after registration (a never-visited child still inside its first interval is
  not yet due); *covered* when due and its next visit is not yet due (its last visit lies
  within the interval of its current risk level and county); *overdue* when its next visit
  date has passed. due = covered + overdue.
- visits made: current versions of visits, by when they took place.
- agreements: *active* = status active and `ends_on` not passed (China's date); *expiring* =
  active and ending within 30 days; a left-behind child is *covered* by an active agreement.
- reports of the period are those filed in it (counted where they are now), with their status
  now; *accepted in time*: accepted at or before the acceptance deadline fixed when filed;
  *accept due*: accepted, or its deadline passed; referral alike, except that a report closed
  before its referral deadline without a referral is not due; the median runs from filing to
  acceptance over the accepted ones.
- subsidies: grants running today (`from` not after today, `to` not before) of active
  children; the monthly total sums their monthly amounts.
- care activities of the period: held on a day of it (`held_on`), counted in the area they
  were logged at (a village, township or county) and so in its ancestors; sessions, the sums
  of `participants` and `children_served` (人次), and of `amount`, per kind.
- children reached: distinct children of the area (whatever their status now) named in
  `child_ids` by an activity of their county (logged at any level) held in the period,
  counted where the child is registered (so a county's activities reach children of its
  villages); for counties and above, counted in the county of the activity (the same but for
  a child since moved to another county).
- training: the *staff to train* are the active village directors and township supervisors of
  the area (other roles and deactivated accounts are not); *trained* are those of them among
  the `staff_ids` of a `training` activity of the area's counties held in the period (a
  training outside the period does not count). The rate is trained / staff to train.
- qualifications: active users of the area (any role) holding each; sites: open sites of the
  area by kind (as of now)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Select,
    String,
    and_,
    bindparam,
    case,
    column,
    exists,
    extract,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.models.activity import Activity, ActivityKind, Qualification, Site, SiteKind
from childprotect_api.models.agreement import Agreement
from childprotect_api.models.area import Area
from childprotect_api.models.benefit import (
    BenefitCategory,
    BenefitPayment,
    CategoryApplication,
    CategoryRemoval,
    PaymentKind,
    RemovalReason,
)
from childprotect_api.models.care import (
    Case,
    CaseMeasure,
    ChildDuty,
    DutyKind,
    MeasureKind,
    Pairing,
)
from childprotect_api.models.child import Category, Child, ClosedReason, RiskLevel, SubsidyKind
from childprotect_api.models.report import Report, ReportSituation, ReportStatus
from childprotect_api.models.stats import VisitDayCount, VisitMonthCount
from childprotect_api.models.user import Role, User
from childprotect_api.models.visit import Visit, VisitKind
from childprotect_api.security.scope import Scope, scope_filter
from childprotect_api.services.agreements.expiry import EXPIRING_WINDOW_DAYS
from childprotect_api.services.children.rules import CHINA_TZ

_C = Child.__table__.c  # type: ignore[attr-defined]
_V = Visit.__table__.c  # type: ignore[attr-defined]
_A = Agreement.__table__.c  # type: ignore[attr-defined]
_R = Report.__table__.c  # type: ignore[attr-defined]
_U = User.__table__.c  # type: ignore[attr-defined]
_AREA = Area.__table__.c  # type: ignore[attr-defined]
_DAYS = VisitDayCount.__table__.c  # type: ignore[attr-defined]
_MONTHS = VisitMonthCount.__table__.c  # type: ignore[attr-defined]
_P = Pairing.__table__.c  # type: ignore[attr-defined]
_CS = Case.__table__.c  # type: ignore[attr-defined]
_M = CaseMeasure.__table__.c  # type: ignore[attr-defined]
_D = ChildDuty.__table__.c  # type: ignore[attr-defined]
_CA = CategoryApplication.__table__.c  # type: ignore[attr-defined]
_CR = CategoryRemoval.__table__.c  # type: ignore[attr-defined]
_BP = BenefitPayment.__table__.c  # type: ignore[attr-defined]
_ACT = Activity.__table__.c  # type: ignore[attr-defined]
_SITE = Site.__table__.c  # type: ignore[attr-defined]

Figures = dict[str, float | int | None]
# (grouping length, area code) -> figures; (0, area) is the area's own total. A code shorter
# than its grouping length holds what is recorded above that level (a report filed for a
# township, a supervisor) in a breakdown by village: its parent's remainder.
Rows = dict[tuple[int, str], Figures]


def _lit(sql: str) -> Any:
    """Constants the planner must see (partial indexes, array containment)."""
    return literal_column(sql)


def _q(value: str) -> Any:
    return _lit(f"'{value}'")


def china_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), CHINA_TZ)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


@dataclass(frozen=True)
class Window:
    """Window i: [day i, day i + 1) as bound parameters, in time (`w`) and in days (`d`)."""

    i: int

    def has(self, column: Any) -> ColumnElement[bool]:
        return and_(column >= bindparam(f"w{self.i}"), column < bindparam(f"w{self.i + 1}"))

    def has_day(self, column: Any) -> ColumnElement[bool]:
        return and_(
            column >= bindparam(f"d{self.i}", type_=Date),
            column < bindparam(f"d{self.i + 1}", type_=Date),
        )

    @property
    def end(self) -> Any:
        return bindparam(f"w{self.i + 1}")


@dataclass
class Params:
    """What a computation is about: the area (the caller's scope narrowed to it), the
    grouping lengths, the windows as China days (one window for a summary, twelve months
    for a trend), and the clock."""

    area: Scope
    lengths: tuple[int, ...]
    days: list[date]
    now: datetime
    today: date

    @property
    def windows(self) -> int:
        return len(self.days) - 1

    def full_months(self) -> tuple[date, date]:
        """The whole months inside the windows' span: [lo, hi); empty as (start, start)."""
        first, last = self.days[0], self.days[-1]
        lo = first if first.day == 1 else next_month(first)
        hi = month_start(last)
        return (lo, hi) if lo < hi else (first, first)

    def values(self) -> dict[str, Any]:
        # The scope's named parameters, for tables with and without a county column.
        out: dict[str, Any] = {
            **scope_filter(self.area, _C.area_code).params,
            **scope_filter(self.area, _C.area_code, _C.county_code).params,
        }
        for i, day in enumerate(self.days):
            out[f"w{i}"], out[f"d{i}"] = china_midnight(day), day
        m_lo, m_hi = self.full_months()
        out.update(
            m_lo=m_lo,
            m_hi=m_hi,
            mt_lo=china_midnight(m_lo),
            mt_hi=china_midnight(m_hi),
            w_end=china_midnight(self.days[-1]),
            d_end=self.days[-1],
            now=self.now,
            today=self.today,
            today_iso=self.today.isoformat(),
            soon=self.today + timedelta(days=EXPIRING_WINDOW_DAYS),
        )
        return out


def county_range(area_code: str) -> tuple[str, str]:
    """[lo, hi) of the county codes of an area (its own county for a township or village):
    county codes are six digits in the C collation, so one range serves every level."""
    prefix = area_code[:6] if len(area_code) >= 6 else area_code
    if not prefix:
        return "", "~"
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


# A figure's aggregate over a group's rows, for a window.
Maker = Callable[[Window], Any]


def _scoped(area: Scope, area_col: Any, county_col: Any = None) -> Any:
    """The area's filter with named parameters (Params.values() gives them), so that each
    statement is built once per shape of area and then only executed."""
    return scope_filter(area, area_col, county_col).clause


def _n(*conds: Any) -> Any:
    return func.count().filter(and_(*conds))


def _has_category(categories: Any, category: str) -> Any:
    return categories.op("@>")(_lit(f"ARRAY['{category}']::varchar[]"))


# --- children: one index-only pass, aggregated twice --------------------------------------
#
# Some forty figures of the children table would cost forty FILTER evaluations per child. The
# inner aggregate folds the children into the few hundred distinct combinations of what the
# figures look at (status, level, categories, overdue, ...) with a count; the figures are then
# sums over those combinations: several times cheaper per child.


# A child's state as bits of one integer (fewer, narrower keys hash faster than five
# booleans): active; its visit overdue, or covered; an active agreement; registered in the
# period.
ACTIVE, LATE, COVERED, AGREED, NEW = 1, 2, 4, 8, 16


def _children_combos(area: Scope, key_length: int) -> Any:
    now: Any = bindparam("now")
    agreed = (
        select(_A.child_id)
        .where(
            _scoped(area, _A.area_code, _A.county_code),
            _A.status == _q("active"),
            _A.ends_on >= bindparam("today", type_=Date),
        )
        .subquery("agreed")
    )
    window = Window(0)
    closed = _C.status == _q("closed")
    state = (
        case((_C.status == _q("active"), ACTIVE), else_=0)
        + case(
            (_C.next_visit_due < now, LATE),
            (and_(_C.last_visit_at.is_not(None), _C.next_visit_due >= now), COVERED),
            else_=0,
        )
        + case((agreed.c.child_id.is_not(None), AGREED), else_=0)
        + case((window.has(_C.created_at), NEW), else_=0)
    )
    dims = [
        _C.risk_level.label("risk_level"),
        _C.categories.label("categories"),
        state.label("state"),
        case((and_(closed, window.has(_C.closed_at)), _C.closed_reason)).label("closed_in"),
    ]
    if key_length:
        dims.insert(0, func.left(_C.area_code, _lit(str(key_length))).label("k"))
    return (
        select(*dims, func.count().label("n"))
        .select_from(Child.__table__.outerjoin(agreed, agreed.c.child_id == _C.id))  # type: ignore[attr-defined]
        .where(_scoped(area, _C.area_code, _C.county_code))
        .group_by(*(d.element for d in dims))
        .subquery("combos")
    )


def _children_makers(c: Any) -> dict[str, Maker]:
    def total(*conds: Any) -> Maker:
        return lambda w: func.coalesce(func.sum(c.n).filter(and_(*conds)), 0).cast(BigInteger)

    def has(bit: int) -> Any:
        return c.state.op("&")(_lit(str(bit))) != _lit("0")

    active = has(ACTIVE)
    m: dict[str, Maker] = {"children.active": total(active)}
    for cat in Category:
        m[f"children.category.{cat.value}"] = total(active, _has_category(c.categories, cat.value))
    for r in RiskLevel:
        m[f"children.risk.{r.value}"] = total(active, c.risk_level == _q(r.value))
    m["children.new"] = total(has(NEW))
    m["children.closed"] = total(c.closed_in.is_not(None))
    for reason in ClosedReason:
        m[f"children.closed.{reason.value}"] = total(c.closed_in == _q(reason.value))
    m["visits.overdue"] = total(active, has(LATE))
    m["visits.covered"] = total(active, has(COVERED))
    for r in RiskLevel:
        level = c.risk_level == _q(r.value)
        m[f"visits.overdue.{r.value}"] = total(active, level, has(LATE))
        m[f"visits.covered.{r.value}"] = total(active, level, has(COVERED))
    m["agreements.covered"] = total(
        active, _has_category(c.categories, Category.left_behind.value), has(AGREED)
    )
    return m


def _children_trend_makers() -> dict[str, Maker]:
    """The children's trendable figures straight over the rows (one figure, twelve windows)."""
    closed = _C.status == _q("closed")
    m: dict[str, Maker] = {
        # Active at the end of the window: registered before it ended and not closed before.
        # A record reopened since counts from its registration.
        "children.active": lambda w: _n(
            _C.created_at < w.end, or_(_C.status == _q("active"), _C.closed_at >= w.end)
        ),
        "children.new": lambda w: _n(w.has(_C.created_at)),
        "children.closed": lambda w: _n(closed, w.has(_C.closed_at)),
    }
    for reason in ClosedReason:
        m[f"children.closed.{reason.value}"] = lambda w, r=reason.value: _n(  # type: ignore[misc]
            closed, w.has(_C.closed_at), _C.closed_reason == _q(r)
        )
    return m


# --- visits made: the rollups, and the rows of partial months -----------------------------


def _visit_rows(area: Scope, params: Params) -> Any:
    """(area, kind, day, n) of the visits in the windows' span. Counties and above read the
    county-day rollup; townships, villages and breakdowns below the county the village-month
    rollup for whole months and the visits themselves for the days of partial months."""
    if len(area.area_code) <= 6 and all(n <= 6 for n in params.lengths):
        return (
            select(
                _DAYS.county_code.label("area"),
                _DAYS.kind.label("kind"),
                _DAYS.day.label("day"),
                _DAYS.visits.label("n"),
            )
            .where(
                _scoped(area, _DAYS.county_code, _DAYS.county_code),
                _DAYS.day >= bindparam("d0", type_=Date),
                _DAYS.day < bindparam("d_end", type_=Date),
            )
            .subquery("counted")
        )
    months = select(
        _MONTHS.area_code.label("area"),
        _MONTHS.kind.label("kind"),
        _MONTHS.month.label("day"),
        _MONTHS.visits.label("n"),
    ).where(
        _scoped(area, _MONTHS.area_code, _MONTHS.county_code),
        _MONTHS.month >= bindparam("m_lo", type_=Date),
        _MONTHS.month < bindparam("m_hi", type_=Date),
    )
    at = _V.visited_at
    edges = [
        select(
            _V.area_code,
            _V.kind,
            func.date(func.timezone(_q("Asia/Shanghai"), at)),
            _lit("1"),
        ).where(_scoped(area, _V.area_code, _V.county_code), _V.is_current, *span)
        for span in _EDGES
    ]
    return union_all(months, *edges).subquery("counted")


# The days of the partial months at either end of the windows' span, as two ranges (one
# statement each in a UNION ALL: an OR of the two would read the area's visits of every day).
_EDGES = (
    (_V.visited_at >= bindparam("w0"), _V.visited_at < bindparam("mt_lo")),
    (_V.visited_at >= bindparam("mt_hi"), _V.visited_at < bindparam("w_end")),
)


def _visit_makers(v: Any) -> dict[str, Maker]:
    def total(*conds: Any) -> Maker:
        return lambda w: func.coalesce(func.sum(v.n).filter(w.has_day(v.day), *conds), 0).cast(
            BigInteger
        )

    m: dict[str, Maker] = {"visits.made": total()}
    for k in VisitKind:
        m[f"visits.made.{k.value}"] = total(v.kind == _q(k.value))
    return m


# --- agreements, reports ------------------------------------------------------------------


def _agreement_makers() -> dict[str, Maker]:
    return {
        "agreements.active": lambda w: func.count(),
        "agreements.expiring": lambda w: _n(_A.ends_on <= bindparam("soon", type_=Date)),
    }


def _report_makers() -> dict[str, Maker]:
    now: Any = bindparam("now")
    accepted = _R.accepted_at.is_not(None)
    deadline = _R.first_referral_deadline

    def n(*conds: Any) -> Maker:
        return lambda w: _n(w.has(_R.created_at), *conds)

    m: dict[str, Maker] = {"reports.filed": n()}
    for s in ReportSituation:
        m[f"reports.situation.{s.value}"] = n(_R.situation == _q(s.value))
    for st in ReportStatus:
        m[f"reports.status.{st.value}"] = n(_R.status == _q(st.value))
    m["reports.accepted"] = n(accepted)
    m["reports.accept_due"] = n(or_(accepted, _R.accept_deadline < now))
    m["reports.accepted_in_time"] = n(_R.accepted_at <= _R.accept_deadline)
    m["reports.referral_due"] = n(
        or_(
            _R.first_referral_at.is_not(None),
            and_(deadline < now, or_(_R.closed_at.is_(None), _R.closed_at > deadline)),
        )
    )
    m["reports.referred_in_time"] = n(_R.first_referral_at <= deadline)
    hours = extract("epoch", _R.accepted_at - _R.created_at) / 3600
    m["reports.median_hours_to_acceptance"] = lambda w: (
        func.percentile_cont(0.5).within_group(hours).filter(w.has(_R.created_at), accepted)
    )
    return m


# --- care work ----------------------------------------------------------------------------


def _care_makers(area: Scope) -> dict[str, Maker]:
    """Over active children: whether each is among the children of the area's active
    pairings and open cases (each set read once and hashed; a probe of the pairings' and
    cases' child indexes per child cost 70 ms for a 50,000-child county even with no pairing
    at all). A pairing or case moves with its child (services/children/transfer.py), so the
    area's own are the ones of its children."""
    paired = _C.id.in_(
        select(_P.child_id).where(
            _scoped(area, _P.area_code, _P.county_code), _P.status == _q("active")
        )
    )
    open_case = _C.id.in_(
        select(_CS.child_id).where(
            _scoped(area, _CS.area_code, _CS.county_code), _CS.status == _q("open")
        )
    )
    urgent = _C.risk_level.in_([_q("orange"), _q("red")])
    red = _C.risk_level == _q("red")
    return {
        "care.pairing_needed": lambda w: _n(urgent),
        "care.paired": lambda w: _n(urgent, paired),
        "care.red": lambda w: _n(red),
        "care.red_intervened": lambda w: _n(red, open_case),
        "care.pairings_active": lambda w: _n(paired),
    }


def _measure_kind(kind: str) -> Maker:
    return lambda w: _n(w.has_day(_M.done_on), _M.kind == _q(kind))


def _duty_kind(kind: str) -> Maker:
    return lambda w: _n(_D.kind == _q(kind))


def _measure_makers() -> dict[str, Maker]:
    m: dict[str, Maker] = {"measures.done": lambda w: _n(w.has_day(_M.done_on))}
    for k in MeasureKind:
        m[f"measures.done.{k.value}"] = _measure_kind(k.value)
    return m


def _duty_makers() -> dict[str, Maker]:
    m: dict[str, Maker] = {
        "duties.open": lambda w: func.count(),
        "duties.overdue": lambda w: _n(_D.due_at <= bindparam("now")),
    }
    for d in DutyKind:
        m[f"duties.open.{d.value}"] = _duty_kind(d.value)
    return m


# --- category decisions, removals, payments, children visited -------------------------------


def _granted(category: str | None) -> Maker:
    if category is None:
        return lambda w: _n(w.has(_CA.decided_at))
    return lambda w: _n(w.has(_CA.decided_at), _CA.category == _q(category))


def _decision_makers() -> dict[str, Maker]:
    m: dict[str, Maker] = {"decisions.granted": _granted(None)}
    for c in BenefitCategory:
        m[f"decisions.granted.{c.value}"] = _granted(c.value)
    return m


def _removed(column: Any, value: str) -> Maker:
    return lambda w: _n(w.has_day(_CR.removed_on), column == _q(value))


def _removal_makers() -> dict[str, Maker]:
    m: dict[str, Maker] = {"removals.total": lambda w: _n(w.has_day(_CR.removed_on))}
    for c in BenefitCategory:
        m[f"removals.category.{c.value}"] = _removed(_CR.category, c.value)
    for r in RemovalReason:
        m[f"removals.reason.{r.value}"] = _removed(_CR.reason, r.value)
    return m


# A monthly payment counts on the first day of its month, a one-off on the day it was paid.
_PAID_DAY = func.coalesce(_BP.paid_on, _BP.month)


def _paid(kind: str | None, amount: bool) -> Maker:
    def make(w: Window) -> Any:
        conds = [w.has_day(_PAID_DAY)]
        if kind is not None:
            conds.append(_BP.kind == _q(kind))
        if amount:
            return func.coalesce(func.sum(_BP.amount).filter(and_(*conds)), 0)
        return func.count(_BP.child_id.distinct()).filter(and_(*conds))

    return make


def _payment_makers() -> dict[str, Maker]:
    m: dict[str, Maker] = {
        "payments.recipients": _paid(None, False),
        "payments.amount": _paid(None, True),
    }
    for k in PaymentKind:
        m[f"payments.recipients.{k.value}"] = _paid(k.value, False)
        m[f"payments.amount.{k.value}"] = _paid(k.value, True)
    return m


_VISITOR_ROLES = ("village_director", "township_supervisor", "county_officer")


def _visited_rows(area: Scope, params: Params) -> Any:
    """A trend's children visited: one row per child visited in the twelve months' span
    (current versions of visits) saying whether it was visited in each month (`v<i>`).
    Folding the visits per child first keeps "distinct children" a plain count (a DISTINCT
    aggregate per figure would sort the visits once per figure)."""
    at = _V.visited_at
    cols: list[Any] = [_V.child_id.label("child_id"), _V.area_code.label("area")]
    for i in range(params.windows):
        cols.append(func.bool_or(Window(i).has(at)).label(f"v{i}"))
    return (
        select(*cols)
        .where(
            # ix_visits_stats_visited: an index-only read of the area's visits in the span.
            _scoped(area, _V.area_code, _V.county_code),
            _V.is_current,
            at >= bindparam("w0"),
            at < bindparam("w_end"),
        )
        .group_by(_V.child_id, _V.area_code)
        .subquery("visited")
    )


def _visited_makers(rows: Any) -> dict[str, Maker]:
    def children(*cond: Any) -> Maker:
        return lambda w: _n(rows[f"v{w.i}"], *cond)

    m: dict[str, Maker] = {"visited.children": children()}
    for c in Category:
        m[f"visited.category.{c.value}"] = children(_has_category(_C.categories, c.value))
    for r in RiskLevel:
        m[f"visited.risk.{r.value}"] = children(_C.risk_level == _q(r.value))
    return m


def _visited_combos(area: Scope, key_length: int) -> Any:
    """The children visited in the period (one window) without reading its visits: a child
    was visited in [w0, w_end) when its latest current visit (`stats_visited_at`, kept by the
    visits' trigger) lies in it, or lies later and one of its current visits lies in it (an
    index probe, for the few children visited since the period ended; most of them for a past
    period). One index-only pass over the area's range of `ix_children_stats`, folded into
    the combinations of level and categories (as `_children_combos`)."""
    latest = _C.stats_visited_at
    at = _V.visited_at
    start: Any = bindparam("w0")
    end: Any = bindparam("w_end")
    probe = select(_V.id).where(_V.child_id == _C.id, _V.is_current, at >= start, at < end).exists()
    dims = [_C.risk_level.label("risk_level"), _C.categories.label("categories")]
    if key_length:
        dims.insert(0, func.left(_C.area_code, _lit(str(key_length))).label("k"))
    return (
        select(*dims, func.count().label("n"))
        .where(
            _scoped(area, _C.area_code, _C.county_code),
            latest >= start,
            or_(latest < end, probe),
        )
        .group_by(*(d.element for d in dims))
        .subquery("visited_combos")
    )


def _visited_combo_makers(c: Any) -> dict[str, Maker]:
    def total(*conds: Any) -> Maker:
        if not conds:
            return lambda w: func.coalesce(func.sum(c.n), 0).cast(BigInteger)
        return lambda w: func.coalesce(func.sum(c.n).filter(and_(*conds)), 0).cast(BigInteger)

    m: dict[str, Maker] = {"visited.children": total()}
    for cat in Category:
        m[f"visited.category.{cat.value}"] = total(_has_category(c.categories, cat.value))
    for r in RiskLevel:
        m[f"visited.risk.{r.value}"] = total(c.risk_level == _q(r.value))
    return m


def _visitor_rows(area: Scope) -> Any:
    """(area, visitor, n) of the visits of the period (one window): the village-month rollup
    for its whole months, the visits themselves for the days of its partial months (as
    `_visit_rows` below the county)."""
    months = select(
        _MONTHS.area_code.label("area"),
        _MONTHS.visitor_id.label("visitor_id"),
        _MONTHS.visits.label("n"),
    ).where(
        _scoped(area, _MONTHS.area_code, _MONTHS.county_code),
        _MONTHS.month >= bindparam("m_lo", type_=Date),
        _MONTHS.month < bindparam("m_hi", type_=Date),
    )
    edges = [
        select(_V.area_code, _V.visitor_id, _lit("1")).where(
            _scoped(area, _V.area_code, _V.county_code), _V.is_current, *span
        )
        for span in _EDGES
    ]
    return union_all(months, *edges).subquery("by_visitor")


def _visitor_makers(n: Any, trend: bool) -> dict[str, Maker]:
    """Visits by the role their visitor has now."""

    def visits(role: str) -> Maker:
        if trend:
            return lambda w: _n(w.has(_V.visited_at), _U.role == _q(role))
        return lambda w: func.coalesce(func.sum(n).filter(_U.role == _q(role)), 0).cast(BigInteger)

    return {f"visitors.{role}": visits(role) for role in _VISITOR_ROLES}


# --- workforce ----------------------------------------------------------------------------


def _of_counties(area: Scope, county_col: Any) -> Any:
    """The area's counties as constants: with parameters, the planner's generic plan (taken
    after five runs of a prepared statement) guesses the range's size and looks up every
    named child of the province one by one (a village's summary went from 20 ms to 1.5 s).
    Statements using it are built per county (queries.run's key)."""
    lo, hi = county_range(area.area_code)
    if not lo:
        return _lit("true")
    if not (lo.isdigit() and hi[:-1].isdigit()):
        raise ValueError(f"not an area code: {area.area_code!r}")
    return and_(county_col >= _q(lo), county_col < _q(hi))


def _trained(area: Scope, w: Window) -> Any:
    """The staff of the `training` activities of the area's counties held in the window (one
    hashed set; the county-held-kind index finds the activities)."""
    return select(func.unnest(_ACT.staff_ids)).where(
        _of_counties(area, _ACT.county_code),
        w.has_day(_ACT.held_on),
        _ACT.kind == _q(ActivityKind.training.value),
    )


def _user_makers(area: Scope) -> dict[str, Maker]:
    frontline = _U.role.in_([_q(Role.village_director.value), _q(Role.township_supervisor.value)])
    m: dict[str, Maker] = {
        "workforce.village_directors": lambda w: _n(_U.role == _q(Role.village_director.value)),
        "workforce.township_supervisors": lambda w: _n(
            _U.role == _q(Role.township_supervisor.value)
        ),
        "training.staff": lambda w: _n(frontline),
        "training.trained": lambda w: _n(frontline, _U.id.in_(_trained(area, w))),
        "staff.qualified": lambda w: _n(_U.qualifications != _lit("'{}'::varchar[]")),
    }
    for q in Qualification:
        m[f"staff.qualified.{q.value}"] = lambda w, v=q.value: _n(  # type: ignore[misc]
            _U.qualifications.op("@>")(_lit(f"ARRAY['{v}']::varchar[]"))
        )
    return m


# --- care activities and sites ------------------------------------------------------------


def _activity_makers() -> dict[str, Maker]:
    def total(column: Any, *conds: Any) -> Maker:
        return lambda w: func.coalesce(
            func.sum(column).filter(w.has_day(_ACT.held_on), *conds), 0
        ).cast(BigInteger)

    def sessions(*conds: Any) -> Maker:
        return lambda w: _n(w.has_day(_ACT.held_on), *conds)

    m: dict[str, Maker] = {
        "activities.sessions": sessions(),
        "activities.participants": total(_ACT.participants),
        "activities.children_served": total(_ACT.children_served),
        "activities.amount": lambda w: func.coalesce(
            func.sum(_ACT.amount).filter(w.has_day(_ACT.held_on)), 0
        ),
    }
    for k in ActivityKind:
        kind = _ACT.kind == _q(k.value)
        m[f"activities.sessions.{k.value}"] = sessions(kind)
        m[f"activities.participants.{k.value}"] = total(_ACT.participants, kind)
        m[f"activities.children_served.{k.value}"] = total(_ACT.children_served, kind)
    return m


def _activity_combos(area: Scope, key_length: int) -> Any:
    """The period's activities folded by area (at the finest grouping asked for) and kind:
    the figures are then sums over a few rows per area instead of forty filters per
    activity (a province's year is some 300,000 activities)."""
    dims = [_ACT.kind.label("kind")]
    if key_length:
        dims.insert(0, func.left(_ACT.area_code, _lit(str(key_length))).label("k"))
    return (
        select(
            *dims,
            func.count().label("n"),
            func.sum(_ACT.participants).label("participants"),
            func.sum(_ACT.children_served).label("children_served"),
            func.sum(_ACT.amount).label("amount"),
        )
        .where(
            _scoped(area, _ACT.area_code, _ACT.county_code),
            _ACT.held_on >= bindparam("d0", type_=Date),
            _ACT.held_on < bindparam("d_end", type_=Date),
        )
        .group_by(*(d.element for d in dims))
        .subquery("activity_combos")
    )


def _activity_combo_makers(c: Any) -> dict[str, Maker]:
    def total(column: Any, *conds: Any) -> Maker:
        if not conds:
            return lambda w: func.coalesce(func.sum(column), 0).cast(BigInteger)
        return lambda w: func.coalesce(func.sum(column).filter(*conds), 0).cast(BigInteger)

    m: dict[str, Maker] = {
        "activities.sessions": total(c.n),
        "activities.participants": total(c.participants),
        "activities.children_served": total(c.children_served),
        "activities.amount": lambda w: func.coalesce(func.sum(c.amount), 0),
    }
    for k in ActivityKind:
        kind = c.kind == _q(k.value)
        m[f"activities.sessions.{k.value}"] = total(c.n, kind)
        m[f"activities.participants.{k.value}"] = total(c.participants, kind)
        m[f"activities.children_served.{k.value}"] = total(c.children_served, kind)
    return m


def _reached(area: Scope) -> Any:
    """The children named by the activities of the area's counties held in the period."""
    return select(func.unnest(_ACT.child_ids)).where(
        _of_counties(area, _ACT.county_code),
        _ACT.held_on >= bindparam("d0", type_=Date),
        _ACT.held_on < bindparam("d_end", type_=Date),
        _ACT.child_ids != _lit("'{}'::uuid[]"),
    )


def _reach_source(params: Params) -> Source:
    """Distinct children named by an activity of their county in the period, counted where
    each child is registered. Down to counties (a county, a city, the province, by county or
    city) a child of an activity's county is counted in that county without reading the
    children (the named ids of each county, made distinct); below, the named ids are looked up
    in the area's children to find their villages."""
    reached: Maker = lambda w: func.count()  # noqa: E731
    if len(params.area.area_code) <= 6 and all(n <= 6 for n in params.lengths):
        named = (
            select(
                _ACT.county_code.label("county_code"),
                func.unnest(_ACT.child_ids).label("child_id"),
            )
            .where(
                _scoped(params.area, _ACT.area_code, _ACT.county_code),
                _ACT.held_on >= bindparam("d0", type_=Date),
                _ACT.held_on < bindparam("d_end", type_=Date),
                _ACT.child_ids != _lit("'{}'::uuid[]"),
            )
            .distinct()
            .subquery("named")
        )
        return Source(named, [], named.c.county_code, {"activities.children_reached": reached})
    where = [_scoped(params.area, _C.area_code, _C.county_code), _C.id.in_(_reached(params.area))]
    return Source(Child.__table__, where, _C.area_code, {"activities.children_reached": reached})  # type: ignore[attr-defined]


def _site_makers() -> dict[str, Maker]:
    m: dict[str, Maker] = {"sites.open": lambda w: func.count()}
    for k in SiteKind:
        m[f"sites.open.{k.value}"] = lambda w, v=k.value: _n(_SITE.kind == _q(v))  # type: ignore[misc]
    return m


def _village_makers() -> dict[str, Maker]:
    director = exists().where(
        _U.area_code == _AREA.code,
        _U.role == _q(Role.village_director.value),
        _U.is_active,
    )
    return {
        "workforce.villages": lambda w: func.count(),
        "workforce.villages_without_director": lambda w: _n(~director),
    }


# --- subsidies ----------------------------------------------------------------------------

_GRANT = func.jsonb_array_elements(_C.subsidies).table_valued(column("value", JSONB)).alias("grant")
# The grant's fields as PUT /children/{id}/subsidies stores them (dates as ISO strings, which
# compare as dates); anything else found there is left out rather than failing the figure.
_KIND = _lit("\"grant\".value ->> 'kind'")
_AMOUNT = _lit(
    "CASE WHEN jsonb_typeof(\"grant\".value -> 'monthly_amount') = 'number' "
    "THEN (\"grant\".value ->> 'monthly_amount')::numeric END"
)


def _grants() -> Any:
    """Per child, its running grants folded into one row: whether it receives each kind and
    how much (a child counts once per kind even if its grants of a kind overlapped)."""
    kinds = list(SubsidyKind)
    columns = [func.count().label("n"), func.sum(_AMOUNT).label("amount")]
    for i, k in enumerate(kinds):
        is_kind = _KIND == _q(k.value)
        columns += [
            func.bool_or(is_kind).label(f"has_{i}"),
            func.sum(_AMOUNT).filter(is_kind).label(f"amount_{i}"),
        ]
    return select(*columns).select_from(_GRANT).where(*_running_grant()).lateral("grants")


def _subsidy_makers(g: Any) -> dict[str, Maker]:
    m: dict[str, Maker] = {
        "subsidies.children": lambda w: func.count(),
        "subsidies.monthly_total": lambda w: func.coalesce(func.sum(g.amount), 0),
    }
    for i, k in enumerate(SubsidyKind):
        has, amount = g[f"has_{i}"], g[f"amount_{i}"]
        m[f"subsidies.children.{k.value}"] = lambda w, f=has: func.count().filter(f)  # type: ignore[misc]
        m[f"subsidies.monthly_total.{k.value}"] = lambda w, a=amount: func.coalesce(  # type: ignore[misc]
            func.sum(a), 0
        )
    return m


def _running_grant() -> list[Any]:
    today = bindparam("today_iso", type_=String)
    return [
        or_(
            _lit("jsonb_typeof(\"grant\".value -> 'from') IS DISTINCT FROM 'string'"),
            _lit("\"grant\".value ->> 'from'") <= today,
        ),
        or_(
            _lit("jsonb_typeof(\"grant\".value -> 'to') IS DISTINCT FROM 'string'"),
            _lit("\"grant\".value ->> 'to'") >= today,
        ),
    ]


# --- the statements -----------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A group's rows for one computation: FROM, WHERE, the area column to group by, and the
    makers of its figures."""

    frm: Any
    where: list[Any]
    key: Any
    makers: dict[str, Maker]


def _source(group: str, params: Params, trend: bool) -> Source:
    area = params.area
    if group == "children" and trend:
        where = [_scoped(area, _C.area_code, _C.county_code)]
        return Source(Child.__table__, where, _C.area_code, _children_trend_makers())  # type: ignore[attr-defined]
    if group == "children":
        combos = _children_combos(area, max(params.lengths, default=0))
        key = combos.c.k if params.lengths else None
        return Source(combos, [], key, _children_makers(combos.c))
    if group == "visits":
        counted = _visit_rows(area, params)
        return Source(counted, [], counted.c.area, _visit_makers(counted.c))
    if group == "agreements":
        where = [
            _scoped(area, _A.area_code, _A.county_code),
            _A.status == _q("active"),
            _A.ends_on >= bindparam("today", type_=Date),
        ]
        return Source(Agreement.__table__, where, _A.area_code, _agreement_makers())  # type: ignore[attr-defined]
    if group == "reports":
        span = and_(_R.created_at >= bindparam("w0"), _R.created_at < bindparam("w_end"))
        where = [_scoped(area, _R.area_code, _R.county_code), span]
        return Source(Report.__table__, where, _R.area_code, _report_makers())  # type: ignore[attr-defined]
    if group == "users":
        where = [_scoped(area, _U.area_code), _U.is_active]
        return Source(User.__table__, where, _U.area_code, _user_makers(area))  # type: ignore[attr-defined]
    if group == "villages":
        where = [_scoped(area, _AREA.code), _AREA.level == _q("village")]
        return Source(Area.__table__, where, _AREA.code, _village_makers())  # type: ignore[attr-defined]
    if group == "subsidies":
        grants = _grants()
        where = [
            _scoped(area, _C.area_code, _C.county_code),
            _C.status == _q("active"),
            _C.subsidies != _lit("'[]'::jsonb"),
            grants.c.n > 0,
        ]
        frm = Child.__table__.join(grants, _lit("true"))  # type: ignore[attr-defined]
        return Source(frm, where, _C.area_code, _subsidy_makers(grants.c))
    if group == "care":
        where = [_scoped(area, _C.area_code, _C.county_code), _C.status == _q("active")]
        return Source(Child.__table__, where, _C.area_code, _care_makers(area))  # type: ignore[attr-defined]
    if group == "cases":
        where = [_scoped(area, _CS.area_code, _CS.county_code), _CS.status == _q("open")]
        return Source(Case.__table__, where, _CS.area_code, {"cases.open": lambda w: func.count()})  # type: ignore[attr-defined]
    if group == "measures":
        where = [
            _scoped(area, _M.area_code, _M.county_code),
            _M.status == _q("done"),
            _M.done_on >= bindparam("d0", type_=Date),
        ]
        return Source(CaseMeasure.__table__, where, _M.area_code, _measure_makers())  # type: ignore[attr-defined]
    if group == "duties":
        where = [_scoped(area, _D.area_code, _D.county_code), _D.met_at.is_(None)]
        return Source(ChildDuty.__table__, where, _D.area_code, _duty_makers())  # type: ignore[attr-defined]
    if group == "decisions":
        # Grants decided in the period (a county's approval or its officer's registration),
        # not the categories recorded as held before decisions were.
        where = [
            _scoped(area, _CA.area_code, _CA.county_code),
            _CA.status == _q("approved"),
            _CA.source != _q("pre_existing"),
            _CA.decided_at >= bindparam("w0"),
        ]
        return Source(CategoryApplication.__table__, where, _CA.area_code, _decision_makers())  # type: ignore[attr-defined]
    if group == "removals":
        where = [
            _scoped(area, _CR.area_code, _CR.county_code),
            _CR.removed_on >= bindparam("d0", type_=Date),
        ]
        return Source(CategoryRemoval.__table__, where, _CR.area_code, _removal_makers())  # type: ignore[attr-defined]
    if group == "payments":
        where = [
            _scoped(area, _BP.area_code, _BP.county_code),
            # The month index bounds the scan; the makers count by the day paid.
            _BP.month >= func.date_trunc("month", bindparam("d0", type_=Date)).cast(Date),
            _BP.month < bindparam("d_end", type_=Date),
        ]
        return Source(BenefitPayment.__table__, where, _BP.area_code, _payment_makers())  # type: ignore[attr-defined]
    if group == "visited" and not trend:
        combos = _visited_combos(area, max(params.lengths, default=0))
        key = combos.c.k if params.lengths else None
        return Source(combos, [], key, _visited_combo_makers(combos.c))
    if group == "visited":
        # The children as they are now (category, risk level).
        rows = _visited_rows(area, params)
        frm = rows.join(Child.__table__, _C.id == rows.c.child_id)  # type: ignore[attr-defined]
        # The area's filter on the children too: an index-only read of their range.
        where = [_scoped(area, _C.area_code, _C.county_code)]
        return Source(frm, where, rows.c.area, _visited_makers(rows.c))
    users = User.__table__  # type: ignore[attr-defined]
    if group == "visitors" and not trend:
        counted = _visitor_rows(area)
        frm = counted.join(users, _U.id == counted.c.visitor_id)
        return Source(frm, [], counted.c.area, _visitor_makers(counted.c.n, False))
    if group == "visitors":
        frm = Visit.__table__.join(users, _U.id == _V.visitor_id)  # type: ignore[attr-defined]
        where = [
            _scoped(area, _V.area_code, _V.county_code),
            _V.is_current,
            _V.visited_at >= bindparam("w0"),
            _V.visited_at < bindparam("w_end"),
        ]
        return Source(frm, where, _V.area_code, _visitor_makers(None, True))
    if group == "activities" and not trend:
        combos = _activity_combos(area, max(params.lengths, default=0))
        key = combos.c.k if params.lengths else None
        return Source(combos, [], key, _activity_combo_makers(combos.c))
    if group == "activities":
        where = [
            _scoped(area, _ACT.area_code, _ACT.county_code),
            _ACT.held_on >= bindparam("d0", type_=Date),
            _ACT.held_on < bindparam("d_end", type_=Date),
        ]
        return Source(Activity.__table__, where, _ACT.area_code, _activity_makers())  # type: ignore[attr-defined]
    if group == "reach":
        return _reach_source(params)
    if group == "sites":
        where = [_scoped(area, _SITE.area_code, _SITE.county_code), _SITE.status == _q("open")]
        return Source(Site.__table__, where, _SITE.area_code, _site_makers())  # type: ignore[attr-defined]
    raise ValueError(group)


def statement(
    group: str, params: Params, wanted: Sequence[str] | None, trend: bool = False
) -> tuple[Select[Any], list[str]]:
    """SELECT <one key per grouping length>, <one aggregate per figure and window> FROM the
    group's rows GROUP BY GROUPING SETS ((key per length)..., ()). Answers the statement and
    the names of its figure columns (`metric`, or `metric@i` for window i of a trend)."""
    src = _source(group, params, trend)
    names = [n for n in src.makers if wanted is None or n in wanted]
    windows = range(params.windows) if trend else range(1)
    columns = [
        (f"{n}@{i}" if trend else n, src.makers[n](Window(i))) for n in names for i in windows
    ]
    keys = [func.left(src.key, _lit(str(n))) for n in params.lengths]
    stmt = select(*keys, *(c for _, c in columns)).select_from(src.frm).where(*src.where)
    if keys:
        stmt = stmt.group_by(func.grouping_sets(*(tuple_(k) for k in keys), tuple_()))
    return stmt, [name for name, _ in columns]


# The children's combinations are grouped in memory (a hash aggregate) rather than sorted:
# the planner cannot know that 50,000 children make a few hundred combinations, and with the
# default work_mem it sorts them, four times slower. For this transaction only.
WORK_MEM = text("SET LOCAL work_mem = '64MB'")


# Every statement planned for its own parameters: after five runs of a prepared statement
# PostgreSQL may switch to a generic plan, which for the children reached guesses an area of
# any size and looks the county's named children up one by one (a village's summary went from
# 20 ms to 1.5 s). Planning these statements costs a millisecond or two.
CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")


async def prepare(session: AsyncSession) -> None:
    await session.execute(WORK_MEM)
    await session.execute(CUSTOM_PLANS)


# Statements built on first use, per shape (building one costs more than running it).
_STATEMENTS: dict[tuple[Any, ...], tuple[Select[Any], list[str]]] = {}


def _number(value: Any) -> float | int | None:
    if value is None or isinstance(value, int):
        return value
    return float(value)


async def run(
    session: AsyncSession,
    group: str,
    params: Params,
    wanted: Sequence[str] | None = None,
    trend: bool = False,
) -> Rows:
    """Execute one group's statement; answer its figures per row. `wanted`: the metrics to
    compute (None: all of the group's)."""
    key = (
        group,
        scope_filter(params.area, _C.area_code, _C.county_code).shape,
        scope_filter(params.area, _C.area_code).shape,
        len(params.area.area_code) <= 6,
        params.lengths,
        tuple(wanted) if wanted is not None else None,
        params.windows if trend else 0,
        county_range(params.area.area_code) if group in ("users", "reach") else None,
    )
    built = _STATEMENTS.get(key)
    if built is None:
        built = _STATEMENTS[key] = statement(group, params, wanted, trend)
    stmt, names = built
    result = await session.execute(stmt, params.values())
    rows: Rows = {}
    k = len(params.lengths)
    for row in result:
        found = next(
            ((n, row[i]) for i, n in enumerate(params.lengths) if row[i] is not None), None
        )
        rows[found or (0, params.area.area_code)] = {
            name: _number(row[k + j]) for j, name in enumerate(names)
        }
    return rows


TREND_GROUPS = ("children", "visits", "reports", "activities")
