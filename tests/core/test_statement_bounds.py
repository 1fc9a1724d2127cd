"""The bound of one statement, per kind of request: reads, single writes and the sync answer
503 `database_unavailable` once a statement has waited `request_timeout` (a phone on a slow
link must not wait a minute for a frozen database); imports and exports keep the long
`command_timeout`; background work too. A locked table stands in for a frozen server here
(the shared server is never frozen); the bound is the client's own, so it holds either way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from childprotect_api.config import Settings
from childprotect_api.core.db import Database, statement_bound
from tests.conftest import _asyncpg_dsn
from tests.visits.visit_factories import VISITS, registered_child, visit_body

SHORT_S = 1.0
LONG_S = 30.0
GUARD_S = 15  # a request that waits for the long bound fails the test, not the run


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    assert settings.database_url
    database = Database.create(
        settings.database_url,
        pool_size=3,
        max_overflow=2,
        command_timeout=LONG_S,
        request_timeout=SHORT_S,
    )
    yield database
    await database.dispose()


@asynccontextmanager
async def children_locked(database_url: str, hold_s: float | None = None) -> AsyncIterator[None]:
    """The children table locked by another transaction (even reads wait), for `hold_s`
    seconds or for the block."""
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    tx = conn.transaction()
    await tx.start()
    await conn.execute("LOCK TABLE children IN ACCESS EXCLUSIVE MODE")

    async def release_later() -> None:
        assert hold_s is not None
        await asyncio.sleep(hold_s)
        await tx.rollback()

    release = asyncio.create_task(release_later()) if hold_s is not None else None
    try:
        yield
    finally:
        if release is not None:
            await release
        else:
            await tx.rollback()
        await conn.close()


def _assert_unavailable_soon(r, elapsed: float) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "database_unavailable"
    assert int(r.headers["retry-after"]) > 0
    assert elapsed < SHORT_S + 3, elapsed


async def test_a_read_on_a_locked_table_answers_503_within_the_short_bound(
    client, world, session, settings, database_url
):
    child = await registered_child(session, settings)
    await session.commit()
    h = world["director"].headers
    async with children_locked(database_url):
        t0 = time.monotonic()
        r = await asyncio.wait_for(client.get(f"/api/v1/children/{child.id}", headers=h), GUARD_S)
        _assert_unavailable_soon(r, time.monotonic() - t0)
        t0 = time.monotonic()
        r = await asyncio.wait_for(client.get("/api/v1/children", headers=h), GUARD_S)
        _assert_unavailable_soon(r, time.monotonic() - t0)
    # Nothing is left behind: the same reads answer at once.
    assert (await client.get(f"/api/v1/children/{child.id}", headers=h)).status_code == 200


async def test_a_single_write_and_the_sync_answer_503_within_the_short_bound(
    client, world, session, settings, database_url
):
    child = await registered_child(session, settings)
    await session.commit()
    director = world["director"]
    async with children_locked(database_url):
        t0 = time.monotonic()
        r = await asyncio.wait_for(
            client.put(f"{VISITS}/{child.id}", json=visit_body(child.id), headers=director.headers),
            GUARD_S,
        )
        _assert_unavailable_soon(r, time.monotonic() - t0)
        t0 = time.monotonic()
        r = await asyncio.wait_for(
            client.get("/api/v1/sync/changes", headers=director.headers), GUARD_S
        )
        _assert_unavailable_soon(r, time.monotonic() - t0)


async def test_an_export_waits_past_the_short_bound(client, world, database_url):
    """Held twice the short bound: an export (the long bound) waits and answers."""
    h = world["officer"].headers
    async with children_locked(database_url, hold_s=SHORT_S * 2.5):
        t0 = time.monotonic()
        r = await asyncio.wait_for(client.get("/api/v1/stats/export", headers=h), GUARD_S)
        waited = time.monotonic() - t0
    assert r.status_code == 200, r.text
    assert waited >= SHORT_S * 2  # it did wait for the table, past the short bound


async def test_the_pools_bound_is_put_back_after_each_request(client, world, db: Database):
    h = world["director"].headers
    for _ in range(4):  # the pool's connections in turn
        assert (await client.get("/api/v1/children", headers=h)).status_code == 200
        assert (await client.get("/api/v1/sync/changes", headers=h)).status_code == 200
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert statement_bound(raw) == LONG_S
    async with db.sessionmaker() as background:  # background work: the long bound
        raw = (await (await background.connection()).get_raw_connection()).driver_connection
        assert statement_bound(raw) == LONG_S


def test_imports_and_exports_and_only_they_get_the_long_bound():
    import importlib
    import pkgutil

    from fastapi.routing import APIRoute

    import childprotect_api.routers as routers
    from childprotect_api.core.db import long_statements

    long, imports_exports = set(), set()
    for info in pkgutil.iter_modules(routers.__path__):
        router = getattr(importlib.import_module(f"{routers.__name__}.{info.name}"), "router", None)
        for route in getattr(router, "routes", []):
            if not isinstance(route, APIRoute):
                continue
            # The exports: statistics, and the registers (台账, one path per kind).
            if route.path.endswith(("/import", "/export")) or route.path.startswith(
                "/api/v1/registers/"
            ):
                imports_exports.add(route.path)
            if any(d.call is long_statements for d in route.dependant.dependencies):
                long.add(route.path)
    assert len(imports_exports) == 4
    assert long == imports_exports
