"""The read replica (DATABASE_REPLICA_URL) against a real streaming replica: migrations and
writes on the primary reach it, ReadSessionDep reads from it (proved with replay paused), and
reads fall back to the primary, with a warning, while it is down.

Endpoints that read through ReadSessionDep go in REPLICA_READS: each is checked by
`assert_read_served_by_replica` (tests/core/replica.py). For example, once the statistics exist:

    async def _count_children(ra: ReplicaApp, marker: object) -> httpx.Response:
        return await ra.client.get("/api/v1/stats/summary", headers=ra.world["officer"].headers)

    async def _one_more_child(ra: ReplicaApp) -> int:
        before = (await _count_children(ra, None)).json()["children"]["total"]
        async with ra.primary_session() as s:
            await make_child(s, ra.settings, VILLAGE)
        return before

    ReplicaRead("stats summary", _one_more_child, _count_children,
                lambda r, before: r.json()["children"]["total"] > before)
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.core.db import Database, ReadSessionDep
from childprotect_api.core.migrate import head_revision
from childprotect_api.models.child import Child
from tests.conftest import VILLAGE
from tests.core.replica import ReplicaApp, ReplicaPair, ReplicaRead, assert_read_served_by_replica
from tests.factories import make_child

PROBE = "/test-only/replica-probe"


async def _in_recovery(session: AsyncSession) -> bool:
    """True on a standby (the replica), False on the primary."""
    return bool(await session.scalar(text("SELECT pg_is_in_recovery()")))


async def _has_child(session: AsyncSession, child_id: uuid.UUID) -> bool:
    n = await session.scalar(
        select(func.count()).select_from(Child).where(Child.id == child_id)  # type: ignore[arg-type]
    )
    return bool(n)


def install_probe(app: FastAPI) -> None:
    """A test-only route that reads through ReadSessionDep: which server answered, and
    whether a child is there."""

    async def replica_probe(session: ReadSessionDep, child_id: uuid.UUID | None = None) -> Any:
        return {
            "in_recovery": await _in_recovery(session),
            "child_seen": child_id is not None and await _has_child(session, child_id),
        }

    app.add_api_route(PROBE, replica_probe, methods=["GET"], operation_id="testReplicaProbe")


async def _new_child(ra: ReplicaApp) -> uuid.UUID:
    async with ra.primary_session() as s:
        child = await make_child(s, ra.settings, VILLAGE)
    return child.id


async def _probe(ra: ReplicaApp, child_id: uuid.UUID | None) -> httpx.Response:
    install_probe(ra.app)
    params = {"child_id": str(child_id)} if child_id else {}
    return await ra.client.get(PROBE, params=params, headers=ra.world["officer"].headers)


async def _sync_initial_load(ra: ReplicaApp, child_id: uuid.UUID | None) -> httpx.Response:
    return await ra.client.get(
        "/api/v1/sync/changes", params={"limit": 1000}, headers=ra.world["director"].headers
    )


def _lists_child(r: httpx.Response, child_id: uuid.UUID) -> bool:
    return any(i["type"] == "child" and i["id"] == str(child_id) for i in r.json()["items"])


async def _active_children(ra: ReplicaApp, before: int | None) -> httpx.Response:
    return await ra.client.get(
        "/api/v1/stats/summary", params={"area": VILLAGE}, headers=ra.world["officer"].headers
    )


async def _one_more_child(ra: ReplicaApp) -> int:
    before = (await _active_children(ra, None)).json()["children"]["active"]["value"]
    async with ra.primary_session() as s:
        await make_child(s, ra.settings, VILLAGE)
    return int(before)


# Every endpoint that reads through ReadSessionDep (statistics, exports, the sync initial
# load): add it here and it is checked against the paused replica.
REPLICA_READS: list[ReplicaRead] = [
    ReplicaRead(
        "ReadSessionDep probe (test-only route)",
        _new_child,
        _probe,
        lambda r, _: bool(r.json()["child_seen"]),
    ),
    ReplicaRead("sync initial load", _new_child, _sync_initial_load, _lists_child),
    ReplicaRead(
        "statistics summary",
        _one_more_child,
        _active_children,
        lambda r, before: r.json()["children"]["active"]["value"] > before,
    ),
]


# --- the replica itself -------------------------------------------------------------------


async def test_migrations_on_the_primary_reach_the_replica(replica_pair: ReplicaPair) -> None:
    conn = await asyncpg.connect(replica_pair.replica.dsn(replica_pair.template))
    try:
        assert await conn.fetchval("SELECT pg_is_in_recovery()") is True
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == head_revision()
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
        assert {"children", "visits", "areas", "users"} <= tables
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("INSERT INTO areas (code, name, level) VALUES ('99', 'x', 'x')")
    finally:
        await conn.close()


async def test_a_write_on_the_primary_becomes_visible_on_the_replica(
    replica_pair: ReplicaPair,
) -> None:
    name = await replica_pair.new_database()
    try:
        primary = await asyncpg.connect(replica_pair.primary.dsn(name))
        try:
            await primary.execute(
                "INSERT INTO areas (code, name, level) VALUES ('63', '青海省', 'province')"
            )
        finally:
            await primary.close()
        await replica_pair.wait_for_replay()
        replica = await asyncpg.connect(replica_pair.replica.dsn(name))
        try:
            assert await replica.fetchval("SELECT name FROM areas WHERE code = '63'") == "青海省"
        finally:
            await replica.close()
    finally:
        await replica_pair.drop_database(name)


# --- reads through the app ----------------------------------------------------------------


async def test_read_sessions_read_the_replica_and_sessions_the_primary(
    replica_app: ReplicaApp,
) -> None:
    db = replica_app.db
    assert db.replica is not None  # DATABASE_REPLICA_URL attached by the app's lifespan
    async with replica_app.replay_paused():
        child_id = await _new_child(replica_app)
        async with db.read_sessionmaker() as s:
            assert await _in_recovery(s)
            assert not await _has_child(s, child_id)
        async with db.read_session() as s:
            assert await _in_recovery(s)
            assert not await _has_child(s, child_id)
        async with db.sessionmaker() as s:
            assert not await _in_recovery(s)
            assert await _has_child(s, child_id)
    async with db.read_session() as s:
        assert await _has_child(s, child_id)


@pytest.mark.parametrize("read", REPLICA_READS, ids=lambda r: r.name)
async def test_endpoint_reads_from_the_replica(replica_app: ReplicaApp, read: ReplicaRead) -> None:
    await assert_read_served_by_replica(replica_app, read)


# --- the replica down ---------------------------------------------------------------------


async def test_reads_fall_back_to_the_primary_while_the_replica_is_down(
    replica_app: ReplicaApp, caplog: pytest.LogCaptureFixture
) -> None:
    db = replica_app.db
    db.replica_retry_seconds = 0  # try the replica again on every read
    async with db.read_session() as s:  # a pooled connection to the replica now exists
        assert await _in_recovery(s)
    child_id = await _new_child(replica_app)
    caplog.set_level(logging.WARNING, logger="childprotect_api.core.db")
    async with replica_app.replica_stopped():
        for _ in range(2):
            async with db.read_session() as s:
                assert not await _in_recovery(s)
                assert await _has_child(s, child_id)
        r = await _probe(replica_app, child_id)
        assert r.status_code == 200, r.text
        assert r.json() == {"in_recovery": False, "child_seen": True}
    down = [m for m in caplog.messages if "unreachable" in m]
    assert len(down) == 1, caplog.messages  # one warning per outage, not one per read
    assert "primary" in down[0]
    logged = "\n".join(caplog.messages)
    assert "replica-secret-pw" not in logged
    assert str(replica_app.pair.replica.port) not in logged

    r = await _probe(replica_app, child_id)  # the replica is back: reads return to it
    assert r.status_code == 200, r.text
    assert r.json() == {"in_recovery": True, "child_seen": True}
    assert any("reachable again" in m for m in caplog.messages)


async def test_a_down_replica_is_not_retried_on_every_read(
    replica_app: ReplicaApp, caplog: pytest.LogCaptureFixture
) -> None:
    db = replica_app.db
    db.replica_retry_seconds = 3600
    caplog.set_level(logging.WARNING, logger="childprotect_api.core.db")
    async with replica_app.replica_stopped():
        async with db.read_session() as s:
            assert not await _in_recovery(s)
    # Running again, but within the retry window reads stay on the primary.
    async with db.read_session() as s:
        assert not await _in_recovery(s)
    assert len([m for m in caplog.messages if "unreachable" in m]) == 1


# --- no replica configured ----------------------------------------------------------------


async def test_without_a_replica_url_reads_use_the_primary(db: Database) -> None:
    assert db.replica is None
    assert db.read_sessionmaker is db.sessionmaker
    async with db.read_session() as s:
        assert not await _in_recovery(s)


async def test_nothing_written_through_a_read_session_persists(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """ReadSessionDep always rolls back, so code that wrongly writes through it fails the same
    way with and without a replica."""

    async def write_through_read_session(s: ReadSessionDep) -> Any:
        await s.execute(text("INSERT INTO areas (code, name, level) VALUES ('64', 'x', 'x')"))
        return {"ok": True}

    app.add_api_route(
        "/test-only/read-write", write_through_read_session, methods=["POST"], operation_id="t"
    )
    r = await client.post("/test-only/read-write")
    assert r.status_code == 200, r.text
    assert await session.scalar(text("SELECT count(*) FROM areas WHERE code = '64'")) == 0
