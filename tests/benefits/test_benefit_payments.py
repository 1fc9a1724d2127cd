"""Benefit payments (发放): batches with per-item results, idempotent by id, written by county
officers and subsidies:write clients; lists with filters and keyset pages; scope like a child."""

from __future__ import annotations

import uuid

import pytest

from tests.benefits.benefit_helpers import PAYMENTS, payment_item
from tests.conftest import COUNTY, COUNTY_OTHER, OUTSIDERS, VILLAGE, VILLAGE_OTHER_COUNTY
from tests.factories import make_child
from tests.integrations.client_helpers import seed_client


async def _post(client, headers, *items):  # type: ignore[no-untyped-def]
    r = await client.post(PAYMENTS, json={"items": list(items)}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_batch_answers_each_item_and_replays_unchanged(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, categories=["de_facto_unsupported"])
    elsewhere = await make_child(session, settings, VILLAGE_OTHER_COUNTY)
    h = world["officer"].headers
    monthly = payment_item(child.id, period="2026-10")
    one_off = payment_item(
        child.id, kind="education_grant", period=None, paid_on="2026-09-01", amount="3100"
    )
    foreign = payment_item(elsewhere.id)
    unknown = payment_item(uuid.uuid4())
    out = await _post(client, h, monthly, one_off, foreign, unknown)
    assert (out["created"], out["unchanged"], out["errors"]) == (2, 0, 2)
    codes = [(x["status"], x["error"] and x["error"]["code"]) for x in out["results"]]
    # A child of another county reads exactly like one that does not exist.
    assert codes == [
        ("created", None),
        ("created", None),
        ("error", "unknown_child"),
        ("error", "unknown_child"),
    ]
    again = await _post(client, h, monthly, {**one_off, "amount": "999.00"}, monthly)
    assert [(x["status"], x["error"] and x["error"]["code"]) for x in again["results"]] == [
        ("unchanged", None),
        ("error", "id_conflict"),
        ("error", "duplicate_item"),
    ]
    r = await client.get(PAYMENTS, params={"child_id": str(child.id)}, headers=h)
    items = r.json()["items"]
    assert [(p["period"], p["paid_on"], p["amount"]) for p in items] == [
        ("2026-10", None, "1050.00"),
        (None, "2026-09-01", "3100.00"),
    ]


async def test_list_filters_and_pages(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    h = world["officer"].headers
    items = [payment_item(child.id, period=f"2026-0{m}") for m in range(1, 6)]
    items.append(payment_item(child.id, kind="low_income", period="2026-03", amount="380"))
    await _post(client, h, *items)
    r = await client.get(
        PAYMENTS, params={"from_period": "2026-02", "to_period": "2026-04"}, headers=h
    )
    assert sorted(p["period"] for p in r.json()["items"]) == [
        "2026-02",
        "2026-03",
        "2026-03",
        "2026-04",
    ]
    r = await client.get(PAYMENTS, params={"kind": "low_income"}, headers=h)
    assert [p["amount"] for p in r.json()["items"]] == ["380.00"]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get(PAYMENTS, params=params, headers=h)
        seen += [p["id"] for p in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(i["id"] for i in items)
    r = await client.get(PAYMENTS, params={"area": "620722101"}, headers=h)
    assert r.json()["items"] == []
    # Directors and supervisors read the payments of their children.
    r = await client.get(PAYMENTS, headers=world["director"].headers)
    assert len(r.json()["items"]) == 6


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "10.505"},
        {"amount": "-5"},
        {"amount": "0"},
        {"period": "2026-13"},
        {"period": None},  # neither period nor paid_on
        {"paid_on": "2026-01-05"},  # both
        {"kind": "bonus"},
        {"child_id": "nope"},
    ],
)
async def test_bad_items_are_422(client, world, session, settings, change):
    child = await make_child(session, settings, VILLAGE)
    item = {**payment_item(child.id), **change}
    r = await client.post(PAYMENTS, json={"items": [item]}, headers=world["officer"].headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_empty_or_far_future(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    h = world["officer"].headers
    r = await client.post(PAYMENTS, json={"items": []}, headers=h)
    assert r.status_code == 422
    out = await _post(client, h, payment_item(child.id, period="2099-01"))
    assert out["results"][0]["error"]["code"] == "period_in_future"


async def test_roles_and_clients(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    for name in ("director", "supervisor", "reporter", "auditor", "admin"):
        r = await client.post(
            PAYMENTS, json={"items": [payment_item(child.id)]}, headers=world[name].headers
        )
        assert r.status_code == 403, name
    civil = await seed_client(session, settings, scopes=["subsidies:write"], area=COUNTY)
    out = await _post(client, civil.headers, payment_item(child.id))
    assert out["created"] == 1
    r = await client.get(PAYMENTS, headers=civil.headers)
    assert len(r.json()["items"]) == 1
    other = await seed_client(session, settings, scopes=["subsidies:write"], area=COUNTY_OTHER)
    out = await _post(client, other.headers, payment_item(child.id))
    assert out["results"][0]["error"]["code"] == "unknown_child"
    reader = await seed_client(session, settings, scopes=["children:read"], area=COUNTY)
    r = await client.post(
        PAYMENTS, json={"items": [payment_item(child.id)]}, headers=reader.headers
    )
    assert r.status_code == 403 and r.json()["code"] == "missing_scope"
    for name in OUTSIDERS:
        r = await client.get(PAYMENTS, headers=world[name].headers)
        assert r.status_code == 200 and str(child.id) not in r.text
