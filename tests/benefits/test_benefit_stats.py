"""The figures of decisions, removals and payments (DESIGN.md "Figures"): newly granted and
removed per category (removals per reason), recipients and amounts paid per kind, distinct
children visited per category and risk level, visits by the visitor's role: in the summary,
the breakdown, the trend and the export; auditors see small village figures suppressed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.benefits.benefit_helpers import (
    PAYMENTS,
    granted,
    payment_item,
    removal_body,
    removals_of,
)
from tests.conftest import COUNTY, VILLAGE, VILLAGE_OTHER_TOWNSHIP
from tests.factories import make_child
from tests.stats import stats_support as data
from tests.visits.visit_factories import put_visit


async def _arrange(client, world, session, settings):  # type: ignore[no-untyped-def]
    since = {"created_at": datetime.now(UTC) - timedelta(days=30)}
    one = await make_child(session, settings, VILLAGE, categories=["left_behind"], **since)
    two = await make_child(
        session, settings, VILLAGE, categories=["orphan"], risk_level="red", **since
    )
    three = await make_child(
        session, settings, VILLAGE_OTHER_TOWNSHIP, categories=["orphan"], **since
    )
    await granted(client, world, one.id, "de_facto_unsupported")
    await granted(client, world, one.id, "low_income")
    h = world["officer"].headers
    r = await client.post(removals_of(two.id), json=removal_body("orphan", "adopted"), headers=h)
    assert r.status_code == 201, r.text
    r = await client.post(
        removals_of(three.id), json=removal_body("orphan", "turned_18"), headers=h
    )
    assert r.status_code == 201, r.text
    month = data.china_today().strftime("%Y-%m")
    items = [
        payment_item(one.id, kind="de_facto_allowance", period=month, amount="1050.00"),
        payment_item(one.id, kind="low_income", period=month, amount="380"),
        payment_item(three.id, kind="de_facto_allowance", period=month, amount="1050.00"),
        payment_item(
            three.id,
            kind="education_grant",
            period=None,
            paid_on=data.china_today().isoformat(),
            amount="3100.00",
        ),
        # Before the period: not counted.
        payment_item(one.id, kind="low_income", period="2020-01", amount="300"),
    ]
    r = await client.post(PAYMENTS, json={"items": items}, headers=h)
    assert r.status_code == 200 and r.json()["created"] == 5, r.text
    now = datetime.now(UTC)
    await put_visit(client, world["director"], one.id, visited_at=now - timedelta(days=2))
    await put_visit(client, world["director"], one.id, visited_at=now - timedelta(days=1))
    await put_visit(client, world["supervisor"], two.id, visited_at=now - timedelta(hours=3))
    await put_visit(client, world["officer"], three.id, visited_at=now - timedelta(days=3))
    return one, two, three


async def test_figures_in_summary_breakdown_trend_and_export(client, world, session, settings):
    await _arrange(client, world, session, settings)
    s = await data.get(client, world["officer"], "summary", area=COUNTY, **data.period())
    d = s["decisions"]
    assert d["granted"] == 2
    assert d["granted_by_category"]["de_facto_unsupported"] == 1
    assert d["granted_by_category"]["low_income"] == 1
    assert d["granted_by_category"]["orphan"] == 0
    assert d["removed"] == 2 and d["removed_by_category"]["orphan"] == 2
    assert d["removed_by_reason"]["adopted"] == 1 and d["removed_by_reason"]["turned_18"] == 1
    p = s["payments"]
    assert p["recipients"] == 2 and p["amount"] == "5580.00"
    assert p["by_kind"]["de_facto_allowance"] == {"recipients": 2, "amount": "2100.00"}
    assert p["by_kind"]["education_grant"] == {"recipients": 1, "amount": "3100.00"}
    assert p["by_kind"]["low_income"] == {"recipients": 1, "amount": "380.00"}
    v = s["visited"]
    assert v["children"] == 3
    assert v["by_category"]["left_behind"] == 1
    assert v["by_category"]["de_facto_unsupported"] == 1
    assert v["by_risk_level"]["red"] == 1 and v["by_risk_level"]["blue"] == 2
    assert v["visits_by_visitor_role"] == {
        "village_director": 2,
        "township_supervisor": 1,
        "county_officer": 1,
    }

    b = await data.get(
        client, world["officer"], "breakdown", area=COUNTY, by="village", **data.period()
    )
    rows = {r["area_code"]: r["values"] for r in b["rows"]}
    assert rows[VILLAGE]["payments.recipients"] == 1
    assert rows[VILLAGE_OTHER_TOWNSHIP]["payments.amount"] == 4150.0
    assert rows[VILLAGE]["removals.reason.adopted"] == 1

    t = await data.get(
        client, world["officer"], "trend", area=COUNTY, metric="payments.amount.low_income"
    )
    assert t["points"][-1]["value"] == 380.0, t
    t = await data.get(client, world["officer"], "trend", area=COUNTY, metric="visited.children")
    assert sum(p["value"] for p in t["points"]) in (3, 4)  # a visit may fall in last month
    t = await data.get(
        client, world["officer"], "trend", area=COUNTY, metric="visitors.village_director"
    )
    assert sum(p["value"] for p in t["points"]) == 2

    r = await client.get(
        f"{data.STATS}/export",
        params={"area": COUNTY, "format": "csv", **data.period()},
        headers=world["officer"].headers,
    )
    assert r.status_code == 200
    assert "期内新认定事实无人抚养儿童数" in r.text and "期内减员原因：被依法收养" in r.text
    assert "期内儿童主任探访次数" in r.text and "期内发放对象儿童数" in r.text


async def test_auditors_see_small_village_figures_suppressed(client, world, session, settings):
    await _arrange(client, world, session, settings)
    b = await data.get(
        client, world["auditor"], "breakdown", area=COUNTY, by="village", **data.period()
    )
    (row,) = [r for r in b["rows"] if r["area_code"] == VILLAGE]
    assert row["values"]["payments.recipients"] == "<5"
    assert row["values"]["payments.amount"] == "suppressed"
    assert row["values"]["decisions.granted"] == "<5"


async def test_pre_existing_categories_are_not_newly_granted(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, categories=["orphan"])
    await session.execute(
        text(
            "INSERT INTO category_applications (id, child_id, county_code, area_code, category,"
            " status, source, content_hash, version, decided_at) VALUES (gen_random_uuid(),"
            " :c, '620722', :a, 'orphan', 'approved', 'pre_existing', '', 1, now())"
        ),
        {"c": child.id, "a": VILLAGE},
    )
    await session.commit()
    s = await data.get(client, world["officer"], "summary", area=COUNTY, **data.period())
    assert s["decisions"]["granted"] == 0
