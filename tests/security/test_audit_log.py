"""GET /audit: county officers, auditors and admins, in their scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.children.child_payloads import CHILDREN
from tests.conftest import VILLAGE, VILLAGE_OTHER_COUNTY
from tests.factories import make_child

AUDIT = "/api/v1/audit"


async def test_audit_log_is_scoped_and_filtered(client, world, session, settings):
    a = await make_child(session, settings, VILLAGE)
    c = await make_child(session, settings, VILLAGE_OTHER_COUNTY)
    start = datetime.now(UTC) - timedelta(seconds=5)
    await client.get(f"{CHILDREN}/{a.id}", headers=world["director"].headers)
    await client.get(f"{CHILDREN}/{a.id}", headers=world["supervisor"].headers)
    await client.get(f"{CHILDREN}/{c.id}", headers=world["director_other_county"].headers)

    r = await client.get(AUDIT, headers=world["officer"].headers)
    assert r.status_code == 200
    rows = r.json()["items"]
    assert [(x["action"], x["resource_id"], x["actor_id"]) for x in rows] == [
        ("child.read", str(a.id), str(world["supervisor"].id)),
        ("child.read", str(a.id), str(world["director"].id)),
    ]
    r = await client.get(
        AUDIT, params={"user_id": str(world["director"].id)}, headers=world["admin"].headers
    )
    assert [x["actor_id"] for x in r.json()["items"]] == [str(world["director"].id)]
    r = await client.get(AUDIT, params={"child_id": str(c.id)}, headers=world["officer"].headers)
    assert r.json()["items"] == []  # another county's child
    r = await client.get(
        AUDIT, params={"child_id": str(c.id)}, headers=world["officer_other_county"].headers
    )
    assert len(r.json()["items"]) == 1
    r = await client.get(AUDIT, params={"child_id": str(c.id)}, headers=world["admin"].headers)
    assert len(r.json()["items"]) == 1
    r = await client.get(AUDIT, params={"since": start.isoformat()}, headers=world["admin"].headers)
    assert len(r.json()["items"]) == 3
    r = await client.get(
        AUDIT, params={"since": "2999-01-01T00:00:00Z"}, headers=world["admin"].headers
    )
    assert r.json()["items"] == []
    # Pages, newest first.
    r = await client.get(AUDIT, params={"limit": 2}, headers=world["admin"].headers)
    first = r.json()
    r = await client.get(
        AUDIT, params={"limit": 2, "cursor": first["next_cursor"]}, headers=world["admin"].headers
    )
    assert len(first["items"]) == 2 and len(r.json()["items"]) == 1
    assert first["items"][0]["id"] > first["items"][1]["id"] > r.json()["items"][0]["id"]


async def test_audit_log_roles_and_bad_inputs(client, world):
    for actor in ("director", "supervisor", "reporter"):
        r = await client.get(AUDIT, headers=world[actor].headers)
        assert r.status_code == 403, actor
    for params, field in [
        ({"child_id": "x"}, "child_id"),
        ({"user_id": "x"}, "user_id"),
        ({"since": "later"}, "since"),
        ({"cursor": "WyJ4Il0"}, "cursor"),
        ({"limit": 1000}, "limit"),
    ]:
        r = await client.get(AUDIT, params=params, headers=world["officer"].headers)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, params
    assert (await client.get(AUDIT)).status_code == 401
