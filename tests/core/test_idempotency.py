"""The Idempotency-Key header on the create operations: a replay answers the first answer,
another request under the same key is refused, a key in use is 409, keys are per principal,
and the key commits in the work's own transaction (never one without the other)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select, text, update

from childprotect_api.core import idempotency
from childprotect_api.main import ROUTERS
from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.client import IntegrationClient
from childprotect_api.models.idempotency import IdempotencyKey
from childprotect_api.routers import children as children_router
from tests.children.child_payloads import CHILDREN, new_child
from tests.conftest import VILLAGE, VILLAGE_OTHER_COUNTY
from tests.visits.visit_factories import PNG, VISITS, put_visit, registered_child

KEY = "Idempotency-Key"


def _with_key(actor, key: str) -> dict[str, str]:
    return {**actor.headers, KEY: key}


async def _children(session) -> int:
    return (await session.execute(select(func.count()).select_from(Child))).scalar_one()


async def _keys(session) -> list[IdempotencyKey]:
    stmt = select(IdempotencyKey).execution_options(populate_existing=True)
    return list((await session.execute(stmt)).scalars())


async def test_same_key_same_body_answers_the_first_answer(client, world, session):
    director = world["director"]
    body = new_child(with_id=False)  # no client id: only the key prevents a second record
    key = str(uuid.uuid4())
    first = await client.post(CHILDREN, json=body, headers=_with_key(director, key))
    assert first.status_code == 201, first.text
    assert first.headers.get("Idempotent-Replayed") is None
    again = await client.post(CHILDREN, json=body, headers=_with_key(director, key))
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["ETag"] == first.headers["ETag"] == '"1"'
    assert again.headers["content-type"] == "application/json"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await _children(session) == 1
    # The replay shows the record again: audited as a read of it.
    replays = (
        await session.execute(select(AuditEvent).where(AuditEvent.action == "replay"))
    ).scalars()
    assert [(e.resource_type, str(e.resource_id), e.area_code) for e in replays] == [
        ("child", first.json()["id"], VILLAGE)
    ]
    # Without the key the same body is a second child (the key is what made it one).
    r = await client.post(CHILDREN, json=new_child(with_id=False), headers=director.headers)
    assert r.status_code == 201 and await _children(session) == 2


async def test_same_key_other_body_is_422(client, world, session):
    director = world["director"]
    key = "phone-1:op-17"
    r = await client.post(CHILDREN, json=new_child(), headers=_with_key(director, key))
    assert r.status_code == 201, r.text
    r = await client.post(CHILDREN, json=new_child(name="李小草"), headers=_with_key(director, key))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "idempotency_key_reused"
    assert r.json()["errors"][0]["field"] == KEY
    assert await _children(session) == 1


async def test_keys_belong_to_their_principal(client, world, session):
    key = "same-key"
    a = await client.post(CHILDREN, json=new_child(), headers=_with_key(world["director"], key))
    b = await client.post(CHILDREN, json=new_child(), headers=_with_key(world["supervisor"], key))
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert {k.principal_id for k in await _keys(session)} == {
        world["director"].id,
        world["supervisor"].id,
    }


async def test_a_request_still_running_makes_the_duplicate_409(client, world, session, monkeypatch):
    director = world["director"]
    started, release = asyncio.Event(), asyncio.Event()
    original = children_router.service.create_child

    async def slow_create(*args, **kwargs):  # type: ignore[no-untyped-def]
        started.set()
        await release.wait()
        return await original(*args, **kwargs)

    monkeypatch.setattr(children_router.service, "create_child", slow_create)
    body, headers = new_child(), _with_key(director, "k-concurrent")
    first = asyncio.create_task(client.post(CHILDREN, json=body, headers=headers))
    await asyncio.wait_for(started.wait(), 10)
    r = await client.post(CHILDREN, json=body, headers=headers)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "idempotency_in_progress"
    assert r.headers["Retry-After"] == "1"
    # Another key is not held up by it.
    other = asyncio.create_task(
        client.post(CHILDREN, json=new_child(), headers=_with_key(director, "k-other"))
    )
    release.set()
    assert (await first).status_code == 201
    assert (await other).status_code == 201
    r = await client.post(CHILDREN, json=body, headers=headers)
    assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true"
    assert await _children(session) == 2


async def test_an_error_stores_nothing_and_the_key_stays_free(client, world, session):
    director = world["director"]
    key = "k-after-error"
    # Out of scope: 404, nothing done, nothing stored.
    r = await client.post(
        CHILDREN, json=new_child(VILLAGE_OTHER_COUNTY), headers=_with_key(director, key)
    )
    assert r.status_code == 404
    assert await _keys(session) == []
    # The corrected request under the same key runs.
    r = await client.post(CHILDREN, json=new_child(), headers=_with_key(director, key))
    assert r.status_code == 201, r.text
    assert r.headers.get("Idempotent-Replayed") is None


async def test_a_server_error_is_not_stored(client, world, session, monkeypatch):
    director = world["director"]

    async def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    original = children_router.service.create_child
    monkeypatch.setattr(children_router.service, "create_child", broken)
    body, headers = new_child(), _with_key(director, "k-500")
    r = await client.post(CHILDREN, json=body, headers=headers)
    assert r.status_code == 500
    monkeypatch.setattr(children_router.service, "create_child", original)
    r = await client.post(CHILDREN, json=body, headers=headers)
    assert r.status_code == 201 and r.headers.get("Idempotent-Replayed") is None


async def test_work_and_key_commit_together(client, world, session, monkeypatch):
    """A failure after the answer was stored (as a failed commit would be) leaves neither the
    child nor the key: they are one transaction."""
    original = idempotency.store

    async def store_then_fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        await original(*args, **kwargs)
        raise RuntimeError("the commit fails")

    monkeypatch.setattr(idempotency, "store", store_then_fail)
    body, headers = new_child(), _with_key(world["director"], "k-atomic")
    r = await client.post(CHILDREN, json=body, headers=headers)
    assert r.status_code == 500
    assert await _children(session) == 0
    assert await _keys(session) == []
    monkeypatch.setattr(idempotency, "store", original)
    r = await client.post(CHILDREN, json=body, headers=headers)
    assert r.status_code == 201
    assert await _children(session) == 1 and len(await _keys(session)) == 1


@pytest.mark.parametrize("key", ["", "a" * 256, "cl\xe9".encode("latin-1"), "with space"])
async def test_malformed_keys_are_422(client, world, key):
    r = await client.post(CHILDREN, json=new_child(), headers=_with_key(world["director"], key))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == KEY


async def test_expired_keys_run_again_and_are_pruned(client, world, session):
    director = world["director"]
    body, headers = new_child(id=str(uuid.uuid4())), _with_key(director, "k-old")
    r = await client.post(CHILDREN, json=body, headers=headers)
    assert r.status_code == 201
    await session.execute(update(IdempotencyKey).values(expires_at=utcnow() - timedelta(minutes=1)))
    await session.commit()
    # Run again: the child's own client id answers the stored record (200), the key is
    # stored anew with that answer.
    r = await client.post(CHILDREN, json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers.get("Idempotent-Replayed") is None
    [row] = await _keys(session)
    assert row.status_code == 200 and row.expires_at > utcnow() + timedelta(hours=23)
    await session.execute(update(IdempotencyKey).values(expires_at=utcnow() - timedelta(minutes=1)))
    assert await idempotency.prune(session, utcnow(), 30) == 1
    await session.commit()
    assert await _keys(session) == []


async def test_stored_answers_are_encrypted(client, world, session):
    """A new integration client's secret is in its answer: replayed, but never stored in
    clear."""
    admin = world["admin"]
    body = {"name": "教育局学籍系统", "area_code": "620722", "scopes": ["children:read"]}
    first = await client.post("/api/v1/clients", json=body, headers=_with_key(admin, "k-client"))
    assert first.status_code == 201, first.text
    again = await client.post("/api/v1/clients", json=body, headers=_with_key(admin, "k-client"))
    assert again.json()["client_secret"] == first.json()["client_secret"]
    assert (
        await session.execute(select(func.count()).select_from(IntegrationClient))
    ).scalar() == 1
    raw = (
        await session.execute(text("SELECT response_enc, request_hash FROM idempotency_keys"))
    ).one()
    assert first.json()["client_secret"].encode() not in bytes(raw.response_enc)
    assert b"client_secret" not in bytes(raw.response_enc)


async def test_uploads_are_hashed_by_their_content(client, world, session, settings):
    director = world["director"]
    child = await registered_child(session, settings)
    visit = await put_visit(client, director, child.id)
    url = f"{VISITS}/{visit['id']}/attachments"
    headers = _with_key(director, "k-upload")
    first = await client.post(url, files={"file": ("a.png", PNG, "image/png")}, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post(url, files={"file": ("a.png", PNG, "image/png")}, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = await client.post(
        url, files={"file": ("a.png", PNG + b"x", "image/png")}, headers=headers
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


async def test_every_create_operation_takes_the_header(app):
    doc = app.openapi()
    takes = {
        op["operationId"]
        for ops in doc["paths"].values()
        for op in ops.values()
        if {"$ref": "#/components/parameters/IdempotencyKey"} in op.get("parameters", [])
    }
    assert doc["components"]["parameters"]["IdempotencyKey"]["name"] == KEY
    creates = {
        op["operationId"]
        for ops in doc["paths"].values()
        for method, op in ops.items()
        if method == "post" and ({"201", "202"} & set(op["responses"]))
    }
    assert creates <= takes, creates - takes
    for op_id in ("createChild", "createReport", "createAgreement", "createWebhook"):
        assert op_id in takes
    for ops in doc["paths"].values():
        for op in ops.values():
            if op["operationId"] in takes:
                assert "idempotency_in_progress" in op["responses"]["409"]["description"]


def test_every_route_with_the_header_stores_its_answers():
    """The dependency finds the replay; only IdempotentRoute turns it into the answer and
    stores new answers in the request's transaction."""
    with_key = [
        route
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        and any(d.dependency is idempotency.idempotency for d in route.dependencies)
    ]
    assert len(with_key) >= 15
    assert all(isinstance(route, idempotency.IdempotentRoute) for route in with_key)
