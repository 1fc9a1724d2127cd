"""Pairings and cases over HTTP: permissions per DESIGN.md, scope 404s, idempotent creates on
a client id, 412 on stale edits, clear 4xx on bad input."""

from __future__ import annotations

import uuid

import pytest

from tests.care.care_support import CASES, PAIRINGS, case_body, pairing_body
from tests.conftest import OUTSIDER_OFFICERS, OUTSIDER_SUPERVISORS, OUTSIDERS, VILLAGE
from tests.factories import make_child


async def test_pairing_create_is_idempotent_and_edits_are_guarded(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, risk_level="orange")
    h = world["director"].headers
    body = pairing_body(child.id)
    first = await client.post(PAIRINGS, json=body, headers=h)
    assert first.status_code == 201 and first.headers["etag"] == '"1"'
    again = await client.post(PAIRINGS, json=body, headers=h)
    assert again.status_code == 200 and again.json() == first.json()
    # The same id for another child is a conflict, not a second record.
    other = await make_child(session, settings, VILLAGE)
    r = await client.post(PAIRINGS, json={**body, "child_id": str(other.id)}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "id_taken"

    pid = first.json()["id"]
    r = await client.patch(
        f"{PAIRINGS}/{pid}", json={"note": "每周电话"}, headers={**h, "If-Match": '"1"'}
    )
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    r = await client.patch(
        f"{PAIRINGS}/{pid}", json={"note": "旧的"}, headers={**h, "If-Match": '"1"'}
    )
    assert r.status_code == 412
    r = await client.post(
        f"{PAIRINGS}/{pid}/end", json={"end_reason": "other"}, headers={**h, "If-Match": '"1"'}
    )
    assert r.status_code == 412

    # Several helpers per child; the list pages by id.
    await client.post(PAIRINGS, json=pairing_body(child.id, helper_kind="teacher"), headers=h)
    r = await client.get(PAIRINGS, params={"child_id": str(child.id), "limit": 1}, headers=h)
    page = r.json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    r = await client.get(
        PAIRINGS,
        params={"child_id": str(child.id), "limit": 1, "cursor": page["next_cursor"]},
        headers=h,
    )
    assert len(r.json()["items"]) == 1

    # Contacts: idempotent on their id.
    contact = {"id": str(uuid.uuid4()), "contacted_at": "2026-01-05T08:00:00Z", "kind": "home"}
    r = await client.post(f"{PAIRINGS}/{pid}/contacts", json=contact, headers=h)
    assert r.status_code == 201, r.text
    r = await client.post(f"{PAIRINGS}/{pid}/contacts", json=contact, headers=h)
    assert r.status_code == 200
    r = await client.get(f"{PAIRINGS}/{pid}/contacts", headers=h)
    assert [c["kind"] for c in r.json()["items"]] == ["home"]


@pytest.mark.parametrize(
    "change",
    [
        {"helper_kind": "aunt"},
        {"helper_name": ""},
        {"helper_phone": "12"},
        {"starts_on": "2026-13-01"},
        {"ends_on": "2000-01-01"},
        {"surprise": 1},
    ],
)
async def test_pairing_bad_input(client, world, session, settings, change):
    child = await make_child(session, settings, VILLAGE)
    r = await client.post(
        PAIRINGS, json=pairing_body(child.id, **change), headers=world["director"].headers
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_pairing_scope_and_roles(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    r = await client.post(PAIRINGS, json=pairing_body(child.id), headers=world["director"].headers)
    pid = r.json()["id"]
    for name in (*OUTSIDERS, *OUTSIDER_SUPERVISORS, *OUTSIDER_OFFICERS):
        h = world[name].headers
        assert (await client.get(f"{PAIRINGS}/{pid}", headers=h)).status_code == 404, name
        r = await client.post(PAIRINGS, json=pairing_body(child.id), headers=h)
        assert r.status_code == 404, name
        r = await client.post(
            f"{PAIRINGS}/{pid}/contacts",
            json={"contacted_at": "2026-01-05T08:00:00Z", "kind": "phone"},
            headers=h,
        )
        assert r.status_code == 404, name
        assert (await client.get(PAIRINGS, headers=h)).json()["items"] == []
    for name in ("reporter", "auditor", "admin"):
        h = world[name].headers
        assert (await client.get(f"{PAIRINGS}/{pid}", headers=h)).status_code == 403, name
        r = await client.post(PAIRINGS, json=pairing_body(child.id), headers=h)
        assert r.status_code == 403, name


async def test_case_lifecycle_and_timeline(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, risk_level="red")
    h = world["supervisor"].headers
    body = case_body(child.id, review_on="2099-01-01")
    r = await client.post(CASES, json=body, headers=h)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["owner_id"] == str(world["supervisor"].id) and case["status"] == "open"
    assert (await client.post(CASES, json=body, headers=h)).status_code == 200

    cid = case["id"]
    r = await client.patch(
        f"{CASES}/{cid}",
        json={"assessment": {"safety": {"level": "high", "note": "父亲酗酒"}}},
        headers={**h, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["assessment"]["safety"]["level"] == "high"
    r = await client.patch(
        f"{CASES}/{cid}", json={"summary": "x"}, headers={**h, "If-Match": '"1"'}
    )
    assert r.status_code == 412

    measure = {
        "id": str(uuid.uuid4()),
        "kind": "psychological_support",
        "responsible": "县心理中心",
    }
    r = await client.post(f"{CASES}/{cid}/measures", json=measure, headers=h)
    assert r.status_code == 201, r.text
    assert (
        await client.post(f"{CASES}/{cid}/measures", json=measure, headers=h)
    ).status_code == 200
    # The village director logs the measure done, but may not plan or close.
    d = world["director"].headers
    r = await client.post(f"{CASES}/{cid}/measures/{measure['id']}/done", json={}, headers=d)
    assert r.status_code == 200, r.text
    assert r.json()["measures"][0]["status"] == "done"
    r = await client.post(f"{CASES}/{cid}/measures", json={**measure, "id": None}, headers=d)
    assert r.status_code == 403
    assert (await client.post(CASES, json=case_body(child.id), headers=d)).status_code == 403
    r = await client.post(f"{CASES}/{cid}/close", json={"outcome": "resolved"}, headers=d)
    assert r.status_code == 403

    version = (await client.get(f"{CASES}/{cid}", headers=h)).headers["etag"]
    r = await client.post(
        f"{CASES}/{cid}/close", json={"outcome": "resolved"}, headers={**h, "If-Match": version}
    )
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = await client.post(f"{CASES}/{cid}/close", json={"outcome": "resolved"}, headers=h)
    assert r.status_code == 409

    r = await client.get(f"{CASES}/{cid}/timeline", headers=d)
    assert [e["kind"] for e in r.json()] == [
        "opened",
        "assessed",
        "measure_added",
        "measure_done",
        "closed",
    ]


@pytest.mark.parametrize(
    "change",
    [{"reason": "whim"}, {"owner_id": "not-a-uuid"}, {"review_on": "soon"}, {"extra": 1}],
)
async def test_case_bad_input(client, world, session, settings, change):
    child = await make_child(session, settings, VILLAGE)
    r = await client.post(
        CASES, json=case_body(child.id, **change), headers=world["officer"].headers
    )
    assert r.status_code == 422, r.text


async def test_case_owner_must_be_a_supervisor_or_officer_of_the_area(
    client, world, session, settings
):
    child = await make_child(session, settings, VILLAGE)
    for owner in ("director", "supervisor_other_township", "officer_other_county"):
        r = await client.post(
            CASES,
            json=case_body(child.id, owner_id=str(world[owner].id)),
            headers=world["officer"].headers,
        )
        assert r.status_code == 422 and r.json()["code"] == "owner_not_eligible", owner


async def test_case_scope(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    r = await client.post(CASES, json=case_body(child.id), headers=world["officer"].headers)
    cid = r.json()["id"]
    for name in (*OUTSIDERS, *OUTSIDER_SUPERVISORS, *OUTSIDER_OFFICERS):
        h = world[name].headers
        assert (await client.get(f"{CASES}/{cid}", headers=h)).status_code == 404, name
        assert (await client.get(f"{CASES}/{cid}/timeline", headers=h)).status_code == 404
        assert (await client.get(CASES, headers=h)).json()["items"] == []
    for name in OUTSIDER_SUPERVISORS + OUTSIDER_OFFICERS:
        r = await client.post(CASES, json=case_body(child.id), headers=world[name].headers)
        assert r.status_code == 404, name
    for name in ("reporter", "auditor", "admin"):
        assert (await client.get(f"{CASES}/{cid}", headers=world[name].headers)).status_code == 403
