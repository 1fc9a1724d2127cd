"""bench/baseline.py measures the API against a bare-minimum server doing the same work: the
comparison only means something while the baseline issues exactly the API's SQL, writes the
same audit rows and answers the same JSON. These tests hold it to that."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from bench import baseline
from sqlalchemy import text

from tests.children.child_payloads import CHILDREN, new_child
from tests.conftest import VILLAGE, VILLAGE_SAME_TOWNSHIP
from tests.visits.visit_factories import WORKLIST, StatementLog, put_visit, registered_child


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
