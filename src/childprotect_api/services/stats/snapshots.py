"""County snapshots (models/stats.py): what a city or province figure adds up instead of
reading every child of the province.

A snapshot holds a county's figures of the groups that do not depend on the period (children
by category and risk level, visit coverage, agreement coverage and counts, subsidies; the care
work's pairing and intervention coverage, open cases and open duties; open sites), as of when
it was computed, and the days its children were
registered and closed, from which any period's registrations and closings (and the trend of
active children) are summed exactly as of that moment. A periodic job recomputes every county
(`refresh`, each county through the same statements as a county's own summary); an area
above the county reads the snapshots and computes in the request any county whose snapshot
is missing or older than `MAX_AGE`, or that lacks a figure of these groups (one stored before
the group was added). Visits made, reports, the workforce and the figures of the period
(measures done, decisions, removals, payments, activities) are read live for every area; the
period's distinct children (children visited, children reached) of cities and the province
add up the counties' period entries instead (periods.py, refreshed by the same job)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.models.area import Area
from childprotect_api.models.stats import CountySnapshot
from childprotect_api.security.scope import Scope, in_scope
from childprotect_api.services.stats import queries
from childprotect_api.services.stats.metrics import DEFS
from childprotect_api.services.stats.queries import Figures, Rows

# Groups whose figures are all as of now (services/stats/metrics.py): summed from snapshots.
GROUPS = ("children", "agreements", "subsidies", "care", "cases", "duties", "sites")
INTERVAL_SECONDS = 300.0
MAX_AGE = timedelta(minutes=30)
_LOCK_KEY = 0x43505353  # "CPSS"

_REGISTERED = text(
    """
    SELECT (created_at AT TIME ZONE 'Asia/Shanghai')::date AS day, count(*) AS n
    FROM children WHERE county_code = :county GROUP BY 1
    """
)
_CLOSED = text(
    """
    SELECT (closed_at AT TIME ZONE 'Asia/Shanghai')::date AS day, closed_reason, count(*) AS n
    FROM children WHERE county_code = :county AND status = 'closed' AND closed_at IS NOT NULL
    GROUP BY 1, 2
    """
)

_PERIOD_FIGURES = {n for n, d in DEFS.items() if d.group == "children" and d.period}


def eligible(area: Scope, lengths: Iterable[int]) -> bool:
    """Areas above the county, broken down no further than by county."""
    return len(area.area_code) <= 4 and all(n <= 6 for n in lengths)


def job_scope(county: str) -> Scope:
    return Scope("job", uuid.UUID(int=0), "job", county)


async def compute_county(
    session: AsyncSession, county: str, now: datetime, today: date
) -> CountySnapshot:
    params = queries.Params(job_scope(county), (), [today, today + timedelta(days=1)], now, today)
    figures: Figures = {}
    for group in GROUPS:
        figures.update((await queries.run(session, group, params))[(0, county)])
    for name in _PERIOD_FIGURES:
        figures.pop(name, None)
    registered = {
        r.day.isoformat(): r.n for r in await session.execute(_REGISTERED, {"county": county})
    }
    closed: dict[str, dict[str, int]] = {}
    for r in await session.execute(_CLOSED, {"county": county}):
        closed.setdefault(r.day.isoformat(), {})[r.closed_reason] = r.n
    return CountySnapshot(
        county_code=county, computed_at=now, figures=figures, registered=registered, closed=closed
    )


async def refresh(session: AsyncSession, now: datetime) -> int:
    """Recompute every county's snapshot (the periodic job; one process at a time)."""
    locked = (
        await session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    ).scalar_one()
    if not locked:
        return 0
    from childprotect_api.services.children.rules import CHINA_TZ

    today = now.astimezone(CHINA_TZ).date()
    await queries.prepare(session)
    counties = (
        await session.execute(select(col(Area.code)).where(col(Area.level) == "county"))
    ).scalars()
    done = 0
    for county in list(counties):
        snap = await compute_county(session, county, now, today)
        values = {c: getattr(snap, c) for c in CountySnapshot.model_fields}
        stmt = insert(CountySnapshot).values(**values)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["county_code"],
                set_={c: stmt.excluded[c] for c in values if c != "county_code"},
            )
        )
        done += 1
    return done


async def counties(session: AsyncSession, area: Scope) -> list[str]:
    """The codes of the counties of an area (above the county)."""
    return list(
        (
            await session.execute(
                select(col(Area.code)).where(
                    col(Area.level) == "county", in_scope(area, col(Area.code))
                )
            )
        ).scalars()
    )


async def _snapshots(
    session: AsyncSession, area: Scope, now: datetime, today: date
) -> list[CountySnapshot]:
    counties_ = await counties(session, area)
    stored = {
        s.county_code: s
        for s in (
            await session.execute(
                select(CountySnapshot).where(col(CountySnapshot.county_code).in_(counties_))
            )
        ).scalars()
    }
    out = []
    for county in counties_:
        snap = stored.get(county)
        if snap is None or now - snap.computed_at > MAX_AGE or not _complete(snap):
            snap = await compute_county(session, county, now, today)
        out.append(snap)
    return out


def _complete(snap: CountySnapshot) -> bool:
    """Holds figures of every group (one stored before a group was added does not)."""
    return {DEFS[n].group for n in snap.figures if n in DEFS} >= set(GROUPS)


def _period_figures(snap: CountySnapshot, lo: str, hi: str) -> Figures:
    """Registrations and closings (still closed) on days in [lo, hi)."""
    out: Figures = {n: 0 for n in _PERIOD_FIGURES}
    out["children.new"] = sum(n for day, n in snap.registered.items() if lo <= day < hi)
    for day, reasons in snap.closed.items():
        if lo <= day < hi:
            for reason, n in reasons.items():
                out["children.closed"] = (out["children.closed"] or 0) + n
                key = f"children.closed.{reason}"
                if key in out:
                    out[key] = (out[key] or 0) + n
    return out


def _add(into: Figures, figures: Figures) -> None:
    for name, value in figures.items():
        if name in DEFS and not DEFS[name].additive:
            continue
        into[name] = (into.get(name) or 0) + (value or 0)


async def rows(
    session: AsyncSession, params: queries.Params, groups: Iterable[str]
) -> tuple[Rows, datetime]:
    """The snapshot groups' figures of the area (and of its counties or cities, by
    `params.lengths`), and the moment they are as of (the oldest snapshot used)."""
    wanted = set(groups)
    snaps = await _snapshots(session, params.area, params.now, params.today)
    lo, hi = params.days[0].isoformat(), params.days[-1].isoformat()
    # An area with no county under it (a new city or province) counts zero, not nothing.
    zero = {n: 0 for n, d in DEFS.items() if d.group in wanted and d.additive}
    out: Rows = {(0, params.area.area_code): dict(zero)}
    for snap in snaps:
        figures = {
            n: v for n, v in snap.figures.items() if n not in DEFS or DEFS[n].group in wanted
        }
        if "children" in wanted:
            figures.update(_period_figures(snap, lo, hi))
        keys = [(0, params.area.area_code)]
        keys += [(n, snap.county_code[:n]) for n in params.lengths]
        for key in keys:
            _add(out.setdefault(key, {}), figures)
    oldest = min((s.computed_at for s in snaps), default=params.now)
    return out, min(oldest, params.now)


async def trend_rows(
    session: AsyncSession, params: queries.Params, metric: str
) -> tuple[Rows, datetime]:
    """A children figure per window from the registration and closing days (active at each
    window's end = registered before it - closed before it, as the live trend counts), and
    the moment they are as of (the oldest snapshot used)."""
    snaps = await _snapshots(session, params.area, params.now, params.today)
    bounds = [d.isoformat() for d in params.days]
    totals = [0] * params.windows
    for snap in snaps:
        if metric == "children.active":
            closed = {day: sum(rs.values()) for day, rs in snap.closed.items()}
            for i in range(params.windows):
                totals[i] += _before(snap.registered, bounds[i + 1]) - _before(
                    closed, bounds[i + 1]
                )
            continue
        for i in range(params.windows):
            totals[i] += int(_period_figures(snap, bounds[i], bounds[i + 1]).get(metric) or 0)
    oldest = min((s.computed_at for s in snaps), default=params.now)
    figures: Figures = {f"{metric}@{i}": n for i, n in enumerate(totals)}
    return {(0, params.area.area_code): figures}, min(oldest, params.now)


def _before(by_day: dict[str, Any], end: str) -> int:
    return sum(n for day, n in by_day.items() if day < end)
