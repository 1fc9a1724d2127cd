"""The scope matrix of every children endpoint: users of another village, township or county
get 404 (exactly as for a missing child); roles outside the registry (reporter, auditor,
admin) get 403; the caller in scope succeeds (so each check can fail)."""

from __future__ import annotations

import uuid

import pytest

from tests.children.child_payloads import CHILDREN, new_child
from tests.conftest import (
    OUTSIDER_OFFICERS,
    OUTSIDER_SUPERVISORS,
    OUTSIDERS,
    VILLAGE,
    VILLAGE_SAME_TOWNSHIP,
)
from tests.factories import make_child

OUT_OF_SCOPE = (*OUTSIDERS, *OUTSIDER_SUPERVISORS, *OUTSIDER_OFFICERS)
NOT_IN_MATRIX = ("reporter", "auditor", "admin")

# name: (method, path under /children/{id}, body, who succeeds in scope, with which status)
ENDPOINTS = {
    "get": ("GET", "", None, "director", 200),
    "get_reveal": ("GET", "?reveal_id_number=true", None, "officer", 200),
    "patch": ("PATCH", "", {"school": "洪水镇中心小学"}, "director", 200),
    "risk": ("PUT", "/risk", {"level": "yellow", "reason": "祖父母年迈"}, "director", 200),
    "risk_history": ("GET", "/risk-history", None, "supervisor", 200),
    "history": ("GET", "/history", None, "supervisor", 200),
    "close": ("POST", "/close", {"reason": "moved_away"}, "director", 200),
    "reopen": ("POST", "/reopen", {"reason": "返乡"}, "director", 409),  # found, not closed
    "transfer": (
        "POST",
        "/transfer",
        {"to_area_code": VILLAGE_SAME_TOWNSHIP, "reason": "随母亲迁居"},
        "supervisor",
        200,
    ),
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_child_endpoint_scope(client, world, session, settings, endpoint):
    method, suffix, body, insider, ok_status = ENDPOINTS[endpoint]
    child = await make_child(session, settings, VILLAGE)
    url = f"{CHILDREN}/{child.id}{suffix}"

    async def call(actor: str, target: str = url):
        headers = {**world[actor].headers, "If-Match": '"1"'}
        return await client.request(method, target, json=body, headers=headers)

    for actor in OUT_OF_SCOPE:
        r = await call(actor)
        assert r.status_code == 404, (actor, r.text)
        assert r.json()["code"] == "not_found"
    # ...exactly like a child that does not exist.
    missing = await call(insider, f"{CHILDREN}/{uuid.uuid4()}{suffix}")
    assert missing.status_code == 404
    for actor in NOT_IN_MATRIX:
        r = await call(actor)
        assert r.status_code == 403, (actor, r.text)
    r = await call(insider)
    assert r.status_code == ok_status, r.text


async def test_list_scope(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    for actor in OUT_OF_SCOPE:
        r = await client.get(CHILDREN, headers=world[actor].headers)
        assert r.status_code == 200
        assert str(child.id) not in r.text, actor
        # Asking for the village by name does not widen the scope.
        r = await client.get(CHILDREN, params={"area": VILLAGE}, headers=world[actor].headers)
        assert r.status_code == 200 and r.json()["items"] == [], actor
    for actor in NOT_IN_MATRIX:
        assert (await client.get(CHILDREN, headers=world[actor].headers)).status_code == 403
    for actor in ("director", "supervisor", "officer"):
        r = await client.get(CHILDREN, headers=world[actor].headers)
        assert [c["id"] for c in r.json()["items"]] == [str(child.id)], actor


async def test_create_scope(client, world):
    for actor in OUT_OF_SCOPE:
        r = await client.post(CHILDREN, json=new_child(VILLAGE), headers=world[actor].headers)
        assert r.status_code == 404, actor
    for actor in NOT_IN_MATRIX:
        r = await client.post(CHILDREN, json=new_child(VILLAGE), headers=world[actor].headers)
        assert r.status_code == 403, actor
    for actor in ("director", "supervisor", "officer"):
        r = await client.post(CHILDREN, json=new_child(VILLAGE), headers=world[actor].headers)
        assert r.status_code == 201, actor


async def test_unauthenticated_is_401(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    assert (await client.get(CHILDREN)).status_code == 401
    assert (await client.get(f"{CHILDREN}/{child.id}")).status_code == 401
