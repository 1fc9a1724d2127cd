"""The pool does not pre-ping (three round trips per request): a dead pooled connection is
replaced at checkout when its socket is seen closed, or when the request's BEGIN fails on it
(retried once on a fresh connection). Here the server really drops every connection of the
API (pg_terminate_backend) and the next requests still succeed."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import event

from childprotect_api.db import _discard_closed, is_disconnect
from tests.conftest import _asyncpg_dsn
from tests.visit_factories import WORKLIST

APP_CONNECTIONS = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
    "AND application_name = 'childprotect-api' AND pid <> pg_backend_pid()"
)


async def _terminate_all(database_url: str) -> int:
    """Terminate every backend of the API's pool; answer how many, once they are gone."""
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        pids = [r["pid"] for r in await conn.fetch(APP_CONNECTIONS)]
        for pid in pids:
            await conn.execute("SELECT pg_terminate_backend($1)", pid)
        for _ in range(100):
            if not await conn.fetch(APP_CONNECTIONS):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the backends did not go away")
        return len(pids)
    finally:
        await conn.close()


async def _get_ok(client, headers) -> None:  # type: ignore[no-untyped-def]
    r = await client.get(WORKLIST, headers=headers)
    assert r.status_code == 200, r.text


async def test_pool_does_not_pre_ping(db):
    assert db.engine.pool._pre_ping is False


async def test_requests_succeed_after_the_server_drops_every_connection(
    client, world, db, database_url
):
    headers = world["director"].headers
    # Several connections in the pool (concurrent requests), then all of them killed.
    await asyncio.gather(*(_get_ok(client, headers) for _ in range(4)))
    assert await _terminate_all(database_url) >= 1
    for _ in range(6):
        await _get_ok(client, headers)
    # Twice in a row, with the connections killed while idle in the pool.
    assert await _terminate_all(database_url) >= 1
    await asyncio.gather(*(_get_ok(client, headers) for _ in range(4)))


async def test_a_dead_connection_handed_out_is_replaced_when_the_request_begins(
    client, world, db, database_url, caplog
):
    """When the server's goodbye has not been seen yet at checkout, the dead connection reaches
    the request: its BEGIN fails and is retried on a fresh connection."""
    headers = world["director"].headers
    await _get_ok(client, headers)
    raced: list[bool] = []

    def check_all_but_the_first(dbapi_connection, record, proxy) -> None:  # type: ignore[no-untyped-def]
        if not raced:
            raced.append(dbapi_connection.driver_connection.is_closed())
            return
        _discard_closed(dbapi_connection, record, proxy)

    engine = db.engine.sync_engine
    event.remove(engine, "checkout", _discard_closed)
    event.listen(engine, "checkout", check_all_but_the_first)
    try:
        assert await _terminate_all(database_url) >= 1
        with caplog.at_level("WARNING", logger="childprotect_api.db"):
            for _ in range(3):
                await _get_ok(client, headers)
    finally:
        event.remove(engine, "checkout", check_all_but_the_first)
        event.listen(engine, "checkout", _discard_closed)
    # The first checkout handed out a connection whose backend was terminated (whether or
    # not the event loop had seen the socket's end by then: on a busy machine it may not
    # have), and the request's BEGIN on it was retried on a fresh one.
    assert len(raced) == 1
    assert "retrying on a fresh one" in caplog.text


async def test_a_request_that_fails_for_another_reason_is_not_retried(client, world):
    # A wrong request is answered as before (no retry loop, no 500).
    r = await client.get(WORKLIST, params={"cursor": "garbage"}, headers=world["director"].headers)
    assert r.status_code == 422


def test_what_counts_as_a_disconnect():
    assert is_disconnect(asyncpg.ConnectionDoesNotExistError("closed in the middle"))
    assert is_disconnect(ConnectionResetError())
    assert is_disconnect(asyncpg.AdminShutdownError("terminating connection"))
    assert is_disconnect(
        asyncpg.InternalClientError('cannot switch to state 15; protocol is in the "failed" state')
    )
    assert not is_disconnect(asyncpg.UniqueViolationError("duplicate key"))
    assert not is_disconnect(ValueError("no"))


class _Conn:
    def __init__(self, closed_after: int) -> None:
        self.checks = 0
        self.closed_after = closed_after

    def is_closed(self) -> bool:
        self.checks += 1
        return self.checks > self.closed_after


async def test_a_protocol_error_on_a_connection_the_server_closed_is_a_lost_connection():
    """The server ended the session between two statements: asyncpg's next one can fail with
    an InternalClientError about its protocol's state. On a connection found closed (at once,
    or once the loop has seen the socket's end) that is a lost connection (503)."""
    from childprotect_api.db import closed_is_gone
    from childprotect_api.errors import is_database_unavailable

    for closed_after in (0, 2):
        with pytest.raises(asyncpg.ConnectionDoesNotExistError) as got:
            async with closed_is_gone(_Conn(closed_after)):
                raise asyncpg.InternalClientError("cannot switch to state 15")
        assert is_database_unavailable(got.value)
    # Wrapped, as SQLAlchemy raises it for the ORM's statements.
    from sqlalchemy.exc import DBAPIError

    wrapped = DBAPIError.instance("COMMIT", None, asyncpg.InternalClientError("x"), Exception)
    with pytest.raises(asyncpg.ConnectionDoesNotExistError):
        async with closed_is_gone(_Conn(0)):
            raise wrapped
    # On a connection still open it is what it says: a bug (500), not an outage.
    with pytest.raises(asyncpg.InternalClientError):
        async with closed_is_gone(_Conn(closed_after=99)):
            raise asyncpg.InternalClientError("cannot switch to state 15")
