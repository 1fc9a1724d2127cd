"""GET /api/v1/stats/summary, /breakdown and /trend against the county of
tests/stats/stats_support.py, whose figures are known by hand."""

from __future__ import annotations

from typing import Any

import pytest

from childprotect_api.services.stats.metrics import DEFS, METRICS, TRENDABLE, MetricKind
from tests.conftest import (
    COUNTY,
    COUNTY_OTHER,
    TOWNSHIP,
    TOWNSHIP_OTHER,
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_OTHER_TOWNSHIP,
    VILLAGE_SAME_TOWNSHIP,
)
from tests.integrations.client_helpers import seed_client
from tests.stats import stats_support as data

ZERO_CATEGORIES = (
    "de_facto_unsupported",
    "low_income_disabled_or_ill",
    "street",
    "parent_imprisoned",
    "serious_misconduct",
)


@pytest.fixture
async def county(session, settings, world):  # type: ignore[no-untyped-def]
    await data.build(session, settings, world)
    return world


def _coverage(due: int, covered: int, overdue: int) -> dict[str, Any]:
    return {
        "due": due,
        "covered": covered,
        "overdue": overdue,
        "rate": round(covered / due, 4) if due else None,
    }


async def test_county_summary_holds_every_figure(client, county):
    body = await data.get(client, county["officer"], "summary", area=COUNTY, **data.period())
    assert body["area"] == {"code": COUNTY, "name": "民乐县", "level": "county"}
    assert body["period"] == data.period()
    assert body["suppressed"] is False

    children = body["children"]
    assert children["active"] == 8
    assert children["by_category"]["left_behind"] == 4
    assert children["by_category"]["low_income"] == 1
    assert children["by_category"]["orphan"] == 1
    assert children["by_category"]["in_difficulty"] == 1
    assert children["by_category"]["disabled"] == 1
    assert children["by_category"]["migrant"] == 1
    assert children["by_category"]["dropout_risk"] == 1
    assert all(children["by_category"][c] == 0 for c in ZERO_CATEGORIES)
    assert children["by_risk_level"] == {"blue": 3, "yellow": 2, "orange": 1, "red": 2}
    assert children["new"] == 3
    assert children["closed"] == 2
    assert children["closed_by_reason"] == {
        "turned_18": 1,
        "moved_away": 1,
        "deceased": 0,
        "no_longer_eligible": 0,
    }

    visits = body["visits"]
    assert visits["coverage"] == _coverage(7, 3, 4)
    assert visits["coverage_by_risk_level"] == {
        "blue": _coverage(2, 2, 0),
        "yellow": _coverage(2, 0, 2),
        "orange": _coverage(1, 0, 1),
        "red": _coverage(2, 1, 1),
    }
    assert visits["made"] == 8
    assert visits["made_by_kind"] == {"home": 4, "phone": 2, "school": 1, "other": 1}

    assert body["agreements"] == {
        "left_behind": 4,
        "covered": 2,
        "coverage_rate": 0.5,
        "active": 2,
        "expiring_within_30_days": 1,
    }

    reports = body["reports"]
    assert reports["filed"] == 5
    assert reports["by_status"] == {"submitted": 2, "accepted": 1, "referred": 1, "closed": 1}
    assert reports["by_situation"]["multiple_injuries_or_abuse"] == 1
    assert reports["by_situation"]["organised_begging"] == 1
    assert reports["by_situation"]["genital_injury"] == 0
    assert sum(reports["by_situation"].values()) == 5
    assert reports["accepted"] == 3
    assert reports["accept_due"] == 4
    assert reports["accepted_in_time"] == 2
    assert reports["accepted_in_time_rate"] == 0.5
    assert reports["referral_due"] == 3
    assert reports["referred_in_time"] == 1
    assert reports["referred_in_time_rate"] == 0.3333
    assert reports["median_hours_to_acceptance"] == 10.0

    assert body["workforce"] == {
        "village_directors": 3,
        "township_supervisors": 2,
        "villages": 4,
        "villages_without_director": 1,
    }
    subsidies = body["subsidies"]
    assert subsidies["children"] == 2
    # Money is a decimal string (DESIGN.md "API conventions").
    assert subsidies["monthly_total"] == "1500.00"
    assert subsidies["by_kind"]["orphan_allowance"] == {"children": 1, "monthly_total": "1200.00"}
    assert subsidies["by_kind"]["disability_allowance"] == {
        "children": 1,
        "monthly_total": "300.00",
    }
    assert subsidies["by_kind"]["other"] == {"children": 0, "monthly_total": "0.00"}


async def test_village_summary(client, county):
    """A village reads the visit rollup by month and the visits of partial months."""
    body = await data.get(client, county["director"], "summary", **data.period())
    assert body["area"]["code"] == VILLAGE
    assert body["children"]["active"] == 5
    assert body["children"]["new"] == 2
    assert body["children"]["closed_by_reason"]["moved_away"] == 1
    assert body["children"]["closed_by_reason"]["deceased"] == 0
    assert body["visits"]["coverage"] == _coverage(4, 2, 2)
    assert body["visits"]["made"] == 5
    assert body["visits"]["made_by_kind"] == {"home": 2, "phone": 2, "school": 1, "other": 0}
    assert body["reports"]["filed"] == 2
    assert body["workforce"]["village_directors"] == 1
    assert body["workforce"]["township_supervisors"] == 0
    assert body["subsidies"]["monthly_total"] == "1500.00"


async def test_township_summary_counts_reports_filed_for_the_township(client, county):
    body = await data.get(client, county["supervisor"], "summary", **data.period())
    assert body["area"]["code"] == TOWNSHIP
    assert body["children"]["active"] == 7
    assert body["reports"]["filed"] == 3
    assert body["visits"]["made"] == 7
    assert body["workforce"]["township_supervisors"] == 1


async def test_the_period_defaults_to_the_year_so_far(client, county):
    body = await data.get(client, county["officer"], "summary")
    assert body["area"]["code"] == COUNTY
    assert body["period"]["from"].endswith("-01-01")
    assert body["period"]["to"] == data.period()["to"]


def _additive() -> list[str]:
    return [m for m in METRICS if DEFS[m].additive]


@pytest.mark.parametrize(
    ("area", "by", "codes"),
    [
        (COUNTY, "township", {TOWNSHIP, TOWNSHIP_OTHER, COUNTY}),
        (
            COUNTY,
            "village",
            {
                VILLAGE,
                VILLAGE_SAME_TOWNSHIP,
                VILLAGE_OTHER_TOWNSHIP,
                data.VILLAGE_NO_DIRECTOR,
                TOWNSHIP,  # a report filed for the township, its supervisor
                TOWNSHIP_OTHER,  # its supervisor
                COUNTY,  # a report filed for the county
            },
        ),
        (TOWNSHIP, "village", {VILLAGE, VILLAGE_SAME_TOWNSHIP, TOWNSHIP}),
    ],
)
async def test_breakdown_adds_up_to_the_summary(client, county, area, by, codes):
    summary = await data.get(client, county["officer"], "breakdown", area=area, by=by,
                             **data.period())  # fmt: skip
    assert summary["by"] == by
    rows = summary["rows"]
    assert {r["area_code"] for r in rows} == codes
    for metric in _additive():
        total = summary["total"]["values"][metric]
        assert sum(r["values"][metric] for r in rows) == pytest.approx(total), metric
    remainders = [r for r in rows if r["remainder"]]
    assert all(r["name"].endswith("（本级）") for r in remainders)
    plain = await data.get(client, county["officer"], "summary", area=area, **data.period())
    assert summary["total"]["values"]["children.active"] == plain["children"]["active"]
    assert summary["total"]["values"]["reports.filed"] == plain["reports"]["filed"]


async def test_breakdown_by_village_of_the_county(client, county):
    body = await data.get(client, county["officer"], "breakdown", area=COUNTY, by="village",
                          metric=["children.active", "visits.coverage", "reports.filed"],
                          **data.period())  # fmt: skip
    assert body["metrics"] == ["children.active", "visits.coverage", "reports.filed"]
    rows = {r["area_code"]: r for r in body["rows"]}
    assert rows[VILLAGE]["values"] == {
        "children.active": 5,
        "visits.coverage": 0.5,
        "reports.filed": 2,
    }
    assert rows[VILLAGE_SAME_TOWNSHIP]["values"]["children.active"] == 2
    assert rows[data.VILLAGE_NO_DIRECTOR]["values"] == {
        "children.active": 0,
        "visits.coverage": None,
        "reports.filed": 0,
    }
    assert rows[TOWNSHIP]["remainder"] and rows[TOWNSHIP]["values"]["reports.filed"] == 1
    assert rows[COUNTY]["remainder"] and rows[COUNTY]["values"]["reports.filed"] == 1


async def test_trend_counts_each_month(client, county):
    body = await data.get(client, county["officer"], "trend", area=COUNTY, metric="visits.made")
    assert body["interval"] == "month"
    points = body["points"]
    assert len(points) == 12
    assert points[-1]["to"] >= data.period()["to"]
    # Every visit of the county lies in the last twelve months.
    assert sum(p["value"] for p in points) == 9
    village = await data.get(client, county["director"], "trend", metric="visits.made")
    assert sum(p["value"] for p in village["points"]) == 6
    assert [p["month"] for p in village["points"]] == [p["month"] for p in points]


async def test_trend_of_rates_and_snapshots(client, county):
    active = await data.get(client, county["officer"], "trend", area=COUNTY,
                            metric="children.active")  # fmt: skip
    assert active["points"][-1]["value"] == 8
    rate = await data.get(client, county["officer"], "trend", area=COUNTY,
                          metric="reports.accepted_in_time_rate")  # fmt: skip
    values = [p["value"] for p in rate["points"]]
    assert all(v is None or 0 <= v <= 1 for v in values)
    assert any(v is not None for v in values)


async def test_every_trendable_metric_answers(client, county, settings):
    settings.rate_limits = {**settings.rate_limits, "stats": 1000}
    for metric in TRENDABLE:
        body = await data.get(client, county["officer"], "trend", area=COUNTY, metric=metric)
        assert len(body["points"]) == 12, metric


async def test_untrendable_metric_is_refused(client, county):
    r = await client.get(
        f"{data.STATS}/trend",
        params={"metric": "workforce.villages"},
        headers=county["officer"].headers,
    )
    assert r.status_code == 422
    assert r.json()["code"] == "metric_not_trendable"


async def test_every_metric_is_documented_and_labelled(client, county):
    r = await client.get("/api/v1/meta/enums", headers=county["auditor"].headers)
    labels = {o["value"]: o for o in r.json()["stats_metric"]}
    assert set(labels) == set(METRICS)
    assert all(o["label_zh"] and o["label_en"] for o in labels.values())
    assert {DEFS[m].kind for m in METRICS} == set(MetricKind)


@pytest.mark.parametrize(
    ("actor", "area"),
    [
        ("director", VILLAGE_SAME_TOWNSHIP),
        ("director", TOWNSHIP),
        ("supervisor", TOWNSHIP_OTHER),
        ("supervisor", COUNTY),
        ("officer", COUNTY_OTHER),
        ("officer", VILLAGE_OTHER_COUNTY),
        ("auditor", "62"),
        ("officer", "620722999"),  # inside the scope, but no such area
    ],
)
async def test_areas_outside_the_scope_are_not_found(client, county, actor, area):
    for what in ("summary", "breakdown", "trend", "export"):
        params = {"area": area, "metric": "children.new"}
        r = await client.get(f"{data.STATS}/{what}", params=params, headers=county[actor].headers)
        assert r.status_code == 404, (what, r.text)
        assert r.json()["code"] == "not_found"


async def test_reporters_are_refused(client, county):
    for what in ("summary", "breakdown", "trend", "export"):
        r = await client.get(
            f"{data.STATS}/{what}",
            params={"metric": "children.new"},
            headers=county["reporter"].headers,
        )
        assert r.status_code == 403, what


async def test_integration_clients_need_the_stats_scope(client, county, session, settings):
    reader = await seed_client(session, settings, scopes={"stats:read"}, area=COUNTY)
    other = await seed_client(session, settings, scopes={"children:read"}, area=COUNTY)
    body = await data.get(client, reader, "summary", **data.period())
    assert body["area"]["code"] == COUNTY
    assert body["children"]["active"] == 8 and body["suppressed"] is False
    r = await client.get(f"{data.STATS}/summary", params={"area": COUNTY_OTHER},
                         headers=reader.headers)  # fmt: skip
    assert r.status_code == 404
    r = await client.get(f"{data.STATS}/summary", headers=other.headers)
    assert r.status_code == 403
    assert r.json()["code"] == "missing_scope"


async def test_admin_reads_any_area_but_must_name_it(client, county):
    body = await data.get(client, county["admin"], "summary", area="62", **data.period())
    assert body["area"]["level"] == "province"
    assert body["children"]["active"] == 9  # both counties
    r = await client.get(f"{data.STATS}/summary", headers=county["admin"].headers)
    assert r.status_code == 422
    assert r.json()["code"] == "area_required"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2026-05-01", "to": "2026-04-01"}, "invalid_period"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "period_too_long"),
        ({"from": "1999-12-01", "to": "2000-01-01"}, "invalid_period"),
        ({"from": "yesterday"}, "validation_error"),
        ({"area": "62072"}, "validation_error"),
        ({"area": "abc"}, "validation_error"),
        ({"by": "province"}, "invalid_breakdown"),
        ({"by": "hamlet"}, "validation_error"),
        ({"metric": "children.unknown"}, "validation_error"),
    ],
)
async def test_bad_inputs_are_problems(client, county, params, code):
    what = "breakdown"
    r = await client.get(f"{data.STATS}/{what}", params=params, headers=county["officer"].headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


async def test_a_village_has_no_breakdown(client, county):
    r = await client.get(f"{data.STATS}/breakdown", headers=county["director"].headers)
    assert r.status_code == 422
    assert r.json()["code"] == "no_lower_level"


async def test_a_county_breaks_down_two_levels_at_most(client, county):
    r = await client.get(
        f"{data.STATS}/breakdown",
        params={"area": "62", "by": "township"},
        headers=county["admin"].headers,
    )
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_breakdown"


async def test_statistics_are_rate_limited(client, county, settings):
    settings.rate_limits = {**settings.rate_limits, "stats": 2, "export": 1}
    statuses = [
        (await client.get(f"{data.STATS}/summary", headers=county["officer"].headers)).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    exports = [
        (await client.get(f"{data.STATS}/export", headers=county["officer"].headers)).status_code
        for _ in range(2)
    ]
    assert exports == [200, 429]
