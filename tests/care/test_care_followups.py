"""Two gaps of the first care-work round: a measure can be cancelled (with a reason on the
timeline), and the child's old single helper fields, set by a later edit, become a pairing
that meets `needs_pairing` like any other."""

from __future__ import annotations

import uuid

from tests.care.care_support import CASES, CHILDREN, PAIRINGS, case_body, open_duties, set_risk
from tests.conftest import OUTSIDER_OFFICERS, OUTSIDER_SUPERVISORS, OUTSIDERS, VILLAGE
from tests.factories import make_child


async def _case_with_measures(client, world, session, settings, n=2):
    child = await make_child(session, settings, VILLAGE, risk_level="red")
    h = world["supervisor"].headers
    r = await client.post(CASES, json=case_body(child.id), headers=h)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    ids = []
    for _ in range(n):
        m = {"id": str(uuid.uuid4()), "kind": "living_assistance", "responsible": "乡民政办"}
        assert (await client.post(f"{CASES}/{cid}/measures", json=m, headers=h)).status_code == 201
        ids.append(m["id"])
    return cid, ids


async def test_cancel_measure_records_reason_and_is_idempotent(client, world, session, settings):
    cid, (mid, done_id) = await _case_with_measures(client, world, session, settings)
    h = world["officer"].headers
    before = (await client.get(f"{CASES}/{cid}", headers=h)).headers["etag"]
    r = await client.post(
        f"{CASES}/{cid}/measures/{mid}/cancel", json={"reason": "家长已返乡照料"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] != before
    status = {m["id"]: m["status"] for m in r.json()["measures"]}
    assert status[mid] == "cancelled" and status[done_id] == "planned"
    # Again: answers as it is, no second timeline event.
    r = await client.post(
        f"{CASES}/{cid}/measures/{mid}/cancel", json={"reason": "重复"}, headers=h
    )
    assert r.status_code == 200
    events = (await client.get(f"{CASES}/{cid}/timeline", headers=h)).json()
    cancelled = [e for e in events if e["kind"] == "measure_cancelled"]
    assert len(cancelled) == 1 and cancelled[0]["data"]["reason"] == "家长已返乡照料"
    # A cancelled measure cannot be logged done; a done one cannot be cancelled.
    d = world["director"].headers
    r = await client.post(f"{CASES}/{cid}/measures/{mid}/done", json={}, headers=d)
    assert r.status_code == 409 and r.json()["code"] == "measure_cancelled"
    assert (
        await client.post(f"{CASES}/{cid}/measures/{done_id}/done", json={}, headers=d)
    ).status_code == 200
    r = await client.post(
        f"{CASES}/{cid}/measures/{done_id}/cancel", json={"reason": "x"}, headers=h
    )
    assert r.status_code == 409 and r.json()["code"] == "measure_done"


async def test_cancel_measure_bad_input_roles_and_scope(client, world, session, settings):
    cid, (mid, _) = await _case_with_measures(client, world, session, settings)
    url = f"{CASES}/{cid}/measures/{mid}/cancel"
    h = world["supervisor"].headers
    for body in ({}, {"reason": ""}, {"reason": "x", "extra": 1}, {"reason": "a\u0000b"}):
        r = await client.post(url, json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
    r = await client.post(
        f"{CASES}/{cid}/measures/{uuid.uuid4()}/cancel", json={"reason": "x"}, headers=h
    )
    assert r.status_code == 404
    # Directors log measures done but do not plan: they may not cancel.
    for name in ("director", "reporter", "auditor", "admin"):
        r = await client.post(url, json={"reason": "x"}, headers=world[name].headers)
        assert r.status_code == 403, name
    for name in (*OUTSIDERS, *OUTSIDER_SUPERVISORS, *OUTSIDER_OFFICERS):
        r = await client.post(url, json={"reason": "x"}, headers=world[name].headers)
        assert r.status_code in (403, 404), name
        if name not in OUTSIDERS:
            assert r.status_code == 404, name
    measures = (await client.get(f"{CASES}/{cid}", headers=h)).json()["measures"]
    assert {m["status"] for m in measures} == {"planned"}


async def test_helper_set_by_edit_becomes_a_pairing(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    await set_risk(client, world, child.id, "orange", "director")
    assert "needs_pairing" in await open_duties(session, child.id)
    h = world["director"].headers
    etag = (await client.get(f"{CHILDREN}/{child.id}", headers=h)).headers["etag"]
    r = await client.patch(
        f"{CHILDREN}/{child.id}",
        json={"pairing_helper_name": "李爱心", "pairing_helper_phone": "13900000002"},
        headers={**h, "If-Match": etag},
    )
    assert r.status_code == 200, r.text
    items = (await client.get(PAIRINGS, params={"child_id": str(child.id)}, headers=h)).json()
    active = [p for p in items["items"] if p["status"] == "active"]
    assert [(p["helper_name"], p["helper_phone"]) for p in active] == [("李爱心", "13900000002")]
    assert "needs_pairing" not in await open_duties(session, child.id)
    # The same name again starts no second pairing.
    etag = r.headers["etag"]
    r = await client.patch(
        f"{CHILDREN}/{child.id}",
        json={"pairing_helper_name": "李爱心", "address": "二组"},
        headers={**h, "If-Match": etag},
    )
    assert r.status_code == 200, r.text
    items = (await client.get(PAIRINGS, params={"child_id": str(child.id)}, headers=h)).json()
    assert len([p for p in items["items"] if p["status"] == "active"]) == 1
