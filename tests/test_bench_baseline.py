"""bench/baseline.py measures the API against a bare-minimum server doing the same work: the
comparison only means something while the baseline issues exactly the API's SQL, writes the
same audit rows and answers the same JSON. These tests hold it to that."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from bench import baseline
from sqlalchemy import text

from childprotect_api.models.base import utcnow
from tests.children.child_payloads import CHILDREN, new_child
from tests.conftest import VILLAGE, VILLAGE_SAME_TOWNSHIP
from tests.visits.visit_factories import (
    VISITS,
    WORKLIST,
    StatementLog,
    put_visit,
    registered_child,
    visit_body,
)


@pytest.fixture
async def base_client(database_url, settings) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    app = baseline.baseline_app(database_url, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


@pytest.fixture
async def village(client, session, settings, world) -> dict[str, Any]:
    """A village with a full record (parents, subsidies), overdue children, a visit with an
    open follow-up and a visit returned to the director."""
    director = world["director"]
    r = await client.post(CHILDREN, json=new_child(), headers=director.headers)
    assert r.status_code == 201, r.text
    full = r.json()
    # Red: visited an hour ago and due again within a day, so on the worklist.
    others = [
        await registered_child(session, settings, VILLAGE, name=f"童{i}", risk_level="red")
        for i in range(3)
    ]
    await put_visit(client, director, others[0].id)
    returned = await put_visit(client, director, others[1].id)
    r = await client.post(
        f"/api/v1/visits/{returned['id']}/review",
        json={"decision": "return", "comment": "缺少照片"},
        headers=world["supervisor"].headers | {"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    return {"full": full["id"], "others": [str(c.id) for c in others]}


def _paths(village: dict[str, Any]) -> dict[str, str]:
    return {
        "child": f"{CHILDREN}/{village['full']}",
        "worklist": WORKLIST,
        "children": CHILDREN,
    }


async def test_the_baseline_issues_the_apis_statements(client, db, world, village):
    headers = world["director"].headers
    for read, path in _paths(village).items():
        with StatementLog(db) as log:
            r = await client.get(path, headers=headers)
        assert r.status_code == 200, r.text
        assert log.statements == baseline.STATEMENTS[read], read


async def _audit_rows(session) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    rows = await session.execute(
        text(
            "SELECT action, resource_type, resource_id, county_code, area_code, actor_role "
            "FROM audit_log ORDER BY id"
        )
    )
    return [tuple(r) for r in rows]


async def test_the_baseline_answers_the_same_json_and_audits_the_same(
    client, base_client, session, world, village
):
    headers = world["director"].headers
    for read, path in _paths(village).items():
        before = len(await _audit_rows(session))
        api = await client.get(path, headers=headers)
        after_api = await _audit_rows(session)
        base = await base_client.get(path, headers=headers)
        after_base = await _audit_rows(session)
        assert api.status_code == base.status_code == 200, (read, base.text)
        assert api.headers.get("etag") == base.headers.get("etag"), read
        assert api.headers["content-type"] == base.headers["content-type"], read
        api_json, base_json = api.json(), base.json()
        if read == "worklist":
            assert api_json.pop("as_of") and base_json.pop("as_of")
            assert api_json["returned_visits"]
            assert any(i["open_follow_ups"] for i in api_json["items"])
        if read == "child":
            assert api_json["father"]["work_place"] and api_json["subsidies"]
        assert base_json == api_json, read
        # The same audit rows, written once each.
        api_rows = after_api[before:]
        assert api_rows and after_base[len(after_api) :] == api_rows, read


async def test_the_baseline_checks_the_token_and_the_session(base_client, session, world):
    path = f"{CHILDREN}?limit=1"
    assert (await base_client.get(path)).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert (await base_client.get(path, headers=bad)).status_code == 401
    await session.execute(
        text("UPDATE token_families SET revoked_at = now() WHERE user_id = :u"),
        {"u": world["director"].id},
    )
    await session.commit()
    assert (await base_client.get(path, headers=world["director"].headers)).status_code == 401


# --- the one-statement baseline (issue #23) ---------------------------------------------------


@pytest.fixture
async def one_app(database_url, settings) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    # One connection, so that the warm-up request of a test warms the one measured.
    app = baseline.one_statement_app(database_url, settings.model_copy(update={"db_pool_size": 1}))
    app.state.one_statement.log_statements = True  # asyncpg's query logger on every connection
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def one_client(one_app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=one_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_the_one_statement_baseline_answers_the_same_json_and_audits_the_same(
    client, one_client, one_app, session, world, village
):
    sent = one_app.state.one_statement.statements
    for caller in ("director", "supervisor", "officer"):
        headers = world[caller].headers
        for read, path in _paths(village).items():
            # Warm: asyncpg introspects a statement's result types on a connection once.
            assert (await one_client.get(path, headers=headers)).status_code == 200
            before = len(await _audit_rows(session))
            api = await client.get(path, headers=headers)
            after_api = await _audit_rows(session)
            sent.clear()
            one = await one_client.get(path, headers=headers)
            after_one = await _audit_rows(session)
            assert api.status_code == one.status_code == 200, (caller, read, one.text)
            # One statement over the wire for the whole request: no BEGIN, no COMMIT.
            assert len(sent) == 1 and sent[0].startswith("WITH s AS"), (caller, read, sent)
            assert api.headers.get("etag") == one.headers.get("etag"), (caller, read)
            assert api.headers["content-type"] == one.headers["content-type"], read
            api_json, one_json = api.json(), one.json()
            if read == "worklist":
                assert api_json.pop("as_of") and one_json.pop("as_of")
                assert api_json["items"], (caller, read)
                if caller == "director":
                    assert api_json["returned_visits"]
                    assert any(i["open_follow_ups"] for i in api_json["items"])
            if read == "child":
                assert api_json["father"]["work_place"] and api_json["subsidies"]
            assert one_json == api_json, (caller, read)
            api_rows = after_api[before:]
            assert api_rows and after_one[len(after_api) :] == api_rows, (caller, read)


async def test_the_one_statement_baseline_keeps_scope_and_sessions(
    client, one_client, one_app, session, world, village
):
    path = f"{CHILDREN}/{village['full']}"
    before = len(await _audit_rows(session))
    # Another village's director: 404, as from the API, and nothing audited.
    for name in ("director_other_village", "director_other_county"):
        headers = world[name].headers
        assert (await client.get(path, headers=headers)).status_code == 404
        assert (await one_client.get(path, headers=headers)).status_code == 404
    assert len(await _audit_rows(session)) == before
    assert (await one_client.get(path)).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert (await one_client.get(path, headers=bad)).status_code == 401
    # Moved to another village after the token was issued: scoped by the account's row now,
    # as the API does (a second statement, scoped by the row).
    director = world["director"]
    await session.execute(
        text("UPDATE users SET area_code = :a WHERE id = :u"),
        {"a": VILLAGE_SAME_TOWNSHIP, "u": director.id},
    )
    await session.commit()
    sent = one_app.state.one_statement.statements
    sent.clear()
    assert (await client.get(path, headers=director.headers)).status_code == 404
    assert (await one_client.get(path, headers=director.headers)).status_code == 404
    assert len(sent) == 2
    # A revoked login session answers 401 at once.
    await session.execute(
        text("UPDATE token_families SET revoked_at = now() WHERE user_id = :u"), {"u": director.id}
    )
    await session.commit()
    for read_path in _paths(village).values():
        assert (await one_client.get(read_path, headers=director.headers)).status_code == 401
    assert len(await _audit_rows(session)) == before


# --- the one-statement baseline: the sync changes page and the visit PUT (issue #23) --------

SYNC = "/api/v1/sync/changes"


def _sync_comparable(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "next_cursor": baseline.comparable_cursor(body["next_cursor"])}


async def _compare_sync(client, one_client, sent, session, headers, path):  # type: ignore[no-untyped-def]
    """The same page from both (one statement on the wire for the baseline's) and the same
    audit rows (the API's children in the order it reads them: compared as sets)."""
    before = len(await _audit_rows(session))
    api = await client.get(path, headers=headers)
    after_api = await _audit_rows(session)
    sent.clear()
    one = await one_client.get(path, headers=headers)
    after_one = await _audit_rows(session)
    assert api.status_code == one.status_code == 200, (path, one.text)
    assert len(sent) == 1 and sent[0].startswith("WITH s AS"), (path, sent)
    assert api.headers["content-type"] == one.headers["content-type"]
    api_json, one_json = api.json(), one.json()
    assert _sync_comparable(one_json) == _sync_comparable(api_json), path
    api_rows = after_api[before:]
    assert sorted(after_one[len(after_api) :], key=str) == sorted(api_rows, key=str), path
    return api_json


async def test_the_one_statement_sync_page_is_the_apis(
    client, one_client, one_app, session, world, village
):
    headers = world["director"].headers
    sent = one_app.state.one_statement.statements
    # Warm: asyncpg introspects a statement's result types on a connection once.
    assert (await one_client.get(SYNC, headers=headers)).status_code == 200
    # The initial load in small pages: children, then visits; every page the API's.
    kinds: set[str] = set()
    path, pages = f"{SYNC}?limit=3", 0
    while True:
        page = await _compare_sync(client, one_client, sent, session, headers, path)
        kinds |= {i["kind"] for i in page["items"]}
        pages += 1
        cursor = page["next_cursor"]
        path = f"{SYNC}?limit=3&cursor={cursor}"
        if baseline.sync_feed.SyncCursor.decode(cursor).phase == "c":
            break
    assert pages > 2 and kinds >= {"child", "visit", "pairing", "category_application"}
    # The changes after the load: a new visit (its child moves), a corrected one (a
    # superseded version: a tombstone) and the page after a cursor, in pages of 2.
    director = world["director"]
    visit = await put_visit(client, director, village["others"][2])
    r = await client.post(
        f"/api/v1/visits/{visit['id']}/corrections",
        json={**visit_body(village["others"][2]), "id": str(uuid.uuid4()),
              "correction_reason": "时间记错"},
        headers=director.headers | {"If-Match": '"1"'},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    items: list[dict[str, Any]] = []
    path = f"{SYNC}?limit=2&cursor={cursor}"
    while True:
        page = await _compare_sync(client, one_client, sent, session, headers, path)
        items += page["items"]
        path = f"{SYNC}?limit=2&cursor={page['next_cursor']}"
        if not page["has_more"]:
            break
    assert {(i["kind"], i.get("reason")) for i in items} >= {
        ("child", None), ("visit", None), ("tombstone", "superseded"),
    }  # fmt: skip
    # Another user's cursor: 410, as from the API.
    other = world["director_other_village"].headers
    path = f"{SYNC}?cursor={cursor}"
    assert (await client.get(path, headers=other)).status_code == 410
    assert (await one_client.get(path, headers=other)).status_code == 410


async def _rows(session, sql: str, **params: Any) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    return [tuple(r) for r in await session.execute(text(sql), params)]


async def test_the_one_statement_visit_put_writes_what_the_api_writes(
    client, one_client, one_app, session, settings, world
):
    director = world["director"]
    sent = one_app.state.one_statement.statements
    # Two children alike: the API logs a visit to one, the baseline to the other.
    twins = [
        await registered_child(session, settings, VILLAGE, name="双胞", risk_level="orange")
        for _ in range(2)
    ]
    spare = await registered_child(session, settings, VILLAGE, name="热身")
    warm = await one_client.put(
        f"{VISITS}/{uuid.uuid4()}", json=visit_body(spare.id), headers=director.headers
    )
    assert warm.status_code == 201, warm.text
    at = utcnow() - timedelta(minutes=10)
    ids = [uuid.uuid4(), uuid.uuid4()]
    audit_before = len(await _audit_rows(session))
    api = await client.put(
        f"{VISITS}/{ids[0]}", json=visit_body(twins[0].id, at), headers=director.headers
    )
    sent.clear()
    one = await one_client.put(
        f"{VISITS}/{ids[1]}", json=visit_body(twins[1].id, at), headers=director.headers
    )
    assert api.status_code == one.status_code == 201, one.text
    assert len(sent) == 1 and sent[0].startswith("WITH s AS"), sent
    assert api.headers["etag"] == one.headers["etag"] == '"1"'
    api_json, one_json = api.json(), one.json()
    for body, vid, child in ((api_json, ids[0], twins[0]), (one_json, ids[1], twins[1])):
        assert body.pop("id") == body.pop("original_id") == str(vid)
        assert body.pop("child_id") == str(child.id)
        assert body.pop("created_at")
    assert one_json == api_json
    # The same rows: audit, outbox, change log, and the child's last visit and due date.
    audit = (await _audit_rows(session))[audit_before:]
    assert [r[:2] for r in audit] == [("create", "visit")] * 2
    assert [r[2] for r in audit] == ids and audit[0][3:] == audit[1][3:]
    outbox = await _rows(
        session,
        "SELECT resource_id, event_type, county_code, area_code, resource_type, "
        "payload->>'child_id' FROM outbox_events WHERE resource_id = ANY(:ids) ORDER BY id",
        ids=ids,
    )
    assert [r[0] for r in outbox] == ids and outbox[0][1:5] == outbox[1][1:5]
    assert [r[5] for r in outbox] == [str(c.id) for c in twins]
    log = await _rows(
        session,
        "SELECT entity_type, op, version FROM sync_changes WHERE entity_id = ANY(:ids) "
        "ORDER BY txid, seq",
        ids=[*ids, *(c.id for c in twins)],
    )
    assert log.count(("visit", "U", 1)) == 2 and log.count(("child", "U", 2)) == 2, log
    children = await _rows(
        session,
        "SELECT last_visit_at, next_visit_due, version, updated_by FROM children "
        "WHERE id = ANY(:ids) ORDER BY name, id",
        ids=[c.id for c in twins],
    )
    assert children[0] == children[1]
    assert children[0][0] == at and children[0][1] == at + timedelta(days=7)
    # A retry: the stored visit, 200, audited as a read; other content under the id: 409.
    before = len(await _audit_rows(session))
    sent.clear()
    again = await one_client.put(
        f"{VISITS}/{ids[1]}", json=visit_body(twins[1].id, at), headers=director.headers
    )
    api_again = await client.put(
        f"{VISITS}/{ids[0]}", json=visit_body(twins[0].id, at), headers=director.headers
    )
    assert again.status_code == api_again.status_code == 200 and len(sent) == 1
    assert again.json()["id"] == str(ids[1]) and again.json()["created_at"]
    rows = (await _audit_rows(session))[before:]
    assert [r[:3] for r in rows] == [("read", "visit", ids[1]), ("read", "visit", ids[0])]
    other = visit_body(twins[1].id, at, notes="别的内容")
    assert (await client.put(f"{VISITS}/{ids[0]}", json=other, headers=director.headers)
            ).status_code == 409  # fmt: skip
    assert (await one_client.put(f"{VISITS}/{ids[1]}", json=other, headers=director.headers)
            ).status_code == 409  # fmt: skip


async def test_the_one_statement_visit_put_and_sync_keep_scope_and_sessions(
    client, one_client, one_app, session, settings, world
):
    child = await registered_child(session, settings, VILLAGE)
    before = len(await _audit_rows(session))
    log_before = await _rows(session, "SELECT count(*) FROM sync_changes")
    # Another village's director: 404 for the child, as from the API, and nothing written.
    for name in ("director_other_village", "director_other_county"):
        headers = world[name].headers
        path = f"{VISITS}/{uuid.uuid4()}"
        assert (await client.put(path, json=visit_body(child.id), headers=headers)
                ).status_code == 404  # fmt: skip
        assert (await one_client.put(path, json=visit_body(child.id), headers=headers)
                ).status_code == 404  # fmt: skip
    # Bad input: 422 (a visit in the future; no token: 401).
    director = world["director"]
    future = visit_body(child.id, utcnow() + timedelta(hours=1))
    path = f"{VISITS}/{uuid.uuid4()}"
    assert (await client.put(path, json=future, headers=director.headers)).status_code == 422
    assert (await one_client.put(path, json=future, headers=director.headers)).status_code == 422
    assert (await one_client.put(path, json=visit_body(child.id))).status_code == 401
    assert (await one_client.get(SYNC)).status_code == 401
    assert (await one_client.get(f"{SYNC}?cursor=nope", headers=director.headers)
            ).status_code == 422  # fmt: skip
    assert len(await _audit_rows(session)) == before
    assert await _rows(session, "SELECT count(*) FROM sync_changes") == log_before
    # A revoked login session answers 401 at once, and nothing is written.
    await session.execute(
        text("UPDATE token_families SET revoked_at = now() WHERE user_id = :u"), {"u": director.id}
    )
    await session.commit()
    assert (await one_client.get(SYNC, headers=director.headers)).status_code == 401
    path = f"{VISITS}/{uuid.uuid4()}"
    assert (await one_client.put(path, json=visit_body(child.id), headers=director.headers)
            ).status_code == 401  # fmt: skip
    assert len(await _audit_rows(session)) == before
    assert await _rows(session, "SELECT count(*) FROM sync_changes") == log_before


def test_the_visit_put_requests_are_new_visits_and_some_retries():
    """Each visit PUT of the load is a new visit (a new id and time as it is sent), but one
    in REPEAT_EVERY, a retry of a stored visit (same id, same content: answered 200)."""
    children = [uuid.uuid4() for _ in range(3)]
    target = baseline.Target(VILLAGE, uuid.uuid4(), "t", [], active_ids=children)
    reqs = baseline.requests_for("visit_put", [target], random.Random(1))
    puts = [p for p, _ in reqs]
    assert len(puts) == 3 * baseline.REPEAT_EVERY and baseline.NEW_ID in puts[0].path
    retries = [p for p in puts if baseline.NEW_ID not in p.path]
    assert len(retries) == 3 and len({p.path for p in retries}) == 3
    new = puts[0]
    sent = [baseline._request_bytes(new, "t") for _ in range(2)]
    assert sent[0] != sent[1] and baseline.NEW_ID.encode() not in sent[0]
    assert baseline.VISITED_NOW.encode() not in sent[0]
    assert baseline._request_bytes(retries[0], "t") == baseline._request_bytes(retries[0], "t")
    assert sent[0].startswith(b"PUT /api/v1/visits/")
