"""Directors file category applications offline: the push op `apply_category` and the feed
item `category_application`."""

from __future__ import annotations

import uuid

from tests.benefits.benefit_helpers import APPLICATIONS, application_body
from tests.conftest import VILLAGE, VILLAGE_OTHER_COUNTY
from tests.factories import make_child
from tests.sync.test_sync_feed import drain

PUSH = "/api/v1/sync/push"


def _op(child_id, **kw):  # type: ignore[no-untyped-def]
    body = application_body(**kw)
    app_id = body.pop("id")
    return {
        "op": "apply_category",
        "client_id": str(uuid.uuid4()),
        "id": app_id,
        "data": {**body, "child_id": str(child_id)},
    }


async def test_push_apply_category_is_idempotent_and_scoped(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    foreign = await make_child(session, settings, VILLAGE_OTHER_COUNTY)
    ops = [
        _op(child.id),
        _op(foreign.id),
        _op(child.id, category="wizard"),
        {**_op(child.id), "data": {"category": "orphan", "basis": "x"}},  # no child_id
    ]
    h = world["director"].headers
    r = await client.post(PUSH, json={"operations": ops}, headers=h)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["created", "rejected", "rejected", "rejected"]
    assert results[0]["type"] == "category_application"
    assert results[0]["record"]["status"] == "submitted"
    assert [x["problem"]["status"] for x in results[1:]] == [404, 422, 422]
    again = await client.post(PUSH, json={"operations": ops[:1]}, headers=h)
    assert again.json()["results"][0]["status"] == "unchanged"
    got = await client.get(f"{APPLICATIONS}/{ops[0]['id']}", headers=h)
    assert got.status_code == 200 and got.json()["child_id"] == str(child.id)


async def test_the_feed_carries_applications_to_their_area_only(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    r = await client.post(
        f"/api/v1/children/{child.id}/category-applications",
        json=application_body(),
        headers=world["director"].headers,
    )
    app_id = r.json()["id"]
    items, _, _ = await drain(client, world["director"])
    assert any(i["type"] == "category_application" and i["id"] == app_id for i in items)
    other, _, _ = await drain(client, world["director_other_village"])
    assert not any(i.get("id") == app_id for i in other)
