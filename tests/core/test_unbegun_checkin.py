"""core/db.py unbegun_connection gives its connection back without a greenlet when the checkin
needs no I/O (issue #23), and through SQLAlchemy's greenlet otherwise (an overflow connection
is closed): the pool's counts hold either way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import literal_column, select

from childprotect_api.config import Settings
from childprotect_api.core import db as db_module
from childprotect_api.core.db import Database, unbegun_connection
from childprotect_api.core.rawsql import Raw

_ONE = Raw(select(literal_column("1").label("one")))


@pytest.fixture
async def small(settings: Settings) -> AsyncIterator[Database]:
    assert settings.database_url
    database = Database.create(settings.database_url, pool_size=1, max_overflow=2)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    real = db_module.greenlet_spawn

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        names.append(getattr(fn, "__name__", repr(fn)))
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(db_module, "greenlet_spawn", counting)
    return names


async def test_a_plain_checkin_needs_no_greenlet(small: Database, spawned: list[str]) -> None:
    pool: Any = small.engine.sync_engine.pool
    for _ in range(3):
        assert [r["one"] for r in await _ONE.fetch_alone(small, {})] == [1]
    assert spawned == ["raw_connection"] * 3  # the checkouts only
    assert (pool.checkedout(), pool.checkedin()) == (0, 1)


async def test_overflow_connections_are_closed_in_a_greenlet(
    small: Database, spawned: list[str]
) -> None:
    pool: Any = small.engine.sync_engine.pool
    started = asyncio.Event()
    held = 0

    async def hold() -> None:
        nonlocal held
        async with unbegun_connection(small) as conn:
            held += 1
            if held == 3:
                started.set()
            await started.wait()
            assert await conn.fetchval("SELECT 1") == 1

    await asyncio.gather(hold(), hold(), hold())
    assert pool.checkedout() == 0
    assert pool.checkedin() == 1  # the two overflow connections were closed
    assert spawned.count("close") == 2  # ... through SQLAlchemy's checkin, in a greenlet
    assert spawned.count("raw_connection") == 3


async def test_after_a_server_error_the_connection_is_pooled_again(small: Database) -> None:
    pool: Any = small.engine.sync_engine.pool
    bad = Raw(select(literal_column("1/0").label("x")))
    with pytest.raises(Exception, match="division by zero"):
        await bad.fetch_alone(small, {})
    assert (pool.checkedout(), pool.checkedin()) == (0, 1)
    assert [r["one"] for r in await _ONE.fetch_alone(small, {})] == [1]
