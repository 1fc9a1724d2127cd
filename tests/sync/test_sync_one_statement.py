"""A user's changes page is ONE statement in autocommit (issue #23, services/sync/at_once.py):
the session check, the rate-limit count, the scoped log page, the current records and their
audit rows together; no BEGIN, no COMMIT. It answers what feed.py's path answers; the rules
hold: scope, revocation at once (401, nothing read, audited or counted), a role or area
changed since the token (feed.py's path: 410 for the old cursor), pages it does not cover."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from childprotect_api.models.audit import AuditEvent
from childprotect_api.security import rate_limit
from childprotect_api.services.sync import at_once
from tests.agreements import agreement_helpers
from tests.conftest import VILLAGE, VILLAGE_SAME_TOWNSHIP
from tests.reports import report_support
from tests.sync.test_sync_feed import SYNC, drain, edit_child, page, upserts, village_world
from tests.visits.visit_factories import put_visit
from tests.wire import Wire


async def _sync_audit(session, actor_id) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    rows = (
        await session.execute(
            select(AuditEvent.resource_type, AuditEvent.resource_id).where(
                AuditEvent.action == "sync", AuditEvent.actor_id == actor_id
            )
        )
    ).all()
    return sorted((t, str(i) if i is not None else None) for t, i in rows)


def _slow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(at_once, "fast_cursor", lambda *a, **k: None)


async def _changed(client, world, w) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A child edited, a visit logged (its child's due date moves), an agreement signed."""
    director = world["director"]
    child = await edit_child(client, director, w["a"].id, school="洪水镇中学")
    visit = await put_visit(client, director, w["c"].id)
    r = await agreement_helpers.sign(client, director.headers, w["agreement"]["id"], "guardian")
    assert r.status_code == 200, r.text
    return {"child": child, "visit": visit}


async def test_a_changes_page_is_one_statement_with_its_audit_rows(
    client, db, session, settings, world, monkeypatch
):
    w = await village_world(client, world, session, settings)
    director = world["director"]
    _, cursor, _ = await drain(client, director)
    changed = await _changed(client, world, w)
    before = await _sync_audit(session, director.id)

    await asyncio.sleep(0.1)
    with Wire(db) as wire:
        r = await client.get(SYNC, params={"cursor": cursor}, headers=director.headers)
        await asyncio.sleep(0.3)  # anything sent after the answer counts too
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    # One statement, sent alone: no BEGIN, no COMMIT, no rate-limit transaction of its own.
    assert len(wire.statements) == 1, wire.statements
    assert "session_check AS" in wire.statements[0]
    assert "INSERT INTO rate_limit_counters" in wire.statements[0]
    body = r.json()
    got = upserts(body["items"])
    assert got[("child", str(w["a"].id))]["data"] == changed["child"]
    assert ("visit", changed["visit"]["id"]) in got
    assert ("child", str(w["c"].id)) in got
    assert ("agreement", w["agreement"]["id"]) in got
    assert body["has_more"] is False

    # Its audit rows: each child and agreement served, one row for the visits.
    added = await _sync_audit(session, director.id)
    for row in before:
        added.remove(row)
    assert added == sorted(
        [
            ("agreement", w["agreement"]["id"]),
            ("child", str(w["a"].id)),
            ("child", str(w["c"].id)),
            ("visit", None),
        ]
    )

    # feed.py's path answers the same page (items and has_more; the cursor's horizon moves
    # with every transaction in between), and audits the same records.
    _slow_path(monkeypatch)
    with Wire(db) as wire:
        slow = await client.get(SYNC, params={"cursor": cursor}, headers=director.headers)
        await asyncio.sleep(0.3)
    assert slow.status_code == 200, slow.text
    assert len(wire.statements) > 1  # BEGIN, the session check, reads, audit, COMMIT
    assert slow.json()["items"] == body["items"]
    assert slow.json()["has_more"] is False
    again = await _sync_audit(session, director.id)
    for row in before + added:
        again.remove(row)
    assert again == added


async def test_pages_follow_the_limit_and_the_cursor(client, db, session, settings, world):
    w = await village_world(client, world, session, settings)
    director = world["director"]
    _, cursor, _ = await drain(client, director)
    for _ in range(3):
        await put_visit(client, director, w["a"].id)
    seen: list[tuple[str, str]] = []
    pages = 0
    while True:
        body = await page(client, director, cursor, limit=2)
        pages += 1
        assert len(body["items"]) <= 2
        seen += [(i["type"], i["id"]) for i in body["items"]]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
        assert pages < 20
    assert sum(1 for t, _ in seen if t == "visit") == 3
    assert ("child", str(w["a"].id)) in seen
    assert (await page(client, director, cursor))["items"] == []


async def test_revoked_or_deactivated_is_401_at_once(client, session, settings, world):
    w = await village_world(client, world, session, settings)
    director = world["director"]
    _, cursor, _ = await drain(client, director)
    await _changed(client, world, w)
    before = await _sync_audit(session, director.id)
    counted = text("SELECT coalesce(sum(count), 0) FROM rate_limit_counters WHERE key = :k")
    key = {"k": f"sync:user:{director.id}"}
    count_before = (await session.execute(counted, key)).scalar_one()
    await session.execute(
        text("UPDATE users SET is_active = false WHERE id = :u"), {"u": director.id}
    )
    await session.commit()
    r = await client.get(SYNC, params={"cursor": cursor}, headers=director.headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _sync_audit(session, director.id) == before
    assert (await session.execute(counted, key)).scalar_one() == count_before


async def test_other_villages_changes_are_not_served(client, session, settings, world):
    w = await village_world(client, world, session, settings)
    neighbour = world["director_other_village"]
    _, cursor, _ = await drain(client, neighbour)
    await _changed(client, world, w)
    before = await _sync_audit(session, neighbour.id)
    body = await page(client, neighbour, cursor)
    assert body["items"] == []
    assert await _sync_audit(session, neighbour.id) == before


async def test_a_moved_account_takes_the_rows_scope(client, session, settings, world):
    w = await village_world(client, world, session, settings)
    director = world["director"]
    _, cursor, _ = await drain(client, director)
    await _changed(client, world, w)
    before = await _sync_audit(session, director.id)
    await session.execute(
        text("UPDATE users SET area_code = :a WHERE id = :u"),
        {"a": VILLAGE_SAME_TOWNSHIP, "u": director.id},
    )
    await session.commit()
    # The token still says the old village; the row wins: the old cursor is for another scope.
    r = await client.get(SYNC, params={"cursor": cursor}, headers=director.headers)
    assert r.status_code == 410, r.text
    assert r.json()["code"] == "sync_cursor_expired"
    assert await _sync_audit(session, director.id) == before


async def test_a_page_with_a_report_takes_feed_py_s_path_once(client, db, session, settings, world):
    w = await village_world(client, world, session, settings)
    director = world["director"]
    _, cursor, _ = await drain(client, director)
    await put_visit(client, director, w["a"].id)
    own = await report_support.file(client, world, "director", area_code=VILLAGE)
    before = await _sync_audit(session, director.id)
    counted = text("SELECT coalesce(sum(count), 0) FROM rate_limit_counters WHERE key = :k")
    key = {"k": f"sync:user:{director.id}"}
    count_before = (await session.execute(counted, key)).scalar_one()
    with Wire(db) as wire:
        r = await client.get(SYNC, params={"cursor": cursor}, headers=director.headers)
        await asyncio.sleep(0.3)
    assert r.status_code == 200, r.text
    assert ("report", own["id"]) in upserts(r.json()["items"])
    # The one statement found a record it does not render: it read and audited nothing and
    # counted the request; feed.py's path (its own transaction) answered, without counting.
    assert "session_check AS" in wire.statements[0]
    assert wire.starting("BEGIN") and wire.starting("COMMIT")
    assert (await session.execute(counted, key)).scalar_one() == count_before + 1
    added = await _sync_audit(session, director.id)
    for row in before:
        added.remove(row)
    assert added == sorted([("child", str(w["a"].id)), ("visit", None)])


async def test_the_rate_limit_is_counted_in_the_statement(
    client, app, session, settings, world, monkeypatch
):
    w = await village_world(client, world, session, settings)
    director = world["director"]
    _, cursor, _ = await drain(client, director)
    await _changed(client, world, w)
    counted = text("SELECT count FROM rate_limit_counters WHERE key = :k")
    key = {"k": f"sync:user:{director.id}"}
    await session.execute(text("DELETE FROM rate_limit_counters WHERE key = :k"), key)
    await session.commit()
    monkeypatch.setitem(app.state.settings.rate_limits, "sync", 2)
    # One window for the whole test (the rate limit's own clock, as tests/security's).
    frozen = datetime.now(UTC).replace(second=30, microsecond=0)
    monkeypatch.setattr(rate_limit, "clock", lambda: frozen)
    before = await _sync_audit(session, director.id)
    for n in (1, 2):
        await page(client, director, cursor)
        assert (await session.execute(counted, key)).scalar_one() == n
    audited = await _sync_audit(session, director.id)
    r = await client.get(SYNC, params={"cursor": cursor}, headers=director.headers)
    assert r.status_code == 429
    assert r.json()["code"] == "rate_limited"
    assert r.headers["Retry-After"] == "30"
    # Over the limit: counted, nothing read or audited.
    assert (await session.execute(counted, key)).scalar_one() == 3
    assert await _sync_audit(session, director.id) == audited
    assert len(audited) > len(before)


async def test_supervisors_and_officers_in_one_statement_see_their_scope_only(
    client, db, session, settings, world
):
    """A township supervisor and a county officer (other scope shapes of the same statement)
    get the changes of their villages in one statement; those of another township or county
    get nothing and audit nothing."""
    w = await village_world(client, world, session, settings)
    cursors = {}
    for name in ("supervisor", "officer", "supervisor_other_township", "officer_other_county"):
        _, cursors[name], _ = await drain(client, world[name])
    changed = await _changed(client, world, w)
    for name in ("supervisor", "officer"):
        actor = world[name]
        with Wire(db) as wire:
            r = await client.get(SYNC, params={"cursor": cursors[name]}, headers=actor.headers)
            await asyncio.sleep(0.3)
        assert r.status_code == 200, r.text
        assert len(wire.statements) == 1, (name, wire.statements)
        got = upserts(r.json()["items"])
        assert ("visit", changed["visit"]["id"]) in got, name
        assert got[("child", str(w["a"].id))]["data"] == changed["child"], name
        assert ("child", str(w["a"].id)) in await _sync_audit(session, actor.id)
    for name in ("supervisor_other_township", "officer_other_county"):
        actor = world[name]
        before = await _sync_audit(session, actor.id)
        assert (await page(client, actor, cursors[name]))["items"] == [], name
        assert await _sync_audit(session, actor.id) == before, name
