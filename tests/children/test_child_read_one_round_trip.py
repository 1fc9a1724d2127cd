"""GET /children/{id} for a user is one statement in autocommit (issue #23): the session
check, the scoped read and the audit row together; no BEGIN, no COMMIT. The rules hold:
scope, revocation at once, and a role or area changed since the token is scoped by the
account's row."""

from __future__ import annotations

from sqlalchemy import text

from tests.conftest import VILLAGE_SAME_TOWNSHIP
from tests.visits.visit_factories import StatementLog, registered_child

CHILDREN = "/api/v1/children"


async def _audited(session, child_id) -> int:  # type: ignore[no-untyped-def]
    r = await session.execute(
        text("SELECT count(*) FROM audit_log WHERE action = 'child.read' AND resource_id = :c"),
        {"c": child_id},
    )
    return int(r.scalar_one())


async def test_a_child_read_is_one_statement_with_its_audit_row(
    client, db, session, settings, world
):
    child = await registered_child(session, settings)
    await session.commit()
    headers = world["director"].headers
    path = f"{CHILDREN}/{child.id}"
    assert (await client.get(path, headers=headers)).status_code == 200  # warm
    with StatementLog(db) as log:
        r = await client.get(path, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == str(child.id)
    # One statement, sent alone (rawsql.Raw.fetch_alone: no transaction begun; bench/
    # profile_reads.py shows the wire: no BEGIN, no COMMIT).
    assert len(log.statements) == 1, log.statements
    assert log.statements[0].startswith("WITH session_check AS")
    assert await _audited(session, child.id) == 2


async def test_outside_the_scope_revoked_or_moved(client, session, settings, world):
    child = await registered_child(session, settings)
    other = await registered_child(session, settings, VILLAGE_SAME_TOWNSHIP)
    await session.commit()
    director = world["director"]
    path = f"{CHILDREN}/{child.id}"
    # Another village's child: 404, nothing audited.
    assert (await client.get(f"{CHILDREN}/{other.id}", headers=director.headers)).status_code == 404
    assert await _audited(session, other.id) == 0
    # Moved to the other village since the token: scoped by the account's row.
    await session.execute(
        text("UPDATE users SET area_code = :a WHERE id = :u"),
        {"a": VILLAGE_SAME_TOWNSHIP, "u": director.id},
    )
    await session.commit()
    assert (await client.get(path, headers=director.headers)).status_code == 404
    r = await client.get(f"{CHILDREN}/{other.id}", headers=director.headers)
    assert r.status_code == 200, r.text
    assert await _audited(session, other.id) == 1
    # Deactivated: 401 at once, nothing read or audited.
    await session.execute(
        text("UPDATE users SET is_active = false WHERE id = :u"), {"u": director.id}
    )
    await session.commit()
    r = await client.get(f"{CHILDREN}/{other.id}", headers=director.headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _audited(session, other.id) == 1
    assert await _audited(session, child.id) == 0
