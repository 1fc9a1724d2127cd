"""City and province figures of distinct children in the period (children visited, visits by
the visitor's role, children reached by activities) add up the counties' period entries
(services/stats/periods.py): kept fresh by the snapshot job for the periods asked most,
computed in the request (and stored) for a county whose entry is missing or too old."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from childprotect_api.models.base import utcnow
from childprotect_api.models.stats import CountyPeriodFigures
from childprotect_api.services.children.rules import today as china_today
from childprotect_api.services.periodic import periodic_jobs, run_job_once
from childprotect_api.services.stats import periods as stats_periods
from childprotect_api.services.stats import snapshots as stats_snapshots
from childprotect_api.services.stats.metrics import DEFS, METRICS
from tests.activities.test_activity_stats import _arrange_activities
from tests.conftest import COUNTY, COUNTY_OTHER, VILLAGE_OTHER_COUNTY
from tests.stats import stats_support as data

PROVINCE = "62"
CITY = "6207"
PERIOD_METRICS = [m for m in METRICS if DEFS[m].group in stats_periods.GROUPS]


@pytest.fixture
async def county(client, session, settings, world):  # type: ignore[no-untyped-def]
    await data.build(session, settings, world)
    await _arrange_activities(client, world, session, settings)
    return world


async def _refresh(session: Any) -> int:
    now = utcnow()
    await stats_snapshots.refresh(session, now)
    done = await stats_periods.refresh(session, now)
    await session.commit()
    return done


async def _entries(session: Any) -> list[CountyPeriodFigures]:
    session.expire_all()
    return list((await session.execute(select(CountyPeriodFigures))).scalars().all())


async def _live(client: Any, admin: Any, **period: str) -> dict[str, dict[str, Any]]:
    """Each county's own (live) figures of the period groups."""
    return {
        code: (
            await data.get(
                client,
                admin,
                "breakdown",
                area=code,
                by="township",
                metric=PERIOD_METRICS,
                **period,
            )
        )["total"]["values"]
        for code in (COUNTY, COUNTY_OTHER)
    }


def _as_of(body: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(body["as_of"].replace("Z", "+00:00"))


@pytest.mark.parametrize("refreshed", [True, False], ids=["from the job", "in the request"])
async def test_cities_and_the_province_add_up_their_counties(client, county, session, refreshed):
    if refreshed:
        assert await _refresh(session) > 0
    admin = county["admin"]
    live = await _live(client, admin, **data.period())
    assert live[COUNTY]["visited.children"] == 6  # a1 a2 a4 b1 b2 c1 (stats_support)
    assert live[COUNTY]["activities.children_reached"] == 5
    assert live[COUNTY_OTHER]["visited.children"] == 1
    assert live[COUNTY_OTHER]["activities.children_reached"] == 1
    for area in (PROVINCE, CITY):
        body = await data.get(client, admin, "breakdown", area=area, by="county",
                              metric=PERIOD_METRICS, **data.period())  # fmt: skip
        rows = {r["area_code"]: r["values"] for r in body["rows"]}
        assert rows == live  # each county's row is its live figures
        for m in PERIOD_METRICS:
            assert body["total"]["values"][m] == sum(v[m] for v in live.values()), (area, m)
    by_city = await data.get(client, admin, "breakdown", area=PROVINCE, by="city",
                             metric=PERIOD_METRICS, **data.period())  # fmt: skip
    city = {r["area_code"]: r["values"] for r in by_city["rows"]}[CITY]
    for m in PERIOD_METRICS:
        assert city[m] == sum(v[m] for v in live.values()), m
    summary = await data.get(client, admin, "summary", area=PROVINCE, **data.period())
    assert summary["visited"]["children"] == 7
    assert summary["activities"]["children_reached"] == 6
    # What the request computed is stored for the next one (and is what the job wrote).
    entries = await _entries(session)
    period_days = {(e.day_from, e.day_to) for e in entries}
    start = china_today() - timedelta(days=data.PERIOD_DAYS)
    assert (start, china_today() + timedelta(days=1)) in period_days
    assert {e.county_code for e in entries} == {COUNTY, COUNTY_OTHER}


async def test_the_default_period_comes_from_the_job(client, county, session):
    await _refresh(session)
    entries = await _entries(session)
    today = china_today()
    assert {(e.figure_group, e.day_from, e.day_to) for e in entries if e.county_code == COUNTY} >= {
        ("visited", today.replace(month=1, day=1), today + timedelta(days=1)),
        ("reach", today.replace(month=1, day=1), today + timedelta(days=1)),
        ("visited", today.replace(day=1), today + timedelta(days=1)),
        ("visitors", today.replace(month=1, day=1), today + timedelta(days=1)),
        ("visitors", today.replace(day=1), today + timedelta(days=1)),
    }
    stored = {e.computed_at for e in entries}
    body = await data.get(client, county["admin"], "summary", area=PROVINCE)
    assert _as_of(body) <= min(stored)  # as of the oldest entry (or snapshot) used
    assert len(await _entries(session)) == len(entries)  # nothing computed in the request


async def test_entries_are_as_of_their_computation_and_old_ones_recomputed(
    client, county, session, settings
):
    await _refresh(session)
    admin = county["admin"]
    before = await data.get(client, admin, "summary", area=PROVINCE, **data.period())
    assert before["visited"]["children"] == 7
    # A child of the other county is visited now: the province shows it once its county's
    # entry is too old (or at the next refresh).
    e1 = await data.child(session, settings, VILLAGE_OTHER_COUNTY, risk="blue",
                          categories=["left_behind"], registered=100)  # fmt: skip
    await data.visit(session, e1, county["officer_other_county"].id, data.ago(hours=1))
    await session.commit()
    live = await _live(client, admin, **data.period())
    assert live[COUNTY_OTHER]["visited.children"] == 2
    stale = await data.get(client, admin, "summary", area=PROVINCE, **data.period())
    assert stale["visited"]["children"] == 7  # the stored entry, as of its computation
    # Visits by the visitor's role too come from the stored entries.
    officers_before = before["visited"]["visits_by_visitor_role"]["county_officer"]
    assert stale["visited"]["visits_by_visitor_role"]["county_officer"] == officers_before
    assert _as_of(stale) <= min(e.computed_at for e in await _entries(session))
    await session.execute(
        update(CountyPeriodFigures)
        .where(CountyPeriodFigures.county_code == COUNTY_OTHER)  # type: ignore[arg-type]
        .values(computed_at=utcnow() - stats_periods.MAX_AGE - timedelta(minutes=1))
    )
    await session.commit()
    fresh = await data.get(client, admin, "summary", area=PROVINCE, **data.period())
    assert fresh["visited"]["children"] == 8
    assert fresh["visited"]["visits_by_visitor_role"]["county_officer"] == officers_before + 1
    # ... and stored again, so the next request reads it.
    days = (china_today() - timedelta(days=data.PERIOD_DAYS), china_today() + timedelta(days=1))
    mine = [
        e
        for e in await _entries(session)
        if e.county_code == COUNTY_OTHER and (e.day_from, e.day_to) == days
    ]
    assert {e.figure_group for e in mine} == {"visited", "visitors", "reach"}
    assert all(utcnow() - e.computed_at < stats_periods.MAX_AGE for e in mine)
    assert [e.figures["visited.children"] for e in mine if e.figure_group == "visited"] == [2]


async def test_a_missing_entry_is_computed_in_the_request(client, county, session):
    await _refresh(session)
    await session.execute(
        CountyPeriodFigures.__table__.delete().where(  # type: ignore[attr-defined]
            CountyPeriodFigures.county_code == COUNTY
        )
    )
    await session.commit()
    body = await data.get(client, county["admin"], "summary", area=PROVINCE, **data.period())
    assert body["visited"]["children"] == 7
    assert body["activities"]["children_reached"] == 6
    counted = select(func.count()).where(CountyPeriodFigures.county_code == COUNTY)  # type: ignore[arg-type]
    assert (await session.execute(counted)).scalar_one() >= 3  # visited, visitors, reach


@pytest.mark.parametrize(
    "metric", ["visited.children", "visited.risk.blue", "visitors.county_officer"]
)
async def test_the_province_trend_of_children_visited(client, county, session, metric):
    for refresh in (False, True):
        if refresh:
            await _refresh(session)
        province = await data.get(client, county["admin"], "trend", area=PROVINCE, metric=metric)
        parts = [
            await data.get(client, county["admin"], "trend", area=code, metric=metric)
            for code in (COUNTY, COUNTY_OTHER)
        ]
        for i, point in enumerate(province["points"]):
            assert point["value"] == sum(p["points"][i]["value"] for p in parts), (metric, i)
    assert sum(p["value"] for p in province["points"]) > 0 or metric != "visited.children"


async def test_the_job_deletes_entries_too_old_to_be_used(client, county, session, settings):
    await _refresh(session)
    old = utcnow() - stats_periods.MAX_AGE - timedelta(minutes=1)
    session.add(
        CountyPeriodFigures(
            county_code=COUNTY,
            figure_group="visited",
            day_from=china_today(),
            day_to=china_today() + timedelta(days=3),
            computed_at=old,
            figures={"visited.children": 1},
        )
    )
    await session.commit()
    job = next(j for j in periodic_jobs(settings) if j.name == "stats_snapshots")
    assert job.interval_seconds == stats_snapshots.INTERVAL_SECONDS
    from childprotect_api.core.db import Database

    db = Database.create(settings.database_url, pool_size=1, max_overflow=0)
    try:
        assert await run_job_once(db, job) > 0
    finally:
        await db.dispose()
    entries = await _entries(session)
    assert entries and all(e.computed_at > old for e in entries)


async def test_the_job_renews_only_entries_getting_old(client, county, session):
    written = await _refresh(session)
    # Per county: the three groups' year so far and this month, and the trend's twelve months
    # of `visited` and `visitors` (in January this month's window is the year's).
    assert written in (2 * (3 * 2 + 2 * 12), 2 * (3 * 1 + 2 * 12))
    assert await _refresh(session) == 0  # all fresh: another process's run costs nothing
    await session.execute(
        update(CountyPeriodFigures)
        .where(CountyPeriodFigures.county_code == COUNTY)  # type: ignore[arg-type]
        .values(computed_at=utcnow() - stats_periods.REFRESH_AGE - timedelta(seconds=1))
    )
    await session.commit()
    assert await _refresh(session) == written // 2
    assert all(
        utcnow() - e.computed_at < stats_periods.REFRESH_AGE for e in await _entries(session)
    )
