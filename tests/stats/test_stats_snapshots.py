"""City and province figures add up the counties' snapshots (refreshed by a job), with the
period's figures (registrations, closings, visits, reports) as of the request."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.stats import CountySnapshot
from childprotect_api.services.duties import duties
from childprotect_api.services.periodic import periodic_jobs
from childprotect_api.services.stats import snapshots as stats_snapshots
from childprotect_api.services.stats.metrics import DEFS, METRICS
from tests.activities.activity_helpers import SITES, site_body
from tests.care.care_support import CASES, PAIRINGS, case_body, pairing_body
from tests.conftest import COUNTY, COUNTY_OTHER, VILLAGE, VILLAGE_OTHER_COUNTY
from tests.factories import make_child
from tests.stats import stats_support as data

PROVINCE = "62"


@pytest.fixture
async def county(session, settings, world):  # type: ignore[no-untyped-def]
    await data.build(session, settings, world)
    return world


async def _refresh(session) -> int:  # type: ignore[no-untyped-def]
    done = await stats_snapshots.refresh(session, utcnow())
    await session.commit()
    return done


async def test_the_province_adds_up_its_counties(client, county, session):
    assert await _refresh(session) == 2
    admin = county["admin"]
    province = await data.get(client, admin, "breakdown", area=PROVINCE, by="county",
                              **data.period())  # fmt: skip
    counties = {r["area_code"]: r["values"] for r in province["rows"]}
    assert set(counties) == {COUNTY, COUNTY_OTHER}
    live = await data.get(client, admin, "breakdown", area="6207", by="county", **data.period())
    assert {r["area_code"]: r["values"] for r in live["rows"]} == counties
    own = await data.get(client, admin, "summary", area=COUNTY, **data.period())
    assert counties[COUNTY]["children.active"] == own["children"]["active"] == 8
    assert counties[COUNTY]["children.new"] == own["children"]["new"] == 3
    assert counties[COUNTY]["children.closed.moved_away"] == 1
    assert counties[COUNTY]["visits.coverage"] == own["visits"]["coverage"]["rate"]
    assert counties[COUNTY]["agreements.coverage"] == 0.5
    assert counties[COUNTY]["subsidies.monthly_total"] == 1500.0
    for m in METRICS:
        if DEFS[m].additive:
            total = province["total"]["values"][m]
            assert sum(v[m] for v in counties.values()) == pytest.approx(total), m


async def test_snapshot_figures_are_as_of_their_refresh(client, county, session):
    await _refresh(session)
    stored = (await session.execute(select(CountySnapshot))).scalars().all()
    before = await data.get(client, county["admin"], "summary", area=PROVINCE, **data.period())
    as_of = datetime.fromisoformat(before["as_of"].replace("Z", "+00:00"))
    assert as_of == min(s.computed_at for s in stored)
    assert before["children"]["active"] == 9
    await session.execute(
        update(Child)
        .where(Child.area_code == VILLAGE, Child.status == "active", Child.risk_level == "blue")  # type: ignore[arg-type]
        .values(status="closed", closed_reason="moved_away", closed_at=utcnow())
    )
    await session.commit()
    stale = await data.get(client, county["admin"], "summary", area=PROVINCE, **data.period())
    assert stale["children"]["active"] == 9  # until the next refresh
    live = await data.get(client, county["admin"], "summary", area=COUNTY, **data.period())
    assert live["children"]["active"] == 6
    await _refresh(session)
    fresh = await data.get(client, county["admin"], "summary", area=PROVINCE, **data.period())
    assert fresh["children"]["active"] == 7
    assert fresh["children"]["closed_by_reason"]["moved_away"] == 3


async def test_old_or_missing_snapshots_are_computed_in_the_request(client, county, session):
    await _refresh(session)
    await session.execute(
        update(CountySnapshot)
        .where(CountySnapshot.county_code == COUNTY)  # type: ignore[arg-type]
        .values(computed_at=utcnow() - stats_snapshots.MAX_AGE - timedelta(minutes=1))
    )
    await session.commit()
    await session.execute(
        update(Child).where(Child.area_code == VILLAGE).values(risk_level="red")  # type: ignore[arg-type]
    )
    await session.commit()
    body = await data.get(client, county["admin"], "summary", area=PROVINCE, **data.period())
    assert body["children"]["by_risk_level"]["red"] == 6  # a4, a3, a1, a2, a5 and c1


async def test_the_province_trend_of_children(client, county, session):
    await _refresh(session)
    for metric in ("children.active", "children.new", "children.closed.moved_away"):
        province = await data.get(client, county["admin"], "trend", area=PROVINCE, metric=metric)
        parts = [
            await data.get(client, county["admin"], "trend", area=code, metric=metric)
            for code in (COUNTY, COUNTY_OTHER)
        ]
        for i, point in enumerate(province["points"]):
            assert point["value"] == sum(p["points"][i]["value"] for p in parts), (metric, i)


def test_the_snapshots_are_refreshed_by_a_job(settings):
    assert "stats_snapshots" in {job.name for job in periodic_jobs(settings)}


async def test_a_province_with_no_county_counts_zero(client, world):
    """A new province (no county under it, so no snapshot) answers zeros, not a 500 (found by
    the schemathesis run)."""
    admin = world["admin"].headers
    r = await client.post("/api/v1/areas", json={"code": "00", "name": "测试省"}, headers=admin)
    assert r.status_code == 201, r.text
    r = await client.get("/api/v1/stats/summary", params={"area": "00"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["children"]["active"] == {"value": 0, "suppressed": None}


# The groups of the care work and the sites that cities and the province add up from the
# county snapshots (the rest of the care-work figures count the period: read live).
SNAPSHOT_CARE = [m for m in METRICS if DEFS[m].group in ("care", "cases", "duties", "sites")]


async def _care_work(client, county, session, settings):  # type: ignore[no-untyped-def]
    """Pairings, a case and duties in the county; open sites in both counties."""
    orange = await make_child(session, settings, VILLAGE, risk_level="orange")
    red = await make_child(session, settings, VILLAGE, risk_level="red")
    await make_child(session, settings, VILLAGE_OTHER_COUNTY, risk_level="red")
    for c in (orange, red):
        await duties.recompute(session, c)
    await session.commit()
    h = county["supervisor"].headers
    r = await client.post(PAIRINGS, json=pairing_body(orange.id), headers=h)
    assert r.status_code == 201, r.text
    r = await client.post(CASES, json=case_body(red.id), headers=h)
    assert r.status_code == 201, r.text
    for who, area in (("officer", VILLAGE), ("officer_other_county", VILLAGE_OTHER_COUNTY)):
        r = await client.post(SITES, json=site_body(area), headers=county[who].headers)
        assert r.status_code == 201, r.text


async def test_the_province_adds_up_its_counties_care_work_from_snapshots(
    client, county, session, settings
):
    await _care_work(client, county, session, settings)
    await _refresh(session)
    admin = county["admin"]
    province = await data.get(client, admin, "breakdown", area=PROVINCE, by="county",
                              metric=SNAPSHOT_CARE, **data.period())  # fmt: skip
    rows = {r["area_code"]: r["values"] for r in province["rows"]}
    live = {
        code: (
            await data.get(
                client,
                admin,
                "breakdown",
                area=code,
                by="township",
                metric=SNAPSHOT_CARE,
                **data.period(),
            )
        )["total"]["values"]
        for code in (COUNTY, COUNTY_OTHER)
    }
    assert rows == live  # each county's row is its live figures
    assert live[COUNTY]["care.paired"] == 1 and live[COUNTY]["cases.open"] == 1
    assert live[COUNTY_OTHER]["care.red"] == 1 and live[COUNTY_OTHER]["sites.open"] == 1
    summary = await data.get(client, admin, "summary", area=PROVINCE, **data.period())
    for m in SNAPSHOT_CARE:
        if DEFS[m].additive:
            total = sum(v[m] for v in live.values())
            assert province["total"]["values"][m] == total, m
    care = summary["care"]
    assert care["paired"] == 1 and care["red"] == live[COUNTY]["care.red"] + 1
    assert care["cases_open"] == 1
    assert care["duties_open"] == live[COUNTY]["duties.open"] + live[COUNTY_OTHER]["duties.open"]
    assert summary["activities"]["sites_open"] == 2

    # The province reads the snapshots: a case opened since shows at the next refresh.
    orange = select(Child.id).where(Child.area_code == VILLAGE, Child.risk_level == "orange")  # type: ignore[arg-type]
    child_id = (await session.execute(orange)).scalars().first()
    r = await client.post(CASES, json=case_body(child_id), headers=county["supervisor"].headers)
    assert r.status_code == 201, r.text
    stale = await data.get(client, admin, "summary", area=PROVINCE, **data.period())
    assert stale["care"]["cases_open"] == 1
    await _refresh(session)
    fresh = await data.get(client, admin, "summary", area=PROVINCE, **data.period())
    assert fresh["care"]["cases_open"] == 2


async def test_a_snapshot_without_the_care_figures_is_recomputed(client, county, session, settings):
    """A snapshot stored before the care groups were added is not summed as zeros."""
    await _care_work(client, county, session, settings)
    await _refresh(session)
    for snap in (await session.execute(select(CountySnapshot))).scalars().all():
        snap.figures = {k: v for k, v in snap.figures.items() if DEFS[k].group == "children"}
    await session.commit()
    body = await data.get(client, county["admin"], "summary", area=PROVINCE, **data.period())
    assert body["care"]["paired"] == 1 and body["care"]["cases_open"] == 1
    assert body["activities"]["sites_open"] == 2
