"""The demo county's statistics have something in every section, for every kind of caller."""

from __future__ import annotations

from datetime import timedelta

from childprotect_api.models.user import Role
from childprotect_api.services.children.rules import today as china_today
from childprotect_api.services.demo.county import DEMO_COUNTY
from childprotect_api.services.demo.loader import load_demo
from tests.conftest import make_actor
from tests.stats.stats_support import plain


async def test_the_demo_county_has_figures_in_every_section(
    client, database_url, session, settings
):
    await load_demo(database_url)
    officer = await make_actor(session, settings, "stats_officer", Role.county_officer, DEMO_COUNTY)
    auditor = await make_actor(session, settings, "stats_auditor", Role.auditor, DEMO_COUNTY)
    await session.commit()
    today = china_today()
    period = {"from": (today - timedelta(days=365)).isoformat(), "to": today.isoformat()}
    r = await client.get("/api/v1/stats/summary", params=period, headers=officer.headers)
    assert r.status_code == 200, r.text
    body = plain(r.json())
    assert body["children"]["active"] > 20
    assert body["children"]["by_category"]["left_behind"] > 0
    assert body["children"]["new"] > 0
    assert body["visits"]["coverage"]["due"] > 0
    assert 0 < body["visits"]["coverage"]["rate"] < 1
    assert body["visits"]["made"] > 0
    assert body["agreements"]["active"] > 0
    assert 0 < body["agreements"]["coverage_rate"] <= 1
    assert body["reports"]["filed"] > 0
    assert body["reports"]["median_hours_to_acceptance"] is not None
    assert body["workforce"]["village_directors"] == 3
    assert body["workforce"]["villages_without_director"] > 0
    assert body["subsidies"]["children"] > 0
    assert float(body["subsidies"]["monthly_total"]) > 0

    r = await client.get(
        "/api/v1/stats/breakdown", params={"by": "village", **period}, headers=auditor.headers
    )
    assert r.status_code == 200, r.text
    shown = [v for row in plain(r.json())["rows"] for v in row["values"].values()]
    assert "<5" in shown and any(isinstance(v, int) and v >= 5 for v in shown)
