"""A user's initial load is ONE statement in autocommit when the app has no read replica
(issue #23, services/sync/load_at_once.py): the session check, the rate-limit count, the
first page's horizon, the records across types under one LIMIT and their audit rows together;
no BEGIN, no COMMIT. Page by page it answers what feed.py's path answers (items, next cursor,
audit rows), over every page boundary; the rules hold: revocation at once, a role or area
changed since the token (feed.py's path, counted once), the rate limit (counted once), scope,
closed and anonymised children, pages of types it does not render, and the replica."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from childprotect_api.core.db import Database
from childprotect_api.models.audit import AuditEvent
from childprotect_api.security import rate_limit
from childprotect_api.services.retention import anonymise_expired
from childprotect_api.services.sync import load_at_once
from childprotect_api.services.sync.feed import SyncCursor
from tests.agreements import agreement_helpers
from tests.conftest import (
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_OTHER_TOWNSHIP,
    VILLAGE_SAME_TOWNSHIP,
    Actor,
)
from tests.reports import report_support
from tests.sync.test_sync_feed import CHILDREN, SYNC, deletes, edit_child, upserts
from tests.visits.visit_factories import put_visit, registered_child
from tests.wire import Wire

COUNTED = text("SELECT coalesce(sum(count), 0) FROM rate_limit_counters WHERE key = :k")


async def _load_world(client, world, session, settings) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """VILLAGE: three children (one with an agreement) and three visits on three days, and no
    report, pairing, case or alert: every page of its director's load is the statement's. A
    child with a visit in the village next door, in another township and in another county."""
    director = world["director"]
    a = await registered_child(session, settings, VILLAGE, name="王小明")
    b = await agreement_helpers.away_child(session, settings, VILLAGE, name="张小军")
    c = await registered_child(session, settings, VILLAGE, name="赵小燕")
    agreement = await agreement_helpers.create(client, director.headers, b.id)
    now = datetime.now(UTC)
    visits = [
        await put_visit(client, director, child.id, visited_at=now - timedelta(days=days))
        for child, days in ((a, 3), (c, 2), (a, 1))
    ]
    others = {}
    for name, area in (
        ("director_other_village", VILLAGE_SAME_TOWNSHIP),
        ("director_other_township", VILLAGE_OTHER_TOWNSHIP),
        ("director_other_county", VILLAGE_OTHER_COUNTY),
    ):
        child = await registered_child(session, settings, area, name="孙小亮")
        visit = await put_visit(client, world[name], child.id)
        others[name] = {("child", str(child.id)), ("visit", visit["id"])}
    return {
        "mine": [
            *sorted(("child", str(x.id)) for x in (a, b, c)),
            ("agreement", agreement["id"]),
            *(("visit", v["id"]) for v in visits),
        ],
        "others": others,
        "a": a,
        "c": c,
    }


async def _last_audit_id(session) -> int:  # type: ignore[no-untyped-def]
    return int((await session.execute(select(func.coalesce(func.max(AuditEvent.id), 0)))).scalar())


async def _audited_since(session, after: int) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    """The sync audit rows written after `after`, in the order they were written."""
    e = AuditEvent
    rows = await session.execute(
        select(
            e.actor_id,
            e.actor_role,
            e.client_id,
            e.resource_type,
            e.resource_id,
            e.county_code,
            e.area_code,
            e.request_id,
        )
        .where(e.id > after, e.action == "sync")
        .order_by(e.id)
    )
    found = [tuple(r) for r in rows]
    # One request's rows: one request id (each request has its own: compared apart).
    assert len({r[-1] for r in found}) <= 1
    return [r[:-1] for r in found]


@contextmanager
def _feed_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """feed.py's path for the load (as before this statement, or with a replica)."""
    with monkeypatch.context() as m:
        m.setattr(load_at_once, "load_start", lambda *a, **k: None)
        yield


class _Page:
    def __init__(self, body: dict[str, Any], audited: list[tuple[Any, ...]], wire: Wire):
        self.body = body
        self.items: list[dict[str, Any]] = body["items"]
        self.cursor = SyncCursor.decode(body["next_cursor"])
        self.audited = audited
        self.statements = wire.statements


async def _get(client, db, session, actor: Actor, cursor: str | None, limit: int) -> _Page:  # type: ignore[no-untyped-def]
    params: dict[str, Any] = {"limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    last = await _last_audit_id(session)
    with Wire(db) as wire:
        r = await client.get(SYNC, params=params, headers=actor.headers)
        await asyncio.sleep(0.2)  # anything sent after the answer counts too
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    return _Page(r.json(), await _audited_since(session, last), wire)


def _same_cursor(fast: SyncCursor, slow: SyncCursor, *, first: bool) -> None:
    """Equal, but for the first page's horizon (taken by each path at its own time)."""
    if first:
        assert slow.txid >= fast.txid
        fast = dataclasses.replace(fast, txid=slow.txid, floor=slow.floor)
    assert fast == slow


async def _walk(client, db, session, monkeypatch, actor: Actor, limit: int) -> list[_Page]:  # type: ignore[no-untyped-def]
    """The whole load page by page in one statement each, every page also asked of feed.py's
    path with the same cursor: the same items, next cursor and audit rows."""
    pages: list[_Page] = []
    cursor: str | None = None
    while True:
        fast = await _get(client, db, session, actor, cursor, limit)
        assert len(fast.statements) == 1, fast.statements
        assert "session_check AS" in fast.statements[0]
        assert "INSERT INTO rate_limit_counters" in fast.statements[0]
        assert "INSERT INTO audit_log" in fast.statements[0]
        with _feed_path(monkeypatch):
            slow = await _get(client, db, session, actor, cursor, limit)
        assert slow.statements[0].startswith("BEGIN") and len(slow.statements) > 3
        assert fast.items == slow.items
        assert fast.body["has_more"] is slow.body["has_more"] is True
        _same_cursor(fast.cursor, slow.cursor, first=cursor is None)
        assert fast.audited == slow.audited
        pages.append(fast)
        cursor = fast.body["next_cursor"]
        if fast.cursor.phase == "c":
            return pages
        assert len(pages) < 30


def _keys(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(i["type"], i["id"]) for i in items]


@pytest.fixture
def many(app, monkeypatch):  # type: ignore[no-untyped-def]
    """Room in the sync rate limit for walking loads twice over."""
    monkeypatch.setitem(app.state.settings.rate_limits, "sync", 1000)


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 200])
async def test_each_page_of_the_load_is_one_statement_as_feed_py_answers_it(
    client, db, session, settings, world, monkeypatch, many, limit
):
    """limit 1: a page per record, then an empty one; 2: a page ends inside the children, then exactly at the end
    of the agreements, then inside the visits (a visit keyset); 3: a page ends exactly at the
    end of the children; 4: at the first agreement; 5: inside the visits; 200: one page."""
    w = await _load_world(client, world, session, settings)
    director = world["director"]
    pages = await _walk(client, db, session, monkeypatch, director, limit)
    served = [k for p in pages for k in _keys(p.items)]
    assert served == w["mine"]  # feed.py's order, each once, nothing of another area
    assert all(len(p.items) <= limit for p in pages)
    # Every page but the last is full; the last switches to the changes phase.
    assert all(len(p.items) == limit for p in pages[:-1])
    assert [p.cursor.phase for p in pages] == ["i"] * (len(pages) - 1) + ["c"]
    first = pages[0].cursor
    for p in pages:
        assert (p.cursor.txid, p.cursor.seq, p.cursor.floor) == (first.txid, 0, first.floor)
    kinds = [(p.cursor.kind, p.cursor.after is not None) for p in pages[:-1]]
    if limit == 2:
        assert kinds == [(0, True), (2, False), (2, True)]
        assert len(pages[2].cursor.after or ()) == 2  # (visited_at, id)
    if limit == 3:
        assert kinds == [(1, False), (2, True)]  # filled up exactly at the children's end
    if limit == 1:
        # Filled up exactly at the visits' end: the next page finds nothing more (the types
        # it does not render included) and switches to the changes phase.
        assert kinds[-1] == (3, False) and pages[-1].items == []
    # The audit rows: each child and agreement served, in page order, then one for the visits.
    audited = [(r[3], str(r[4]) if r[4] else None) for p in pages for r in p.audited]
    expected: list[tuple[str, str | None]] = []
    for p in pages:
        expected += [(t, i) for t, i in _keys(p.items) if t != "visit"]
        expected += [("visit", None)] if any(i["type"] == "visit" for i in p.items) else []
    assert audited == expected
    for p in pages:
        for row in p.audited:
            assert row[:3] == (director.id, "village_director", None)
            area = VILLAGE if row[3] == "visit" else row[6]
            assert (row[5], row[6]) == (VILLAGE[:6], area)
    # Done: the catch-up call (a changes page, at_once.py) has nothing more.
    rest = await _get(client, db, session, director, pages[-1].body["next_cursor"], limit)
    assert rest.items == [] and rest.body["has_more"] is False


async def test_changes_during_the_load_come_after_it(
    client, db, session, settings, world, monkeypatch, many
):
    w = await _load_world(client, world, session, settings)
    director = world["director"]
    first = await _get(client, db, session, director, None, 2)
    assert len(first.statements) == 1
    served = {i for t, i in _keys(first.items) if t == "child"}
    # During the load: a child already served changes, a visit is logged.
    changed = next(x for x in (w["a"], w["c"]) if str(x.id) in served)
    child = await edit_child(client, director, changed.id, school="洪水镇中学")
    other = w["c"] if changed is w["a"] else w["a"]
    visit = await put_visit(client, director, other.id)  # (its child changes too)
    cursor = first.body["next_cursor"]
    items = list(first.items)
    while True:
        p = await _get(client, db, session, director, cursor, 2)
        assert len(p.statements) == 1, p.statements
        items += p.items
        cursor = p.body["next_cursor"]
        if p.cursor.phase == "c":
            break
    # The load itself served the new visit (read after it was logged)...
    assert ("visit", visit["id"]) in _keys(items)
    # ...and the changes after it, from the first page's horizon, bring both again.
    after: list[dict[str, Any]] = []
    while True:
        p = await _get(client, db, session, director, cursor, 2)
        assert len(p.statements) == 1, p.statements
        after += p.items
        cursor = p.body["next_cursor"]
        if not p.body["has_more"]:
            break
    got = upserts(after)
    assert got[("child", str(changed.id))]["data"] == child
    assert ("visit", visit["id"]) in got


async def test_a_revoked_session_is_401_with_nothing_read_audited_or_counted(
    client, db, session, settings, world
):
    await _load_world(client, world, session, settings)
    director = world["director"]
    first = await _get(client, db, session, director, None, 2)
    key = {"k": f"sync:user:{director.id}"}
    counted = (await session.execute(COUNTED, key)).scalar_one()
    await session.execute(
        text("UPDATE token_families SET revoked_at = now() WHERE user_id = :u"),
        {"u": director.id},
    )
    await session.commit()
    last = await _last_audit_id(session)
    for cursor in (None, first.body["next_cursor"]):
        params = {"cursor": cursor} if cursor else {}
        with Wire(db) as wire:
            r = await client.get(SYNC, params=params, headers=director.headers)
            await asyncio.sleep(0.2)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        assert len(wire.statements) == 1  # the statement said so: nothing else was sent
    assert await _audited_since(session, last) == []
    assert (await session.execute(COUNTED, key)).scalar_one() == counted


@pytest.mark.parametrize("change", ["area", "role"])
async def test_a_changed_role_or_area_takes_feed_py_s_path_counted_once(
    client, db, session, settings, world, change
):
    w = await _load_world(client, world, session, settings)
    director = world["director"]
    key = {"k": f"sync:user:{director.id}"}
    counted = (await session.execute(COUNTED, key)).scalar_one()
    if change == "area":
        update = "UPDATE users SET area_code = :a WHERE id = :u"
        values = {"a": VILLAGE_SAME_TOWNSHIP, "u": director.id}
    else:
        update = "UPDATE users SET role = 'township_supervisor', area_code = :a WHERE id = :u"
        values = {"a": VILLAGE[:9], "u": director.id}
    await session.execute(text(update), values)
    await session.commit()
    # The token still says the director of VILLAGE; the row wins (feed.py's path).
    p = await _get(client, db, session, director, None, 1000)
    assert "session_check AS" in p.statements[0]  # nothing read, audited or counted by it
    assert p.statements[1].startswith("BEGIN")
    assert (await session.execute(COUNTED, key)).scalar_one() == counted + 1
    keys = set(_keys(p.items))
    if change == "area":
        assert keys == w["others"]["director_other_village"]
        assert (p.cursor.area, p.cursor.role) == (VILLAGE_SAME_TOWNSHIP, "village_director")
    else:
        assert keys == set(w["mine"]) | w["others"]["director_other_village"]
        assert (p.cursor.area, p.cursor.role) == (VILLAGE[:9], "township_supervisor")
    assert {(r[3], str(r[4]) if r[4] else None) for r in p.audited} == {
        (t, i if t != "visit" else None) for t, i in keys
    }


async def test_the_rate_limit_counts_each_request_once(
    client, app, db, session, settings, world, monkeypatch
):
    await _load_world(client, world, session, settings)
    director = world["director"]
    key = {"k": f"sync:user:{director.id}"}
    counter = text("SELECT count FROM rate_limit_counters WHERE key = :k")
    await session.execute(text("DELETE FROM rate_limit_counters WHERE key = :k"), key)
    await session.commit()
    monkeypatch.setitem(app.state.settings.rate_limits, "sync", 2)
    frozen = datetime.now(UTC).replace(second=45, microsecond=0)
    monkeypatch.setattr(rate_limit, "clock", lambda: frozen)
    first = await _get(client, db, session, director, None, 2)
    assert (await session.execute(counter, key)).scalar_one() == 1
    await _get(client, db, session, director, first.body["next_cursor"], 2)
    assert (await session.execute(counter, key)).scalar_one() == 2
    last = await _last_audit_id(session)
    with Wire(db) as wire:
        r = await client.get(SYNC, headers=director.headers)
        await asyncio.sleep(0.2)
    assert r.status_code == 429
    assert r.json()["code"] == "rate_limited"
    assert r.headers["Retry-After"] == "15"
    assert len(wire.statements) == 1
    # Over the limit: counted (once), nothing read or audited.
    assert (await session.execute(counter, key)).scalar_one() == 3
    assert await _audited_since(session, last) == []


async def test_a_page_reaching_a_report_takes_feed_py_s_path_counted_once(
    client, db, session, settings, world, monkeypatch
):
    w = await _load_world(client, world, session, settings)
    director = world["director"]
    own = await report_support.file(client, world, "director", area_code=VILLAGE)
    key = {"k": f"sync:user:{director.id}"}
    # The first page holds children only: the statement's.
    first = await _get(client, db, session, director, None, 3)
    assert len(first.statements) == 1
    # The last holds the report: the statement read and audited nothing and counted the
    # request; feed.py's path answered in its transaction, without counting it again.
    cursor = first.body["next_cursor"]
    counted = (await session.execute(COUNTED, key)).scalar_one()
    p = await _get(client, db, session, director, cursor, 100)
    assert "session_check AS" in p.statements[0] and "UNION ALL" in p.statements[0]
    assert p.statements[1].startswith("BEGIN") and p.statements[-1].startswith("COMMIT")
    assert not any("INSERT INTO rate_limit_counters" in s for s in p.statements[1:])
    assert (await session.execute(COUNTED, key)).scalar_one() == counted + 1
    assert _keys(p.items) == [*w["mine"][3:], ("report", own["id"])]
    # As before: what feed.py's path alone answers and audits.
    with _feed_path(monkeypatch):
        slow = await _get(client, db, session, director, cursor, 100)
    assert slow.items == p.items and slow.body == p.body
    assert slow.audited == p.audited
    assert [r[3] for r in p.audited] == ["agreement", "visit"]
    # A page that starts at the reports: the statement finds one and leaves it to feed.py's.
    report_page = await _get(client, db, session, director, cursor, 4)
    assert (report_page.cursor.phase, report_page.cursor.kind) == ("i", 3)
    assert len(report_page.statements) == 1
    p = await _get(client, db, session, director, report_page.body["next_cursor"], 4)
    assert "UNION ALL" in p.statements[0] and p.statements[1].startswith("BEGIN")
    assert _keys(p.items) == [("report", own["id"])]


@pytest.mark.parametrize(
    "name", ["supervisor", "officer", "director_other_village", "officer_other_county"]
)
async def test_each_scope_sees_its_own_records_only(
    client, db, session, settings, world, monkeypatch, many, name
):
    """Other scope shapes (a township, a county) in one statement: their villages' records,
    never another village's, township's or county's."""
    w = await _load_world(client, world, session, settings)
    actor = world[name]
    pages = await _walk(client, db, session, monkeypatch, actor, 2)
    keys = [k for p in pages for k in _keys(p.items)]
    expected = {
        "supervisor": set(w["mine"]) | w["others"]["director_other_village"],
        "officer": set(w["mine"])
        | w["others"]["director_other_village"]
        | w["others"]["director_other_township"],
        "director_other_village": w["others"]["director_other_village"],
        "officer_other_county": w["others"]["director_other_county"],
    }[name]
    assert set(keys) == expected and len(keys) == len(expected)


async def test_closed_and_anonymised_children_are_not_loaded(
    client, db, session, settings, world, monkeypatch, many
):
    w = await _load_world(client, world, session, settings)
    director = world["director"]
    # Anonymised (closed, then past retention), with its visit.
    gone = await registered_child(session, settings, VILLAGE, name="钱小花")
    gone_visit = await put_visit(client, director, gone.id)
    r = await client.post(
        f"{CHILDREN}/{gone.id}/close", json={"reason": "moved_away"}, headers=director.headers
    )
    assert r.status_code == 200, r.text
    assert await anonymise_expired(session, datetime.now(UTC) + timedelta(days=10), 1) >= 1
    await session.commit()
    # Closed longer than the phones keep closed children, with its agreement and visit; and
    # closed just now (kept, as closed).
    old = await agreement_helpers.away_child(
        session, settings, VILLAGE, name="李小龙", created_at=datetime.now(UTC) - timedelta(days=99)
    )
    old_agreement = await agreement_helpers.create(client, director.headers, old.id)
    old_visit = await put_visit(client, director, old.id)
    recent = await registered_child(session, settings, VILLAGE, name="周小雨")
    for child in (old, recent):
        r = await client.post(
            f"{CHILDREN}/{child.id}/close", json={"reason": "moved_away"}, headers=director.headers
        )
        assert r.status_code == 200, r.text
    past = datetime.now(UTC) - timedelta(days=settings.sync_keep_closed_days + 1)
    await session.execute(
        text("UPDATE children SET closed_at = :t WHERE id = :c"), {"t": past, "c": old.id}
    )
    await session.commit()
    pages = await _walk(client, db, session, monkeypatch, director, 3)
    keys = {k for p in pages for k in _keys(p.items)}
    assert keys == set(w["mine"]) | {("child", str(recent.id))}
    assert not keys & {
        ("child", str(gone.id)),
        ("visit", gone_visit["id"]),
        ("child", str(old.id)),
        ("agreement", old_agreement["id"]),
        ("visit", old_visit["id"]),
    }
    closed = upserts([i for p in pages for i in p.items])[("child", str(recent.id))]
    assert closed["data"]["status"] == "closed"
    assert deletes([i for p in pages for i in p.items]) == {}


async def test_with_a_replica_the_load_keeps_feed_py_s_path(client, db, session, settings, world):
    """With DATABASE_REPLICA_URL the load reads the replica (feed.py's path; tests/core/
    test_read_replica.py checks it against a real one): here the primary stands in for it."""
    w = await _load_world(client, world, session, settings)
    director = world["director"]
    assert db.replica is None
    db.with_replica(settings.database_url)
    try:
        p = await _get(client, db, session, director, None, 1000)
    finally:
        replica: Database | None = db.replica
        db.replica = None
        if replica is not None:
            await replica.dispose()
    # The session check and the count on the primary in the request's transaction; the
    # records were read on the "replica" (its pool is not on this wire).
    assert p.statements[0].startswith("BEGIN")
    assert not any("UNION ALL" in s for s in p.statements)
    assert _keys(p.items) == w["mine"]
    # The changes phase is at_once.py's still (the primary's, one statement).
    rest = await _get(client, db, session, director, p.body["next_cursor"], 1000)
    assert len(rest.statements) == 1
    assert rest.items == [] and rest.body["has_more"] is False
