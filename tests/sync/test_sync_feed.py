"""The offline sync feed (GET /api/v1/sync/changes): initial load, incremental changes,
tombstones, a change committed out of order by concurrent transactions, cursor expiry and
scope."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from pydantic import TypeAdapter
from sqlalchemy import func, select, text

from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.sync import SyncChange
from childprotect_api.schemas.sync import SyncItem
from childprotect_api.services.retention import anonymise_expired
from childprotect_api.services.sync import feed as sync_feed
from tests.agreements import agreement_helpers
from tests.conftest import (
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_OTHER_TOWNSHIP,
    VILLAGE_SAME_TOWNSHIP,
    Actor,
    World,
    _asyncpg_dsn,
    _with_database,
)
from tests.reports import report_support
from tests.visits.visit_factories import put_visit, registered_child

SYNC = "/api/v1/sync/changes"
SYNC_ITEM: TypeAdapter[Any] = TypeAdapter(SyncItem)
CHILDREN = "/api/v1/children"

Key = tuple[str, str]  # (type, id)


async def page(
    client: httpx.AsyncClient,
    actor: Actor,
    cursor: str | None = None,
    limit: int | None = None,
    status: int = 200,
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if cursor is not None:
        params["cursor"] = cursor
    if limit is not None:
        params["limit"] = limit
    r = await client.get(SYNC, params=params, headers=actor.headers)
    assert r.status_code == status, r.text
    return dict(r.json())


async def drain(
    client: httpx.AsyncClient, actor: Actor, cursor: str | None = None, limit: int = 200
) -> tuple[list[dict[str, Any]], str, int]:
    """Every page until has_more is false: the items, the last cursor, the number of pages."""
    items: list[dict[str, Any]] = []
    pages = 0
    while True:
        body = await page(client, actor, cursor, limit)
        pages += 1
        items.extend(body["items"])
        for item in body["items"]:
            # Each item is the member of the declared union its discriminator names.
            member = SYNC_ITEM.validate_python(item)
            assert item["kind"] == (item["type"] if item["op"] == "upsert" else "tombstone")
            assert type(member).model_fields["kind"].default == item["kind"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return items, cursor, pages
        assert pages < 100


def upserts(items: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    return {(i["type"], i["id"]): i for i in items if i["op"] == "upsert"}


def deletes(items: list[dict[str, Any]]) -> dict[Key, str]:
    return {(i["type"], i["id"]): i["reason"] for i in items if i["op"] == "delete"}


async def village_world(client, world: World, session, settings) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Two children of VILLAGE with an agreement and visits, a child of the village next
    door with a visit, and reports filed by the director and by someone else."""
    director = world["director"]
    a = await registered_child(session, settings, VILLAGE, name="王小明")
    b = await agreement_helpers.away_child(session, settings, VILLAGE, name="张小军")
    c = await registered_child(session, settings, VILLAGE, name="赵小燕")
    agreement = await agreement_helpers.create(client, director.headers, b.id)
    v1 = await put_visit(client, director, a.id, visited_at=datetime.now(UTC) - timedelta(days=3))
    v2 = await put_visit(client, director, c.id)
    neighbour = await registered_child(session, settings, VILLAGE_SAME_TOWNSHIP, name="孙小亮")
    nv = await put_visit(client, world["director_other_village"], neighbour.id)
    own = await report_support.file(client, world, "director", area_code=VILLAGE)
    theirs = await report_support.file(client, world, "reporter", area_code=VILLAGE)
    return {
        "mine": {
            ("child", str(a.id)),
            ("child", str(b.id)),
            ("child", str(c.id)),
            ("agreement", agreement["id"]),
            ("visit", v1["id"]),
            ("visit", v2["id"]),
            ("report", own["id"]),
        },
        "neighbour": {("child", str(neighbour.id)), ("visit", nv["id"])},
        "theirs": ("report", theirs["id"]),
        "a": a,
        "b": b,
        "c": c,
        "neighbour_child": neighbour,
        "agreement": agreement,
        "v1": v1,
    }


async def edit_child(
    client: httpx.AsyncClient, actor: Actor, child_id: uuid.UUID, **fields: Any
) -> dict[str, Any]:
    r = await client.get(f"{CHILDREN}/{child_id}", headers=actor.headers)
    r = await client.patch(
        f"{CHILDREN}/{child_id}",
        json=fields,
        headers={**actor.headers, "If-Match": f'"{r.json()["version"]}"'},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


# --- initial load --------------------------------------------------------------------------


async def test_initial_load_pages_through_the_scope(client, world, session, settings):
    w = await village_world(client, world, session, settings)
    director = world["director"]
    items: list[dict[str, Any]] = []
    cursor = None
    seen_pages = 0
    while True:
        body = await page(client, director, cursor, limit=2)
        seen_pages += 1
        assert len(body["items"]) <= 2
        items.extend(body["items"])
        for item in body["items"]:
            # Each item is the member of the declared union its discriminator names.
            member = SYNC_ITEM.validate_python(item)
            assert item["kind"] == (item["type"] if item["op"] == "upsert" else "tombstone")
            assert type(member).model_fields["kind"].default == item["kind"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    keys = [(i["type"], i["id"]) for i in items]
    # Everything of the village and the director's own report, each once, nothing else.
    assert set(keys) >= w["mine"]
    assert not set(keys) & w["neighbour"] and w["theirs"] not in keys
    initial = keys[: len(w["mine"])]
    assert set(initial) == w["mine"] and len(initial) == len(set(initial))
    assert seen_pages >= 4
    # Parents first: children, then agreements, visits, reports.
    order = [t for t, _ in initial]
    assert order == sorted(order, key=["child", "agreement", "visit", "report"].index)
    # The records in the shape of their GET endpoints.
    by_key = upserts(items)
    child = by_key[("child", str(w["a"].id))]
    r = await client.get(f"{CHILDREN}/{w['a'].id}", headers=director.headers)
    assert child["data"] == r.json() and child["version"] == r.json()["version"]
    assert child["data"]["id_number"].count("*") > 0  # masked
    visit = by_key[("visit", w["v1"]["id"])]
    r = await client.get(f"/api/v1/visits/{w['v1']['id']}", headers=director.headers)
    assert visit["data"] == r.json()
    agreement = by_key[("agreement", w["agreement"]["id"])]
    r = await client.get(f"/api/v1/agreements/{w['agreement']['id']}", headers=director.headers)
    assert agreement["data"] == r.json()
    report = next(i for i in items if i["type"] == "report")
    r = await client.get(f"/api/v1/my-reports/{report['id']}", headers=director.headers)
    assert report["data"] == r.json()
    # Nothing changed since: the next call is empty and up to date.
    again = await page(client, director, cursor)
    assert again["items"] == [] and again["has_more"] is False


async def test_the_last_initial_page_switches_to_the_change_log(client, world, session, settings):
    await village_world(client, world, session, settings)
    body = await page(client, world["director"], limit=1000)
    assert body["has_more"] is True  # the catch-up call after the load
    cursor = sync_feed.SyncCursor.decode(body["next_cursor"])
    assert cursor.phase == "c" and cursor.seq == 0
    body = await page(client, world["director"], body["next_cursor"])
    assert body["has_more"] is False


async def test_reads_are_audited(client, world, session, settings):
    w = await village_world(client, world, session, settings)
    await drain(client, world["director"])
    rows = (
        await session.execute(
            select(AuditEvent.resource_type, AuditEvent.resource_id).where(
                AuditEvent.action == "sync", AuditEvent.actor_id == world["director"].id
            )
        )
    ).all()
    audited = {(t, str(i)) for t, i in rows}
    assert {k for k in w["mine"] if k[0] == "child"} <= audited
    assert ("agreement", w["agreement"]["id"]) in audited
    assert any(t == "visit" for t, _ in audited)


# --- incremental ---------------------------------------------------------------------------


async def test_changes_after_the_load(client, world, session, settings):
    w = await village_world(client, world, session, settings)
    director, neighbour_director = world["director"], world["director_other_village"]
    _, cursor, _ = await drain(client, director)
    _, other_cursor, _ = await drain(client, neighbour_director)

    await edit_child(client, director, w["a"].id, school="洪水镇中学")
    # Several changes of one record in a page: it comes once, as it is now.
    current = await edit_child(client, director, w["a"].id, grade="五年级")
    visit = await put_visit(client, director, w["c"].id)

    body = await page(client, director, cursor)
    assert body["has_more"] is False
    keys = [(i["type"], i["id"]) for i in body["items"]]
    assert len(keys) == len(set(keys))
    got = upserts(body["items"])
    child = got[("child", str(w["a"].id))]
    assert child["data"] == current and child["version"] == current["version"]
    assert ("visit", visit["id"]) in got
    assert ("child", str(w["c"].id)) in got  # its next visit due moved
    assert ("child", str(w["b"].id)) not in got
    # The neighbour village's director sees none of it.
    body = await page(client, neighbour_director, other_cursor)
    assert body["items"] == []


async def test_incremental_pages_respect_the_limit(client, world, session, settings):
    w = await village_world(client, world, session, settings)
    director = world["director"]
    _, cursor, _ = await drain(client, director)
    for grade in ("一年级", "二年级", "三年级"):
        await edit_child(client, director, w["a"].id, grade=grade)
    await put_visit(client, director, w["c"].id)
    items, _, pages = await drain(client, director, cursor, limit=1)
    assert pages >= 4
    assert all(i["op"] == "upsert" for i in items)
    last_child = [i for i in items if i["id"] == str(w["a"].id)][-1]
    assert last_child["data"]["grade"] == "三年级"


async def test_a_transferred_child_is_a_tombstone_for_the_old_village(
    client, world, session, settings
):
    w = await village_world(client, world, session, settings)
    director, new_director = world["director"], world["director_other_village"]
    supervisor = world["supervisor"]
    _, cursor, _ = await drain(client, director)
    _, new_cursor, _ = await drain(client, new_director)
    _, supervisor_cursor, _ = await drain(client, supervisor)
    child = w["a"]
    r = await client.post(
        f"{CHILDREN}/{child.id}/transfer",
        json={"to_area_code": VILLAGE_SAME_TOWNSHIP, "reason": "随母亲迁居"},
        headers=supervisor.headers,
    )
    assert r.status_code == 200, r.text

    body = await page(client, director, cursor)
    gone = deletes(body["items"])
    assert gone[("child", str(child.id))] == "transferred"
    assert gone[("visit", w["v1"]["id"])] == "transferred"
    assert not upserts(body["items"]).keys() & {("child", str(child.id))}
    # Tombstones after upserts, the child's last.
    ops = [i["op"] for i in body["items"]]
    assert ops == sorted(ops, key=["upsert", "delete"].index)
    assert body["items"][-1]["id"] == str(child.id)

    body = await page(client, new_director, new_cursor)
    got = upserts(body["items"])
    assert got[("child", str(child.id))]["data"]["area_code"] == VILLAGE_SAME_TOWNSHIP
    assert ("visit", w["v1"]["id"]) in got
    assert not deletes(body["items"])

    # The township sees both villages: the child stays, no tombstone.
    body = await page(client, supervisor, supervisor_cursor)
    assert ("child", str(child.id)) in upserts(body["items"])
    assert not deletes(body["items"])


async def test_a_corrected_visit_replaces_its_old_version(client, world, session, settings):
    w = await village_world(client, world, session, settings)
    director = world["director"]
    _, cursor, _ = await drain(client, director)
    old = w["v1"]
    from tests.visits.visit_factories import visit_body

    r = await client.post(
        f"/api/v1/visits/{old['id']}/corrections",
        json={
            **visit_body(w["a"].id, old["visited_at"]),
            "id": str(uuid.uuid4()),
            "correction_reason": "补记",
        },
        headers={**director.headers, "If-Match": f'"{old["version"]}"'},
    )
    assert r.status_code in (200, 201), r.text
    new = r.json()
    body = await page(client, director, cursor)
    assert deletes(body["items"])[("visit", old["id"])] == "superseded"
    assert upserts(body["items"])[("visit", new["id"])]["data"]["original_id"] == old["id"]


async def test_closed_children_leave_the_phone_after_the_keep_period(
    client, world, session, settings
):
    w = await village_world(client, world, session, settings)
    director = world["director"]
    _, cursor, _ = await drain(client, director)
    child = w["a"]
    r = await client.post(
        f"{CHILDREN}/{child.id}/close",
        json={"reason": "moved_away"},
        headers=director.headers,
    )
    assert r.status_code == 200, r.text
    # Just closed: still on the phone, as closed.
    body = await page(client, director, cursor)
    assert upserts(body["items"])[("child", str(child.id))]["data"]["status"] == "closed"
    cursor = body["next_cursor"]

    # Thirty-one days later, the job writes the tombstones (once).
    later = datetime.now(UTC) + timedelta(days=31)
    assert await sync_feed.write_closed_tombstones(session, later, 30, 90) == 1
    assert await sync_feed.write_closed_tombstones(session, later, 30, 90) == 0
    await session.commit()
    # The feed's clock is today's: shorten the keep period rather than move the clock.
    settings.sync_keep_closed_days = 0
    body = await page(client, director, cursor)
    gone = deletes(body["items"])
    assert gone[("child", str(child.id))] == "closed"
    assert gone[("visit", w["v1"]["id"])] == "closed"
    # A fresh load leaves it out.
    items, _, _ = await drain(client, director)
    assert ("child", str(child.id)) not in upserts(items)
    assert ("visit", w["v1"]["id"]) not in upserts(items)


async def test_anonymised_children_become_tombstones(client, world, session, settings):
    w = await village_world(client, world, session, settings)
    director = world["director"]
    child = w["a"]
    r = await client.post(
        f"{CHILDREN}/{child.id}/close", json={"reason": "moved_away"}, headers=director.headers
    )
    assert r.status_code == 200, r.text
    _, cursor, _ = await drain(client, director)
    assert await anonymise_expired(session, datetime.now(UTC) + timedelta(days=10), 1) >= 1
    await session.commit()
    body = await page(client, director, cursor)
    assert deletes(body["items"])[("child", str(child.id))] == "anonymised"
    assert "(已匿名)" not in str(body)


# --- the concurrency rule: a change committed out of order is never skipped -----------------


async def test_a_change_committed_late_is_not_skipped(client, world, session, settings):
    w = await village_world(client, world, session, settings)
    director = world["director"]
    _, cursor, _ = await drain(client, director)
    # No statement cache: the same test runs through PgBouncer in transaction mode (.ci/run).
    dsn = _asyncpg_dsn(settings.database_url)
    t1 = await asyncpg.connect(dsn, statement_cache_size=0)
    t2 = await asyncpg.connect(dsn, statement_cache_size=0)
    try:
        # T1 begins first and writes (so its transaction id is the lower), but commits last.
        tx1 = t1.transaction()
        await tx1.start()
        await t1.execute(
            "UPDATE children SET school = 'T1', version = version + 1 WHERE id = $1", w["a"].id
        )
        # T2 writes after it and commits at once.
        async with t2.transaction():
            await t2.execute(
                "UPDATE children SET school = 'T2', version = version + 1 WHERE id = $1",
                w["c"].id,
            )
        # T2's change is committed and visible, but it must not be served past T1's position.
        body = await page(client, director, cursor)
        served = upserts(body["items"])
        assert ("child", str(w["c"].id)) not in served
        assert ("child", str(w["a"].id)) not in served
        cursor = body["next_cursor"]
        await tx1.commit()
    finally:
        await t1.close()
        await t2.close()
    body = await page(client, director, cursor)
    served = upserts(body["items"])
    assert served[("child", str(w["a"].id))]["data"]["school"] == "T1"
    assert served[("child", str(w["c"].id))]["data"]["school"] == "T2"


async def test_concurrent_writers_and_readers_lose_nothing(client, world, session, settings):
    """Writers commit in random order while the feed is read: every change arrives."""
    w = await village_world(client, world, session, settings)
    director = world["director"]
    _, cursor, _ = await drain(client, director)
    dsn = _asyncpg_dsn(settings.database_url)
    children = [w["a"].id, w["b"].id, w["c"].id]
    expected: dict[str, str] = {}

    async def writer(n: int) -> None:
        conn = await asyncpg.connect(dsn, statement_cache_size=0)
        try:
            for i in range(6):
                school = f"w{n}-{i}"
                async with conn.transaction():
                    await conn.execute(
                        "UPDATE children SET school = $2, version = version + 1 WHERE id = $1",
                        children[n],
                        school,
                    )
                    await asyncio.sleep(0.01 * ((n + i) % 3))
                expected[str(children[n])] = school
        finally:
            await conn.close()

    seen: dict[str, str] = {}

    async def reader() -> None:
        nonlocal cursor
        for _ in range(8):
            body = await page(client, director, cursor, limit=2)
            for item in body["items"]:
                if item["type"] == "child" and item["op"] == "upsert":
                    seen[item["id"]] = item["data"]["school"]
            cursor = body["next_cursor"]
            await asyncio.sleep(0.01)

    await asyncio.gather(writer(0), writer(1), writer(2), reader())
    items, cursor, _ = await drain(client, director, cursor)
    for item in items:
        if item["type"] == "child" and item["op"] == "upsert":
            seen[item["id"]] = item["data"]["school"]
    assert seen == expected


# --- cursors -------------------------------------------------------------------------------


async def _cursor(client: httpx.AsyncClient, actor: Actor) -> str:
    _, cursor, _ = await drain(client, actor)
    return cursor


async def test_a_cursor_older_than_the_log_is_gone(client, world, session, settings):
    director = world["director"]
    cursor = sync_feed.SyncCursor.decode(await _cursor(client, director))
    old = sync_feed.SyncCursor(
        cursor.phase,
        cursor.user_id,
        cursor.role,
        cursor.area,
        cursor.txid,
        cursor.seq,
        datetime.now(UTC) - timedelta(days=settings.sync_log_days + 1),
    )
    r = await client.get(SYNC, params={"cursor": old.encode()}, headers=director.headers)
    assert r.status_code == 410
    assert r.json()["code"] == "sync_cursor_expired"
    assert r.headers["content-type"].startswith("application/problem+json")
    # A page of an initial load that old too.
    body = await page(client, director, limit=1)
    first = sync_feed.SyncCursor.decode(body["next_cursor"])
    stale = sync_feed.SyncCursor(
        first.phase,
        first.user_id,
        first.role,
        first.area,
        first.txid,
        0,
        datetime.now(UTC) - timedelta(days=365),
        first.kind,
        first.after,
    )
    r = await client.get(SYNC, params={"cursor": stale.encode()}, headers=director.headers)
    assert r.status_code == 410


async def test_the_cursor_ages_with_what_it_has_not_served(client, world, session, settings):
    """A phone that synced yesterday has a fresh cursor even if its scope was quiet; a cursor
    kept unused for longer than the log is kept answers 410."""
    director = world["director"]
    cursor = sync_feed.SyncCursor.decode(await _cursor(client, director))
    assert cursor.floor > datetime.now(UTC) - timedelta(days=2)
    settings.sync_log_days = 2
    r = await client.get(SYNC, params={"cursor": cursor.encode()}, headers=director.headers)
    assert r.status_code == 200
    aged = sync_feed.SyncCursor(
        cursor.phase,
        cursor.user_id,
        cursor.role,
        cursor.area,
        cursor.txid,
        cursor.seq,
        cursor.floor - timedelta(days=2),
    )
    r = await client.get(SYNC, params={"cursor": aged.encode()}, headers=director.headers)
    assert r.status_code == 410


async def test_pruning_deletes_old_rows_only(client, world, session, settings):
    w = await village_world(client, world, session, settings)
    await session.execute(
        text(
            "UPDATE sync_changes SET changed_at = now() - interval '100 days' WHERE entity_id = :i"
        ),
        {"i": w["a"].id},
    )
    await session.commit()
    before = (await session.execute(select(func.count()).select_from(SyncChange))).scalar_one()
    pruned = await sync_feed.prune_log(session, datetime.now(UTC), 90)
    await session.commit()
    after = (await session.execute(select(func.count()).select_from(SyncChange))).scalar_one()
    assert pruned >= 1 and after == before - pruned
    left = await session.execute(
        select(func.count()).select_from(SyncChange).where(SyncChange.entity_id == w["a"].id)
    )
    assert left.scalar_one() == 0


async def test_a_cursor_of_another_user_or_scope_is_gone(client, world, session, settings):
    director = world["director"]
    cursor = await _cursor(client, director)
    r = await client.get(
        SYNC, params={"cursor": cursor}, headers=world["director_other_village"].headers
    )
    assert r.status_code == 410 and r.json()["code"] == "sync_cursor_expired"
    # The same user after a move to another village: reload.
    await session.execute(
        text("UPDATE users SET area_code = :a WHERE id = :id"),
        {"a": VILLAGE_SAME_TOWNSHIP, "id": director.id},
    )
    await session.commit()
    r = await client.get(SYNC, params={"cursor": cursor}, headers=director.headers)
    assert r.status_code == 410 and r.json()["code"] == "sync_cursor_expired"
    r = await client.get(SYNC, headers=director.headers)
    assert r.status_code == 200


async def test_tampered_cursors_and_bad_limits_are_422(client, world):
    director = world["director"]
    good = sync_feed.SyncCursor.decode(await _cursor(client, director))

    def raw(values: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    plain = [
        good.phase,
        str(good.user_id),
        good.role,
        good.area,
        str(good.txid),
        good.seq,
        good.floor.isoformat(),
        0,
        None,
    ]
    tampered = [
        "not-a-cursor!",
        "@@@",
        raw({"a": 1}),
        raw([1, 2, 3]),
        raw(["x", *plain[1:]]),
        raw([*plain[:4], "12abc", *plain[5:]]),
        raw([*plain[:4], "-1", *plain[5:]]),
        raw([*plain[:5], -1, *plain[6:]]),
        raw([*plain[:5], True, *plain[6:]]),
        raw([*plain[:6], "yesterday", *plain[7:]]),
        raw([*plain[:6], "2026-01-01T00:00:00", *plain[7:]]),  # naive
        raw([*plain[:7], len(sync_feed.ENTITIES) + 1, None]),  # past the last type
        raw(["i", *plain[1:7], 2, ["2026-01-01T00:00:00+00:00", "not-a-uuid"]]),
        raw(["i", *plain[1:7], 0, ["not-a-uuid"]]),
        raw(["i", *plain[1:7], 0, [1, 2, 3]]),
        raw([*plain[:1], "not-a-uuid", *plain[2:]]),
        raw([*plain[:4], "9" * 25, *plain[5:]]),
    ]
    for cursor in tampered:
        r = await client.get(SYNC, params={"cursor": cursor}, headers=director.headers)
        assert r.status_code == 422, (cursor, r.text)
        assert r.json()["code"] == "invalid_cursor"
    for limit in (0, -1, 1001, "x"):
        r = await client.get(SYNC, params={"limit": limit}, headers=director.headers)
        assert r.status_code == 422, (limit, r.text)
    r = await client.get(SYNC, params={"limit": 1000}, headers=director.headers)
    assert r.status_code == 200


# --- scope ---------------------------------------------------------------------------------


async def test_other_areas_see_nothing_and_other_roles_are_refused(
    client, world, session, settings
):
    w = await village_world(client, world, session, settings)
    secret = {k for k in w["mine"] if k[0] != "report"}
    for name in (
        "director_other_village",
        "director_other_township",
        "director_other_county",
        "supervisor_other_township",
        "supervisor_other_county",
        "officer_other_county",
    ):
        items, _, _ = await drain(client, world[name])
        keys = {(i["type"], i["id"]) for i in items}
        assert not keys & w["mine"], name
    # The township and the county see the village's records (not the director's report).
    for name in ("supervisor", "officer"):
        items, _, _ = await drain(client, world[name])
        keys = {(i["type"], i["id"]) for i in items}
        assert secret <= keys, name
        assert w["neighbour"] <= keys
    for name in ("reporter", "auditor", "admin"):
        r = await client.get(SYNC, headers=world[name].headers)
        assert r.status_code == 403, name
        assert r.json()["code"] == "role_forbidden"
    r = await client.get(SYNC)
    assert r.status_code == 401


async def test_other_counties_and_townships_villages(client, world, session, settings):
    """Records elsewhere reach their own directors only."""
    far = await registered_child(session, settings, VILLAGE_OTHER_COUNTY, name="钱小宝")
    other_township = await registered_child(session, settings, VILLAGE_OTHER_TOWNSHIP)
    items, _, _ = await drain(client, world["director_other_county"])
    assert ("child", str(far.id)) in upserts(items)
    assert ("child", str(other_township.id)) not in upserts(items)
    items, _, _ = await drain(client, world["director"])
    assert not upserts(items).keys() & {("child", str(far.id)), ("child", str(other_township.id))}


async def test_a_long_transaction_in_another_database_does_not_stall_the_feed(
    client, world, session, settings, pg_server_url
):
    """Transaction ids are cluster-wide; a writer in another database never writes this log,
    so it must not hold the feed back."""
    w = await village_world(client, world, session, settings)
    director = world["director"]
    _, cursor, _ = await drain(client, director)
    other = await asyncpg.connect(_asyncpg_dsn(_with_database(pg_server_url, "postgres")))
    try:
        tx = other.transaction()
        await tx.start()
        await other.execute("CREATE TEMP TABLE sync_feed_stall (x int)")  # takes an xid
        await edit_child(client, director, w["a"].id, school="不受影响")
        body = await page(client, director, cursor)
        assert upserts(body["items"])[("child", str(w["a"].id))]["data"]["school"] == "不受影响"
        await tx.rollback()
    finally:
        await other.close()


async def test_visit_items_match_their_get_endpoint_exactly(client, world, session, settings):
    """Visit items are rendered by PostgreSQL (services/sync/feed.py): whole seconds, no
    position, whole-number floats, follow-up actions, a review all read as GET reads them."""
    child = await registered_child(session, settings, VILLAGE)
    director = world["director"]
    whole = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
    plain = await put_visit(
        client,
        director,
        child.id,
        visited_at=whole,
        latitude=None,
        longitude=None,
        accuracy_m=None,
        notes=None,
        suggested_risk_level=None,
        follow_up_actions=[],
    )
    rich = await put_visit(
        client,
        director,
        child.id,
        visited_at=datetime.now(UTC) - timedelta(hours=5, microseconds=7),
        latitude=38.0,
        longitude=100.5,
        accuracy_m=12.0,
        follow_up_actions=[{"action": "联系学校", "due_on": "2030-01-10", "done": True}],
    )
    r = await client.post(
        f"/api/v1/visits/{rich['id']}/review",
        json={"decision": "accept"},
        headers={**world["supervisor"].headers, "If-Match": f'"{rich["version"]}"'},
    )
    assert r.status_code == 200, r.text
    items, _, _ = await drain(client, director)
    got = upserts(items)
    for visit in (plain, rich):
        r = await client.get(f"/api/v1/visits/{visit['id']}", headers=director.headers)
        item = got[("visit", visit["id"])]
        assert item["data"] == r.json()
        assert item["version"] == r.json()["version"]
    assert got[("visit", plain["id"])]["data"]["visited_at"] == whole.isoformat().replace(
        "+00:00", "Z"
    )


async def test_integration_clients_are_refused(client, world):
    from tests.integrations.client_helpers import api_client

    api = await api_client(
        client,
        world["admin"].headers,
        scopes=["children:read", "children:write", "reports:read"],
        area=VILLAGE[:6],
    )
    r = await client.get(SYNC, headers=api.headers)
    assert r.status_code == 403, r.text


async def test_what_changes_during_the_initial_load_comes_after_it(
    client, world, session, settings
):
    """The load reads the tables page by page; a record added behind its keyset position or
    moved away after it was served during the load arrives in the catch-up that follows."""
    w = await village_world(client, world, session, settings)
    director = world["director"]
    body = await page(client, director, limit=2)
    assert body["has_more"]
    # Behind the load's position (the lowest id there is), and a child already served moves.
    from tests.factories import make_child

    early = await make_child(session, settings, VILLAGE, id=uuid.UUID(int=1), name="钱早早")
    served = {i["id"] for i in body["items"] if i["type"] == "child"}
    moved = next(c for c in (w["a"], w["b"], w["c"]) if str(c.id) in served)
    r = await client.post(
        f"{CHILDREN}/{moved.id}/transfer",
        json={"to_area_code": VILLAGE_SAME_TOWNSHIP, "reason": "迁居"},
        headers=world["supervisor"].headers,
    )
    assert r.status_code == 200, r.text
    rest, _, _ = await drain(client, director, body["next_cursor"])
    assert ("child", str(early.id)) in upserts(rest)
    assert deletes(rest)[("child", str(moved.id))] == "transferred"
