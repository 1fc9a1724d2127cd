"""The demo county's care work ledger: sites of each kind, a year of activities (about 20 per
village, mixed kinds, trainings naming staff, children's-home activities at a 儿童之家, goods
with amounts), staff qualifications, and the statistics that count them; loading twice makes
nothing twice."""

from __future__ import annotations

from sqlalchemy import text

from childprotect_api.models.user import Role
from childprotect_api.services.demo import county as demo
from childprotect_api.services.demo.loader import load_demo
from tests.conftest import make_actor
from tests.stats.stats_support import plain


async def _count(session, sql: str) -> int:
    return int((await session.execute(text(sql))).scalar_one())


async def test_demo_activities_and_sites(settings, session, monkeypatch, client):
    assert settings.database_url
    monkeypatch.setattr(demo, "hash_password", lambda password: "not-a-real-hash")
    await load_demo(settings.database_url)
    first = await _count(session, "SELECT count(*) FROM activities")
    sites = dict(
        (await session.execute(text("SELECT kind, count(*) FROM sites GROUP BY kind"))).all()
    )
    await session.commit()
    await load_demo(settings.database_url)
    assert await _count(session, "SELECT count(*) FROM activities") == first
    assert sites["children_home"] >= 3
    assert sites["protection_station"] == 3  # one per township of the demo county
    assert sites["parent_school"] == 1
    per_village = dict(
        (
            await session.execute(
                text(
                    "SELECT area_code, count(*) FROM activities WHERE length(area_code) = 12 "
                    "AND held_on > current_date - 366 GROUP BY 1"
                )
            )
        ).all()
    )
    assert len(per_village) == 7 and all(n == 20 for n in per_village.values())
    kinds = set((await session.execute(text("SELECT DISTINCT kind FROM activities"))).scalars())
    assert {"training", "children_home_activity", "goods", "joint_meeting", "publicity"} <= kinds
    assert (
        await _count(
            session,
            "SELECT count(*) FROM activities a JOIN sites s ON s.id = a.site_id "
            "WHERE a.kind = 'children_home_activity' AND s.kind = 'children_home' "
            "AND s.area_code = a.area_code",
        )
        > 0
    )
    assert (
        await _count(session, "SELECT count(*) FROM activities WHERE kind = 'goods' AND amount > 0")
        > 0
    )
    assert (
        await _count(
            session, "SELECT count(*) FROM activities WHERE kind = 'training' AND staff_ids <> '{}'"
        )
        > 0
    )
    assert await _count(session, "SELECT count(*) FROM users WHERE qualifications <> '{}'") >= 2

    # The county's statistics count them (the year so far).
    officer = await make_actor(session, settings, "stats_officer", Role.county_officer, "620722")
    await session.commit()
    r = await client.get("/api/v1/stats/summary", params={"area": "620722"},
                         headers=officer.headers)  # fmt: skip
    assert r.status_code == 200, r.text
    act = plain(r.json())["activities"]
    assert act["sessions"] > 0 and float(act["amount"]) > 0 and act["sites_open"] >= 7
    assert act["by_kind"]["children_home_activity"]["sessions"] > 0
    assert act["staff_by_qualification"]["social_worker"] == 2
    # One director attended no training: the rate is below 1.
    assert act["training_staff"] == 4
    assert 0 < act["training_rate"] < 1
