"""Pairings, cases and alerts reach the phones through the sync feed: pairings and cases by
area (like agreements), alerts to the phone of the user they are for."""

from __future__ import annotations

from tests.care.care_support import CASES, PAIRINGS, case_body, pairing_body, set_risk
from tests.conftest import VILLAGE
from tests.factories import make_child
from tests.sync.test_sync_feed import drain, upserts


async def test_initial_load_and_changes_carry_care_records(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, risk_level="orange")
    r = await client.post(PAIRINGS, json=pairing_body(child.id), headers=world["director"].headers)
    pairing = r.json()
    _, director_cursor, _ = await drain(client, world["director"])
    _, officer_cursor, _ = await drain(client, world["officer"])
    _, other_cursor, _ = await drain(client, world["officer_other_county"])

    # In the initial load: the pairing, in the village director's copy.
    items, _, _ = await drain(client, world["director"])
    assert ("pairing", pairing["id"]) in upserts(items)

    # Raised to red: a case is opened and the officer is alerted.
    await set_risk(client, world, child.id, "red", "supervisor")
    r = await client.post(CASES, json=case_body(child.id), headers=world["supervisor"].headers)
    case = r.json()

    items, _, _ = await drain(client, world["director"], director_cursor)
    got = upserts(items)
    assert ("case", case["id"]) in got
    assert got[("case", case["id"])]["data"]["status"] == "open"
    assert not any(t == "alert" for t, _ in got)  # alerts are the officers'

    items, _, _ = await drain(client, world["officer"], officer_cursor)
    alerts = [i for i in items if i["type"] == "alert"]
    assert [a["data"]["kind"] for a in alerts] == ["child_red"]

    items, _, _ = await drain(client, world["officer_other_county"], other_cursor)
    assert not any(i["type"] in ("alert", "case", "pairing") for i in items)

    # The initial load of the officer has the alert too.
    items, _, _ = await drain(client, world["officer"])
    assert any(i["type"] == "alert" for i in items)
