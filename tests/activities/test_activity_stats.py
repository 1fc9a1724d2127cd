"""The care-work figures of the statistics (DESIGN.md "Care work", Figures): activities per
kind, distinct children reached, the training rate, staff with qualifications, open sites; in
summary, breakdown (adding up, with the remainders of what townships and the county logged
themselves), trend and export; suppressed for auditors where they describe fewer than 5
children; and never counting another county's work."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from childprotect_api.models.area import Area
from childprotect_api.models.child import Child
from childprotect_api.models.user import Role, User
from childprotect_api.services.children.rules import today as china_today
from childprotect_api.services.stats.metrics import DEFS, METRICS
from tests.activities.activity_helpers import ACTIVITIES, SITES, activity_body, site_body
from tests.conftest import (
    COUNTY,
    COUNTY_OTHER,
    TOWNSHIP,
    TOWNSHIP_OTHER,
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_OTHER_TOWNSHIP,
    VILLAGE_SAME_TOWNSHIP,
    make_actor,
)
from tests.factories import make_child
from tests.stats import stats_support as data

USERS = "/api/v1/users"
ACTIVITY_METRICS = [
    m for m in METRICS if m.split(".")[0] in ("activities", "training", "staff", "sites")
]


def _day(days_ago: int) -> str:
    return (china_today() - timedelta(days=days_ago)).isoformat()


async def _log(client: Any, actor: Any, area: str, **over: Any) -> dict[str, Any]:
    over.setdefault("held_on", _day(5))
    r = await client.post(ACTIVITIES, json=activity_body(area, **over), headers=actor.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _arrange_activities(client: Any, world: Any, session: Any, settings: Any) -> dict:
    """Five activities of the county in the period (two villages of one township, the
    township itself, the county itself, a village of the other township), one before the
    period, and one of another county."""
    a1 = await make_child(session, settings, VILLAGE)
    a2 = await make_child(session, settings, VILLAGE)
    gone = await make_child(session, settings, VILLAGE, status="closed")
    b1 = await make_child(session, settings, VILLAGE_SAME_TOWNSHIP)
    c1 = await make_child(session, settings, VILLAGE_OTHER_TOWNSHIP)
    d1 = await make_child(session, settings, VILLAGE_OTHER_COUNTY)
    officer = world["officer"]
    ids = lambda *cs: [str(c.id) for c in cs]  # noqa: E731
    await _log(client, officer, VILLAGE, kind="safety_education", participants=40,
               children_served=3, amount="1050.00", child_ids=ids(a1, a2, gone))  # fmt: skip
    await _log(client, world["director"], VILLAGE, kind="goods", participants=8,
               children_served=2, amount="500.50", child_ids=ids(a1))  # fmt: skip
    await _log(client, officer, VILLAGE_SAME_TOWNSHIP, kind="goods", participants=10,
               children_served=6, amount=None, child_ids=[])  # fmt: skip
    # The township's own: it reaches a child of a village of the township.
    await _log(client, world["supervisor"], TOWNSHIP, kind="publicity", participants=100,
               children_served=20, amount="200.00", child_ids=ids(b1))  # fmt: skip
    # The county's own: reaches a child of the other township.
    await _log(client, officer, COUNTY, kind="joint_meeting", participants=12,
               children_served=0, amount=None, child_ids=ids(c1))  # fmt: skip
    await _log(client, officer, VILLAGE_OTHER_TOWNSHIP, kind="children_home_activity",
               participants=30, children_served=30, amount=None)  # fmt: skip
    # Before the period: never counted.
    await _log(client, officer, VILLAGE, kind="goods", participants=99, children_served=99,
               amount="9999.00", held_on=_day(data.PERIOD_DAYS + 10), child_ids=ids(a2))  # fmt: skip
    # Another county's: never counted in this one.
    await _log(client, world["officer_other_county"], VILLAGE_OTHER_COUNTY, kind="goods",
               participants=77, children_served=77, amount="7777.00", child_ids=ids(d1))  # fmt: skip
    return {"a1": a1, "b1": b1, "c1": c1}


async def test_activity_figures_of_a_county(client, world, session, settings):
    await _arrange_activities(client, world, session, settings)
    s = await data.get(client, world["officer"], "summary", area=COUNTY, **data.period())
    act = s["activities"]
    assert act["sessions"] == 6
    assert act["participants"] == 40 + 8 + 10 + 100 + 12 + 30
    assert act["children_served"] == 3 + 2 + 6 + 20 + 0 + 30
    assert act["amount"] == "1750.50"  # money: a decimal string
    # a1 (twice), a2, the child closed since (reached in the period all the same), b1 (by
    # the township's activity), c1 (by the county's); not the other county's child.
    assert act["children_reached"] == 5
    assert act["by_kind"]["goods"] == {"sessions": 2, "participants": 18, "children_served": 8}
    assert act["by_kind"]["publicity"]["sessions"] == 1
    assert act["by_kind"]["training"] == {"sessions": 0, "participants": 0, "children_served": 0}
    assert sum(k["sessions"] for k in act["by_kind"].values()) == act["sessions"]
    # The other county sees only its own.
    other = await data.get(client, world["officer_other_county"], "summary", area=COUNTY_OTHER,
                           **data.period())  # fmt: skip
    assert other["activities"]["sessions"] == 1 and other["activities"]["amount"] == "7777.00"
    assert other["activities"]["children_reached"] == 1
    # A village: its own activities only.
    v = await data.get(client, world["director"], "summary", area=VILLAGE, **data.period())
    assert v["activities"]["sessions"] == 2 and v["activities"]["children_reached"] == 3


async def test_activity_figures_add_up_over_the_breakdown(client, world, session, settings):
    await _arrange_activities(client, world, session, settings)
    officer = world["officer"]
    for area, by in ((COUNTY, "township"), (COUNTY, "village"), (TOWNSHIP, "village")):
        b = await data.get(client, officer, "breakdown", area=area, by=by,
                           metric=ACTIVITY_METRICS, **data.period())  # fmt: skip
        total = b["total"]["values"]
        for m in ACTIVITY_METRICS:
            if not DEFS[m].additive:
                continue
            parts = sum(row["values"][m] for row in b["rows"])
            assert parts == pytest.approx(total[m]), (area, by, m)
    # What the county and the township logged themselves is their remainder.
    b = await data.get(client, officer, "breakdown", area=COUNTY, by="township",
                       **data.period())  # fmt: skip
    rows = {r["area_code"]: r for r in b["rows"]}
    assert rows[COUNTY]["remainder"] is True
    assert rows[COUNTY]["values"]["activities.sessions.joint_meeting"] == 1
    assert rows[TOWNSHIP]["values"]["activities.sessions"] == 4
    assert rows[TOWNSHIP_OTHER]["values"]["activities.sessions"] == 1
    # Children reached are counted where they live: c1 in the other township, not the county.
    assert rows[TOWNSHIP_OTHER]["values"]["activities.children_reached"] == 1
    assert rows[COUNTY]["values"]["activities.children_reached"] == 0
    b = await data.get(client, officer, "breakdown", area=TOWNSHIP, by="village",
                       **data.period())  # fmt: skip
    rows = {r["area_code"]: r for r in b["rows"]}
    assert rows[TOWNSHIP]["remainder"] is True
    assert rows[TOWNSHIP]["values"]["activities.participants"] == 100
    assert rows[VILLAGE_SAME_TOWNSHIP]["values"]["activities.children_reached"] == 1


async def test_the_training_rate(client, world, session, settings):
    """Staff to train: active village directors and township supervisors of the area.
    Trained: those of them among the staff of a `training` held in the period."""
    inactive = await make_actor(session, settings, "gone", Role.village_director, VILLAGE)
    await session.execute(
        update(User).where(User.id == inactive.id).values(is_active=False)  # type: ignore[arg-type]
    )
    await session.commit()
    officer = world["officer"]
    staff = [world["director"].id, world["supervisor"].id, officer.id, inactive.id]
    await _log(client, officer, COUNTY, kind="training", participants=60, children_served=0,
               staff_ids=[str(i) for i in staff])  # fmt: skip
    # A second training of the same director: still one person trained.
    await _log(client, officer, TOWNSHIP, kind="training", participants=20, children_served=0,
               staff_ids=[str(world["director"].id)])  # fmt: skip
    # Trained before the period: not counted.
    await _log(client, officer, COUNTY, kind="training", participants=60, children_served=0,
               held_on=_day(data.PERIOD_DAYS + 5),
               staff_ids=[str(world["director_other_village"].id)])  # fmt: skip
    # Not a training: not counted.
    await _log(client, officer, COUNTY, kind="publicity", participants=60, children_served=0,
               staff_ids=[str(world["director_other_township"].id)])  # fmt: skip
    # Another county's training of its own supervisor.
    await _log(client, world["officer_other_county"], COUNTY_OTHER, kind="training",
               participants=5, children_served=0,
               staff_ids=[str(world["supervisor_other_county"].id)])  # fmt: skip

    s = await data.get(client, officer, "summary", area=COUNTY, **data.period())
    act = s["activities"]
    # director, director_other_village, director_other_township, supervisor,
    # supervisor_other_township; not the inactive director, not the officer.
    assert act["training_staff"] == 5
    assert act["trained"] == 2
    assert act["training_rate"] == 0.4
    b = await data.get(client, officer, "breakdown", area=COUNTY, by="township",
                       metric=["training.staff", "training.trained", "training.rate"],
                       **data.period())  # fmt: skip
    rows = {r["area_code"]: r["values"] for r in b["rows"]}
    assert rows[TOWNSHIP] == {"training.staff": 3, "training.trained": 2, "training.rate": 0.6667}
    assert rows[TOWNSHIP_OTHER]["training.trained"] == 0
    assert rows[TOWNSHIP_OTHER]["training.rate"] == 0.0
    # The period decides: a period holding only the early training.
    early = {"from": _day(data.PERIOD_DAYS + 6), "to": _day(data.PERIOD_DAYS + 4)}
    s = await data.get(client, officer, "summary", area=COUNTY, **early)
    assert s["activities"]["trained"] == 1
    other = await data.get(client, world["officer_other_county"], "summary", area=COUNTY_OTHER,
                           **data.period())  # fmt: skip
    assert other["activities"]["training_staff"] == 2  # its director and supervisor
    assert other["activities"]["trained"] == 1
    # An area without directors or supervisors has no rate.
    session.add(Area(code=data.VILLAGE_NO_DIRECTOR, name="新村", parent_code=TOWNSHIP_OTHER,
                     level="village"))  # fmt: skip
    await session.commit()
    empty = await data.get(client, officer, "summary", area=data.VILLAGE_NO_DIRECTOR,
                           **data.period())  # fmt: skip
    assert empty["activities"]["training_staff"] == 0
    assert empty["activities"]["training_rate"] is None


async def test_qualifications_and_sites(client, world, session, settings):
    officer = world["officer"]
    for name, held in (
        ("director", ["social_worker", "teacher"]),
        ("supervisor", ["social_worker"]),
        ("director_other_county", ["social_worker"]),
    ):
        r = await client.patch(
            f"{USERS}/{world[name].id}",
            json={"qualifications": held},
            headers=(world["officer_other_county"] if "county" in name else officer).headers,
        )
        assert r.status_code == 200, r.text
    for area, kind in (
        (VILLAGE, "children_home"),
        (VILLAGE_SAME_TOWNSHIP, "children_home"),
        (TOWNSHIP, "protection_station"),
        (COUNTY, "parent_school"),
        (VILLAGE_OTHER_COUNTY, "children_home"),
    ):
        who = world["officer_other_county"] if area == VILLAGE_OTHER_COUNTY else officer
        r = await client.post(SITES, json=site_body(area, kind=kind), headers=who.headers)
        assert r.status_code == 201, r.text
    r = await client.post(SITES, json=site_body(VILLAGE_OTHER_TOWNSHIP), headers=officer.headers)
    closed = r.json()["id"]
    r = await client.patch(f"{SITES}/{closed}", json={"status": "closed"},
                           headers={**officer.headers, "If-Match": '"1"'})  # fmt: skip
    assert r.status_code == 200, r.text

    act = (await data.get(client, officer, "summary", area=COUNTY, **data.period()))["activities"]
    assert act["staff_qualified"] == 2
    assert act["staff_by_qualification"] == {
        "social_worker": 2,
        "psychological_counsellor": 0,
        "teacher": 1,
        "lawyer": 0,
    }
    assert act["sites_open"] == 4
    assert act["sites_open_by_kind"]["children_home"] == 2
    assert act["sites_open_by_kind"]["protection_station"] == 1
    assert act["sites_open_by_kind"]["parent_school"] == 1
    b = await data.get(client, officer, "breakdown", area=COUNTY, by="township",
                       metric=["sites.open", "staff.qualified"], **data.period())  # fmt: skip
    rows = {r["area_code"]: r["values"] for r in b["rows"]}
    assert rows[TOWNSHIP] == {"sites.open": 3, "staff.qualified": 2}
    assert rows[COUNTY] == {"sites.open": 1, "staff.qualified": 0}  # the county's remainder
    assert TOWNSHIP_OTHER not in rows or rows[TOWNSHIP_OTHER]["sites.open"] == 0


async def test_auditors_see_small_child_figures_suppressed(client, world, session, settings):
    await _arrange_activities(client, world, session, settings)
    auditor = world["auditor"]
    b = await data.get(client, auditor, "breakdown", area=COUNTY, by="village", **data.period())
    assert b["suppressed"] is True
    rows = {r["area_code"]: r["values"] for r in b["rows"]}
    village = rows[VILLAGE]
    # 5 children served (人次) and 2 children reached: about children, under 5 or computable.
    assert village["activities.children_reached"] == "<5"
    assert village["activities.children_served.goods"] == "<5"
    assert village["activities.children_served.safety_education"] == "<5"
    assert village["activities.children_served"] in ("suppressed", 5)
    # Work figures are never hidden.
    assert village["activities.sessions"] == 2
    assert village["activities.participants"] == 48
    assert village["activities.amount"] == 1550.5
    # A village whose children served are 30: shown.
    assert rows[VILLAGE_OTHER_TOWNSHIP]["activities.children_served"] == 30
    # The county's figures are never hidden.
    s = await data.get(client, auditor, "summary", area=COUNTY, **data.period())
    assert s["suppressed"] is False and s["activities"]["children_reached"] == 5
    # The village's own summary hides the same figures.
    v = await data.get(client, auditor, "summary", area=VILLAGE, **data.period())
    assert v["activities"]["children_reached"] == "<5"
    assert v["activities"]["by_kind"]["goods"]["children_served"] == "<5"
    assert v["activities"]["sessions"] == 2
    # Staff see the numbers.
    v = await data.get(client, world["officer"], "summary", area=VILLAGE, **data.period())
    assert v["activities"]["children_reached"] == 3


async def test_trend_and_export(client, world, session, settings):
    await _arrange_activities(client, world, session, settings)
    officer = world["officer"]
    t = await data.get(client, officer, "trend", area=COUNTY, metric="activities.sessions")
    assert sum(p["value"] for p in t["points"]) == 7  # the last twelve months hold all seven
    held = (china_today() - timedelta(days=5)).strftime("%Y-%m")
    assert next(p for p in t["points"] if p["month"] == held)["value"] >= 1
    t = await data.get(client, world["auditor"], "trend", area=VILLAGE,
                       metric="activities.children_served")  # fmt: skip
    assert any(p["value"] in ("<5", "suppressed") for p in t["points"])
    r = await client.get(f"{data.STATS}/export", params={"area": COUNTY, "format": "csv",
                         **data.period()}, headers=officer.headers)  # fmt: skip
    assert r.status_code == 200, r.text
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    header, total = lines[0], lines[1]
    col = header.index(DEFS["activities.sessions"].label_zh)
    assert header[col] == "期内关爱服务活动场次" and total[col] == "6"
    assert total[header.index("儿童主任和儿童督导员培训率")] == "0.0"
    assert total[header.index("期内关爱服务覆盖儿童数（去重）")] == "5"


async def test_bad_input_and_scope(client, world):
    officer = world["officer"]
    for metric in ("activities.children_reached", "training.rate", "sites.open"):
        r = await client.get(f"{data.STATS}/trend", params={"area": COUNTY, "metric": metric},
                             headers=officer.headers)  # fmt: skip
        assert r.status_code == 422, metric
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get(f"{data.STATS}/breakdown",
                         params={"area": COUNTY, "metric": "activities.sessions.bogus"},
                         headers=officer.headers)  # fmt: skip
    assert r.status_code == 422
    r = await client.get(f"{data.STATS}/summary", params={"area": COUNTY_OTHER},
                         headers=officer.headers)  # fmt: skip
    assert r.status_code == 404
    r = await client.get(f"{data.STATS}/summary", params={"area": VILLAGE_SAME_TOWNSHIP},
                         headers=world["director"].headers)  # fmt: skip
    assert r.status_code == 404
    r = await client.get(f"{data.STATS}/summary", headers=world["reporter"].headers)
    assert r.status_code == 403


async def test_children_reached_are_counted_once_where_they_live(client, world, session, settings):
    w = await _arrange_activities(client, world, session, settings)
    # A child closed after it was reached still counts for the period.
    await session.execute(
        update(Child)
        .where(Child.id == w["c1"].id)  # type: ignore[arg-type]
        .values(status="closed", closed_reason="moved_away")
    )
    await session.commit()
    officer = world["officer"]
    s = await data.get(client, officer, "summary", area=COUNTY, **data.period())
    assert s["activities"]["children_reached"] == 5
    # The same children, by the villages they live in (a1 named twice counts once).
    b = await data.get(client, officer, "breakdown", area=COUNTY, by="village",
                       metric=["activities.children_reached"], **data.period())  # fmt: skip
    rows = {r["area_code"]: r["values"]["activities.children_reached"] for r in b["rows"]}
    assert rows[VILLAGE] == 3 and rows[VILLAGE_SAME_TOWNSHIP] == 1
    assert rows[VILLAGE_OTHER_TOWNSHIP] == 1
    assert sum(rows.values()) == b["total"]["values"]["activities.children_reached"] == 5
    # A city's figure is its counties' (the other county's child is its own).
    city = await data.get(client, world["admin"], "breakdown", area=COUNTY[:4], by="county",
                          metric=["activities.children_reached"], **data.period())  # fmt: skip
    rows = {r["area_code"]: r["values"]["activities.children_reached"] for r in city["rows"]}
    assert rows == {COUNTY: 5, COUNTY_OTHER: 1}
    assert city["total"]["values"]["activities.children_reached"] == 6
