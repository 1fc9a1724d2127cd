"""The counties' figures of distinct children per period window (models/stats.py,
`CountyPeriodFigures`): what a city or province figure adds up instead of reading the
province's visits and activities of the period.

Children visited (and the visits by the visitor's role) and children reached by activities
count distinct children, so no daily rollup can sum them over an arbitrary period; but a child
lives in one county, so for an area above the county they are the sums of its counties'
figures of the same period (queries.py counts both per county for counties and above). This
module keeps those per-county figures per window of China days [from, to + 1):
- the periodic job (`refresh`, with the county snapshots) computes every county's figures for
  the periods asked most: the default period (the year so far), this month so far, and the
  twelve month windows of the trend (children visited and visits by the visitor's role;
  children reached have no trend);
- an area above the county reads the entries of its counties for the period asked, and
  computes in the request any county whose entry is missing or older than `MAX_AGE` (each
  county through the same statement as the county's own figures), then stores it (best
  effort, on the primary: a replica answers without storing) for the next request;
- entries older than `MAX_AGE` are of no use to anyone and the job deletes them, so the table
  holds the counties' recent periods only.
The answer's `as_of` is the oldest entry used (as for the snapshots)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from childprotect_api.models.area import Area
from childprotect_api.models.stats import CountyPeriodFigures
from childprotect_api.security.scope import Scope
from childprotect_api.services.stats import queries, snapshots
from childprotect_api.services.stats.metrics import DEFS
from childprotect_api.services.stats.queries import Figures, Rows, month_start, next_month

log = logging.getLogger(__name__)

# The period-dependent groups of distinct children (services/stats/metrics.py).
GROUPS = ("visited", "visitors", "reach")
TRENDABLE_GROUPS = ("visited", "visitors")
MAX_AGE = snapshots.MAX_AGE
# The job recomputes an entry once it is this old: with the job every 5 minutes, entries are
# renewed before a request would have to compute them, and a job run in another process
# finds them fresh (at the province, renewing every entry costs a minute of a core).
REFRESH_AGE = MAX_AGE - 2 * timedelta(seconds=snapshots.INTERVAL_SECONDS)
TREND_MONTHS = 12  # service.TREND_MONTHS (the trend's windows)
_LOCK_KEY = 0x43505350  # "CPSP"

Window = tuple[date, date]  # [from, to + 1)
_Key = tuple[str, str, date, date]  # county, group, from, to + 1


def trend_windows(today: date) -> list[date]:
    """The bounds of the trend's month windows (service.trend_months)."""
    start = month_start(today)
    months = [start]
    for _ in range(TREND_MONTHS - 1):
        months.insert(0, month_start(months[0] - timedelta(days=1)))
    return [*months, next_month(start)]


def asked_most(today: date) -> list[tuple[str, list[date]]]:
    """What the job keeps fresh: (group, window bounds) of the year so far and this month so
    far for every group, and the trend's months for the trendable ones."""
    tomorrow = today + timedelta(days=1)
    periods = [[today.replace(month=1, day=1), tomorrow], [month_start(today), tomorrow]]
    out = [(g, p) for g in GROUPS for p in periods]
    out += [(g, trend_windows(today)) for g in TRENDABLE_GROUPS]
    return out


def _windows(days: list[date]) -> list[Window]:
    return list(itertools.pairwise(days))


def _split(row: Figures, group: str, windows: int, trend: bool) -> list[Figures]:
    """A statement's row as one figures dict per window (zeros where it had no row)."""
    names = [n for n, d in DEFS.items() if d.group == group]
    if not trend:
        return [{n: row.get(n) or 0 for n in names}]
    return [{n: row.get(f"{n}@{i}") or 0 for n in names} for i in range(windows)]


async def _compute(
    session: AsyncSession, county: str, group: str, days: list[date], now: datetime, today: date
) -> list[Figures]:
    """A county's figures of the group for each window (one statement for all of them)."""
    params = queries.Params(snapshots.job_scope(county), (), days, now, today)
    trend = len(days) > 2
    found = await queries.run(session, group, params, trend=trend)
    return _split(found.get((0, county), {}), group, len(days) - 1, trend)


async def _compute_by_county(
    session: AsyncSession, area: Scope, group: str, days: list[date], now: datetime, today: date
) -> dict[str, list[Figures]]:
    """Every county's figures of the area in one statement grouped by county (a first request
    for a period nobody asked: one pass over the area instead of one per county)."""
    params = queries.Params(area, (6,), days, now, today)
    trend = len(days) > 2
    found = await queries.run(session, group, params, trend=trend)
    return {
        code: _split(row, group, len(days) - 1, trend)
        for (n, code), row in found.items()
        if n == 6 and len(code) == 6
    }


async def _stored(
    session: AsyncSession, counties: list[str], group: str, windows: list[Window]
) -> dict[_Key, CountyPeriodFigures]:
    if not counties:
        return {}
    stmt = select(CountyPeriodFigures).where(
        col(CountyPeriodFigures.county_code).in_(counties),
        col(CountyPeriodFigures.figure_group) == group,
        tuple_(col(CountyPeriodFigures.day_from), col(CountyPeriodFigures.day_to)).in_(windows),
    )
    return {
        (e.county_code, e.figure_group, e.day_from, e.day_to): e
        for e in (await session.execute(stmt)).scalars()
    }


async def county_figures(
    session: AsyncSession,
    counties: list[str],
    group: str,
    days: list[date],
    now: datetime,
    today: date,
    max_age: timedelta = MAX_AGE,
    area: Scope | None = None,
) -> tuple[dict[str, list[CountyPeriodFigures]], list[CountyPeriodFigures]]:
    """Each county's entries of the group for the windows of `days` (stored ones not older
    than `max_age`, else computed now), and those computed now (to store). With `area` (the
    counties' area), when most counties lack an entry they are computed in one statement
    over the area grouped by county; else one statement per county that lacks one."""
    windows = _windows(days)
    stored = await _stored(session, counties, group, windows)
    out: dict[str, list[CountyPeriodFigures]] = {}
    fresh: list[CountyPeriodFigures] = []
    kept: dict[str, list[CountyPeriodFigures]] = {}
    for county in counties:
        found = [stored.get((county, group, lo, hi)) for lo, hi in windows]
        kept[county] = [e for e in found if e is not None and now - e.computed_at <= max_age]
    missing = [c for c in counties if len(kept[c]) < len(windows)]
    together: dict[str, list[Figures]] | None = None
    if area is not None and len(missing) > 1 and 2 * len(missing) > len(counties):
        together = await _compute_by_county(session, area, group, days, now, today)
    for county in counties:
        got = kept[county]
        if county in missing:
            if together is None:
                computed = await _compute(session, county, group, days, now, today)
            else:  # a county without a row in the grouped statement counts zero
                computed = together.get(county) or _split({}, group, len(windows), len(days) > 2)
            got = [
                CountyPeriodFigures(
                    county_code=county,
                    figure_group=group,
                    day_from=lo,
                    day_to=hi,
                    computed_at=now,
                    figures=figures,
                )
                for (lo, hi), figures in zip(windows, computed, strict=True)
            ]
            fresh += got
        out[county] = got
    return out, fresh


def _values(entries: Iterable[CountyPeriodFigures]) -> list[dict[str, object]]:
    return [
        {
            "county_code": e.county_code,
            "figure_group": e.figure_group,
            "day_from": e.day_from,
            "day_to": e.day_to,
            "computed_at": e.computed_at,
            "figures": e.figures,
        }
        for e in entries
    ]


def _upsert(entries: list[CountyPeriodFigures]) -> object:
    stmt = insert(CountyPeriodFigures).values(_values(entries))
    t = CountyPeriodFigures.__table__  # type: ignore[attr-defined]
    return stmt.on_conflict_do_update(
        index_elements=["county_code", "figure_group", "day_from", "day_to"],
        set_={"computed_at": stmt.excluded.computed_at, "figures": stmt.excluded.figures},
        # Two requests (or a request and the job) computing the same entry: the later wins.
        where=t.c.computed_at < stmt.excluded.computed_at,
    )


async def store(session: AsyncSession, entries: list[CountyPeriodFigures]) -> None:
    """Keep what a request computed, in a transaction of its own on the session's engine (the
    request's own transaction is a read, always rolled back). Best effort: on a replica, or
    when the write fails, the figures are answered all the same and the job stores them."""
    bind = session.bind
    if not entries or not isinstance(bind, AsyncEngine):
        return
    try:
        async with AsyncSession(bind) as writer:
            await writer.execute(_upsert(entries))  # type: ignore[call-overload]
            await writer.commit()
    except SQLAlchemyError as exc:
        log.warning("statistics: county period figures not stored (%s)", type(exc).__name__)


async def rows(session: AsyncSession, params: queries.Params, group: str) -> tuple[Rows, datetime]:
    """The group's figures of the area (and of its counties or cities, by `params.lengths`)
    for the period, summed over its counties' entries; and the oldest entry's moment."""
    counties = await snapshots.counties(session, params.area)
    found, fresh = await county_figures(
        session, counties, group, params.days, params.now, params.today, area=params.area
    )
    await store(session, fresh)
    # An area with no county under it counts zero, not nothing.
    zero: Figures = {n: 0 for n, d in DEFS.items() if d.group == group}
    root = (0, params.area.area_code)
    out: Rows = {root: dict(zero)}
    oldest = params.now
    for county, entries in found.items():
        for e in entries:
            oldest = min(oldest, e.computed_at)
            keys = [root, *((n, county[:n]) for n in params.lengths)]
            for key in keys:
                into = out.setdefault(key, dict(zero))
                for name, value in e.figures.items():
                    into[name] = (into.get(name) or 0) + (value or 0)
    return out, oldest


async def trend_rows(
    session: AsyncSession, params: queries.Params, metrics: list[str]
) -> tuple[Rows, datetime]:
    """`metric@i` for each window of the trend, summed over the area's counties' entries of
    each month window; and the oldest entry's moment."""
    group = DEFS[metrics[0]].group
    counties = await snapshots.counties(session, params.area)
    found, fresh = await county_figures(
        session, counties, group, params.days, params.now, params.today, area=params.area
    )
    await store(session, fresh)
    figures: Figures = {f"{m}@{i}": 0 for m in metrics for i in range(params.windows)}
    oldest = params.now
    for entries in found.values():
        for i, e in enumerate(entries):
            oldest = min(oldest, e.computed_at)
            for m in metrics:
                figures[f"{m}@{i}"] = (figures[f"{m}@{i}"] or 0) + (e.figures.get(m) or 0)
    return {(0, params.area.area_code): figures}, oldest


async def refresh(session: AsyncSession, now: datetime) -> int:
    """Recompute the counties' entries of the periods asked most that are missing or older
    than `REFRESH_AGE`, and delete the entries too old to be used (the periodic job, with the
    snapshots; one process at a time). Answers the number of entries written."""
    locked = (
        await session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    ).scalar_one()
    if not locked:
        return 0
    from childprotect_api.services.children.rules import CHINA_TZ

    today = now.astimezone(CHINA_TZ).date()
    await queries.prepare(session)
    counties = list(
        (await session.execute(select(col(Area.code)).where(col(Area.level) == "county"))).scalars()
    )
    written = 0
    for group, days in asked_most(today):
        # Windows shared by two periods (this month in January) are found fresh the second
        # time: the first one's entries are written in this transaction.
        _, fresh = await county_figures(
            session, counties, group, days, now, today, max_age=REFRESH_AGE
        )
        for start in range(0, len(fresh), 500):
            await session.execute(_upsert(fresh[start : start + 500]))  # type: ignore[call-overload]
        written += len(fresh)
    await session.execute(
        delete(CountyPeriodFigures).where(col(CountyPeriodFigures.computed_at) < now - MAX_AGE)
    )
    return written
