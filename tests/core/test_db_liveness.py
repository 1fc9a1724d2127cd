"""The pool does not pre-ping (three round trips per request): a dead pooled connection is
replaced at checkout when its socket is seen closed, or when the request's BEGIN fails on it
(retried once on a fresh connection). Here the server really drops every connection of the
API (pg_terminate_backend) and the next requests still succeed."""

from __future__ import annotations

import asyncio
import contextlib
import struct

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from childprotect_api.core.db import (
    Database,
    RequestSession,
    SessionDep,
    _caused_by,
    _discard_closed,
    closed_is_gone,
)
from childprotect_api.core.errors import is_database_unavailable
from tests.conftest import _asyncpg_dsn
from tests.visits.visit_factories import WORKLIST

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
        with caplog.at_level("WARNING", logger="childprotect_api.core.db"):
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
    for closed_after in (0, 2):
        with pytest.raises(asyncpg.ConnectionDoesNotExistError) as got:
            async with closed_is_gone(_Conn(closed_after)):
                raise asyncpg.InternalClientError("cannot switch to state 15")
        assert is_database_unavailable(got.value)
    # Wrapped, as SQLAlchemy raises it for the ORM's statements.
    wrapped = DBAPIError.instance("COMMIT", None, asyncpg.InternalClientError("x"), Exception)
    with pytest.raises(asyncpg.ConnectionDoesNotExistError):
        async with closed_is_gone(_Conn(0)):
            raise wrapped
    # On a connection still open it is what it says: a bug (500), not an outage.
    with pytest.raises(asyncpg.InternalClientError):
        async with closed_is_gone(_Conn(closed_after=99)):
            raise asyncpg.InternalClientError("cannot switch to state 15")


# --- the race itself, on a real connection ---------------------------------------------------


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


# What the server sends a session it ends (a restart, pg_terminate_backend), before closing it.
_FATAL = _message(
    b"E",
    b"SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0",
)


def _server_ends_the_session(raw: asyncpg.Connection) -> None:
    """The moment the race is lost, on a connection idle in the request's transaction: the
    server's FATAL has been read, and the socket is gone, but the event loop has not yet told
    asyncpg (it does on its next turn). The bytes are the server's own; only the timing,
    which a real restart hits about once in a few hundred requests, is forced."""
    raw._protocol.data_received(_FATAL)
    raw._transport.abort()


async def _reopened(db: Database) -> None:
    """The pool still serves: the next request's session works."""
    session = await RequestSession.open(db)
    assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    await session.finish(commit=True)


async def test_an_orm_statement_after_the_server_ended_the_session_is_a_lost_connection(db):
    """SQLAlchemy's asyncpg dialect counts an error on a closed connection as a disconnect: the
    connection is invalidated, and the request's session still finishes cleanly."""
    session = await RequestSession.open(db)
    await session.execute(text("SELECT 1"))
    _server_ends_the_session(session._fairy.driver_connection)
    with pytest.raises(Exception) as got:
        await session.execute(text("SELECT 2"))
    assert _caused_by(got.value, asyncpg.InternalClientError)  # the race was met
    assert is_database_unavailable(got.value)
    await session.finish(commit=False)
    await _reopened(db)


async def test_an_orm_commit_after_the_server_ended_the_session_is_a_lost_connection(db):
    session = await RequestSession.open(db)
    await session.execute(text("SELECT 1"))
    _server_ends_the_session(session._fairy.driver_connection)
    with pytest.raises(Exception) as got:
        await session.finish(commit=True)
    assert _caused_by(got.value, asyncpg.InternalClientError)  # the race was met
    assert is_database_unavailable(got.value)
    await _reopened(db)


async def test_a_driver_statement_after_the_server_ended_the_session_is_a_lost_connection(db):
    from childprotect_api.core.rawsql import Raw

    session = await RequestSession.open(db)
    _server_ends_the_session(session._fairy.driver_connection)
    with pytest.raises(Exception) as got:
        await Raw(text("SELECT 1")).fetch(session, {})
    assert _caused_by(got.value, asyncpg.InternalClientError)  # the race was met
    assert is_database_unavailable(got.value)
    with contextlib.suppress(Exception):
        await session.finish(commit=False)
    await _reopened(db)


async def test_a_protocol_error_before_the_sockets_end_is_seen_is_a_lost_connection_too(db):
    """The server's FATAL read and its socket's end not yet seen at all: asyncpg aborts the
    connection itself after the protocol error it raises, so it is a lost connection (503)
    whichever way the race went. (An InternalClientError on a connection that stays open is
    still an error of its own: see
    test_a_protocol_error_on_a_connection_the_server_closed_is_a_lost_connection.)"""
    session = await RequestSession.open(db)
    await session.execute(text("SELECT 1"))
    raw = session._fairy.driver_connection
    raw._protocol.data_received(_FATAL)
    with pytest.raises(Exception) as got:
        await session.execute(text("SELECT 2"))
    assert _caused_by(got.value, asyncpg.InternalClientError)  # the race was met
    assert is_database_unavailable(got.value)
    assert raw.is_closed()
    await session.finish(commit=False)
    await _reopened(db)


async def test_a_request_whose_session_the_server_ended_mid_way_answers_503(app, client, db):
    """Through the app: two ORM statements with the session ended between them."""

    async def two_statements(session: SessionDep) -> dict[str, int]:
        await session.execute(text("SELECT 1"))
        assert isinstance(session, RequestSession)
        _server_ends_the_session(session._fairy.driver_connection)
        await session.execute(text("SELECT 2"))
        return {"ok": 1}

    app.add_api_route("/api/v1/test-two-statements", two_statements, methods=["GET"])
    r = await client.get("/api/v1/test-two-statements")
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "database_unavailable"
    assert int(r.headers["retry-after"]) > 0
    await _reopened(db)
