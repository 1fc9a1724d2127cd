"""GET /children for a user is one statement in autocommit (issue #23), every filter and
the cursor included: the session check, the scoped page and one `child.list` audit row per
child served, in page order; no BEGIN, no COMMIT. The rules hold: scope, revocation at once,
and a role or area changed since the token is scoped by the account's row."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from tests.conftest import VILLAGE, VILLAGE_OTHER_COUNTY, VILLAGE_SAME_TOWNSHIP
from tests.visits.visit_factories import StatementLog, registered_child

CHILDREN = "/api/v1/children"


async def _listed(session) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    r = await session.execute(
        text(
            "SELECT actor_id, actor_role, resource_type, resource_id, county_code, area_code "
            "FROM audit_log WHERE action = 'child.list' ORDER BY id"
        )
    )
    return [tuple(row) for row in r]


async def test_a_page_is_one_statement_with_its_audit_rows(client, db, session, settings, world):
    mine = [await registered_child(session, settings, VILLAGE, name=f"童{i}") for i in range(3)]
    await registered_child(session, settings, VILLAGE_SAME_TOWNSHIP, name="邻")
    await session.commit()
    director = world["director"]
    for params in (
        {},
        {"limit": 2},
        {"risk_level": ["blue", "yellow"], "status": "active", "q": "童", "age_min": 0},
    ):
        assert (await client.get(CHILDREN, params=params, headers=director.headers)).is_success
        before = await _listed(session)
        with StatementLog(db) as log:
            r = await client.get(CHILDREN, params=params, headers=director.headers)
        assert r.status_code == 200, r.text
        assert len(log.statements) == 1, (params, log.statements)
        assert log.statements[0].startswith("WITH session_check AS"), params
        body = r.json()
        ids = [i["id"] for i in body["items"]]
        expected = sorted(str(c.id) for c in mine)[: params.get("limit", 50)]
        assert ids == expected, params
        # One audit row per child served, in page order, in the child's village.
        after = await _listed(session)
        assert after[len(before) :] == [
            (director.id, director.user.role, "child", c, VILLAGE[:6], VILLAGE)
            for c in map(uuid.UUID, ids)
        ], params
    # The next page, by the cursor: one statement too.
    r = await client.get(CHILDREN, params={"limit": 2}, headers=director.headers)
    cursor = r.json()["next_cursor"]
    with StatementLog(db) as log:
        r = await client.get(
            CHILDREN, params={"limit": 2, "cursor": cursor}, headers=director.headers
        )
    assert r.status_code == 200 and len(log.statements) == 1
    assert [i["id"] for i in r.json()["items"]] == sorted(str(c.id) for c in mine)[2:]
    assert r.json()["next_cursor"] is None


async def test_outside_the_scope_revoked_or_moved(client, db, session, settings, world):
    mine = await registered_child(session, settings, VILLAGE)
    other = await registered_child(session, settings, VILLAGE_SAME_TOWNSHIP)
    far = await registered_child(session, settings, VILLAGE_OTHER_COUNTY)
    await session.commit()
    director = world["director"]
    # Another village asked for: nothing listed, nothing audited (the scope wins).
    before = await _listed(session)
    r = await client.get(CHILDREN, params={"area": VILLAGE_OTHER_COUNTY}, headers=director.headers)
    assert r.status_code == 200 and r.json()["items"] == []
    assert await _listed(session) == before
    # A township supervisor sees both villages of the township, not the other county.
    r = await client.get(CHILDREN, headers=world["supervisor"].headers)
    listed = {i["id"] for i in r.json()["items"]}
    assert {str(mine.id), str(other.id)} <= listed and str(far.id) not in listed
    before = await _listed(session)
    # Moved to the next village since the token: scoped by the account's row.
    await session.execute(
        text("UPDATE users SET area_code = :a WHERE id = :u"),
        {"a": VILLAGE_SAME_TOWNSHIP, "u": director.id},
    )
    await session.commit()
    r = await client.get(CHILDREN, headers=director.headers)
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]] == [str(other.id)]
    after = await _listed(session)
    assert [row[3] for row in after[len(before) :]] == [other.id]
    # Deactivated, or logged out: 401 at once, nothing read or audited.
    await session.execute(
        text("UPDATE users SET is_active = false WHERE id = :u"), {"u": director.id}
    )
    await session.commit()
    r = await client.get(CHILDREN, headers=director.headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    supervisor = world["supervisor"]
    await session.execute(
        text("UPDATE token_families SET revoked_at = now() WHERE user_id = :u"),
        {"u": supervisor.id},
    )
    await session.commit()
    with StatementLog(db) as log:
        r = await client.get(CHILDREN, params={"status": "active"}, headers=supervisor.headers)
    assert r.status_code == 401 and len(log.statements) == 1
    assert await _listed(session) == after
    # A role outside the matrix: 403, nothing audited.
    r = await client.get(CHILDREN, headers=world["reporter"].headers)
    assert r.status_code == 403
    assert await _listed(session) == after
