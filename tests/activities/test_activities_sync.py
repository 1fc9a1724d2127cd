"""Activities and sites in the offline sync feed (initial load and changes, in scope only)
and logged from the phone through sync/push."""

from __future__ import annotations

from tests.activities.activity_helpers import ACTIVITIES, SITES, activity_body, site_body
from tests.conftest import COUNTY, VILLAGE, VILLAGE_SAME_TOWNSHIP
from tests.sync.test_sync_feed import drain, upserts


async def test_initial_load_and_changes_carry_activities_and_sites(client, world):
    officer = world["officer"].headers
    site = (await client.post(SITES, json=site_body(VILLAGE), headers=officer)).json()
    mine = (
        await client.post(
            ACTIVITIES, json=activity_body(VILLAGE, site_id=site["id"]), headers=officer
        )
    ).json()
    county = (await client.post(ACTIVITIES, json=activity_body(COUNTY), headers=officer)).json()
    neighbour = (
        await client.post(ACTIVITIES, json=activity_body(VILLAGE_SAME_TOWNSHIP), headers=officer)
    ).json()

    items, cursor, _ = await drain(client, world["director"], limit=2)
    got = upserts(items)
    assert ("site", site["id"]) in got and ("activity", mine["id"]) in got
    assert got[("activity", mine["id"])]["data"] == mine
    assert ("activity", county["id"]) not in got and ("activity", neighbour["id"]) not in got
    kinds = [i["type"] for i in items if i["op"] == "upsert"]
    assert kinds.index("site") < kinds.index("activity")

    # An edit comes as a change; another village's new activity does not.
    r = await client.patch(
        f"{ACTIVITIES}/{mine['id']}",
        json={"participants": 99},
        headers={**officer, "If-Match": '"1"'},
    )
    assert r.status_code == 200
    await client.post(ACTIVITIES, json=activity_body(VILLAGE_SAME_TOWNSHIP), headers=officer)
    items, cursor, _ = await drain(client, world["director"], cursor)
    got = upserts(items)
    assert set(got) == {("activity", mine["id"])}
    assert got[("activity", mine["id"])]["data"]["participants"] == 99

    # Moved to the next village: a tombstone for this director.
    r = await client.patch(
        f"{ACTIVITIES}/{mine['id']}",
        json={"area_code": VILLAGE_SAME_TOWNSHIP, "site_id": None},
        headers={**officer, "If-Match": '"2"'},
    )
    assert r.status_code == 200, r.text
    items, cursor, _ = await drain(client, world["director"], cursor)
    assert [(i["type"], i["id"], i["op"]) for i in items] == [("activity", mine["id"], "delete")]
    # The officer's phone sees all of it.
    items, _, _ = await drain(client, world["officer"])
    assert {("activity", a["id"]) for a in (mine, county, neighbour)} <= set(upserts(items))


PUSH = "/api/v1/sync/push"


async def test_push_create_activity_is_idempotent_and_scoped(client, world):
    import uuid

    director = world["director"].headers
    body = activity_body(VILLAGE)
    aid = body.pop("id")
    ops = [
        {"op": "create_activity", "client_id": str(uuid.uuid4()), "id": aid, "data": body},
        {
            "op": "create_activity",
            "client_id": str(uuid.uuid4()),
            "id": str(uuid.uuid4()),
            "data": activity_body(VILLAGE_SAME_TOWNSHIP),
        },
        {
            "op": "create_activity",
            "client_id": str(uuid.uuid4()),
            "id": str(uuid.uuid4()),
            "data": {**activity_body(VILLAGE), "kind": "party"},
        },
    ]
    ops[1]["data"].pop("id")
    ops[2]["data"].pop("id")
    r = await client.post(PUSH, json={"operations": ops}, headers=director)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["created", "rejected", "rejected"]
    assert results[0]["type"] == "activity" and results[0]["record"]["id"] == aid
    assert results[1]["problem"]["status"] == 404
    assert results[2]["problem"]["status"] == 422
    again = await client.post(PUSH, json={"operations": ops[:1]}, headers=director)
    assert again.json()["results"][0]["status"] == "unchanged"
    got = await client.get(f"{ACTIVITIES}/{aid}", headers=director)
    assert got.status_code == 200 and got.json()["title"] == body["title"]
    r = await client.post(PUSH, json={"operations": ops[:1]}, headers=world["auditor"].headers)
    assert r.status_code == 403 or r.json()["results"][0]["status"] == "rejected"
