"""The database going away under a running API: every request answers 503 problem+json
`database_unavailable` with Retry-After (never a 500, never a hang), /readyz says not ready,
and once the database is back requests succeed again without restarting the API.

These tests run against a PostgreSQL of their own (bench/own_postgres.py), stopped and
started at will: the shared server is never restarted. Each variant runs with and without the
pool's pre-ping, since the mapping must not depend on it."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from bench.own_postgres import OwnPostgres, StopMode
from fastapi import FastAPI
from sqlalchemy import text

from childprotect_api.config import Settings
from childprotect_api.core.db import Database, SessionDep
from childprotect_api.core.migrate import upgrade
from childprotect_api.main import create_app
from tests.conftest import _admin_exec, _asyncpg_dsn, _with_database
from tests.visits.visit_factories import VISITS, WORKLIST, registered_child, visit_body

# A guard, not a timing: a request that hangs fails the test instead of the run.
BOUND_S = 30


@pytest.fixture(scope="module")
def own_pg() -> Iterator[OwnPostgres]:
    pg = OwnPostgres(Path(tempfile.mkdtemp(prefix="cp-outage-")))
    pg.start()
    yield pg
    pg.destroy()


# The standard fixtures (database_url, settings, session, world...) on our own server.
@pytest.fixture(scope="module")
def pg_server_url(own_pg: OwnPostgres) -> str:
    return own_pg.url


@pytest.fixture(scope="module")
def template_db(pg_server_url: str) -> str:
    name = "cp_tpl_outage"
    asyncio.run(
        _admin_exec(pg_server_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    )
    upgrade(_with_database(pg_server_url, name))
    return name


@pytest.fixture(params=[True, False], ids=["pre_ping", "no_pre_ping"])
async def db(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Database]:
    assert settings.database_url
    database = Database.create(
        settings.database_url, pool_size=3, max_overflow=2, pre_ping=request.param
    )
    yield database
    await database.dispose()


async def _get(client: httpx.AsyncClient, method: str, url: str, **kw) -> httpx.Response:
    return await asyncio.wait_for(client.request(method, url, **kw), BOUND_S)


def _assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "database_unavailable"
    assert body["status"] == 503
    assert body["request_id"] == r.headers["x-request-id"]
    assert int(r.headers["retry-after"]) > 0
    assert r.headers["x-content-type-options"] == "nosniff"  # still a normal response


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_requests_answer_503_while_the_database_is_down_and_succeed_after(
    client, session, settings, world, own_pg: OwnPostgres, mode: StopMode
):
    child = await registered_child(session, settings)
    await session.close()
    h = world["director"].headers
    assert (await _get(client, "GET", WORKLIST, headers=h)).status_code == 200
    assert (await _get(client, "GET", f"/api/v1/children/{child.id}", headers=h)).is_success
    assert (await _get(client, "GET", "/readyz")).status_code == 200

    refused_visit = uuid.uuid4()
    own_pg.stop(mode)
    try:
        for _ in range(2):  # the first call meets the pooled connections, the next a refusal
            _assert_unavailable(await _get(client, "GET", WORKLIST, headers=h))
            _assert_unavailable(
                await _get(client, "GET", f"/api/v1/children/{child.id}", headers=h)
            )
            _assert_unavailable(
                await _get(
                    client,
                    "PUT",
                    f"{VISITS}/{refused_visit}",
                    json=visit_body(child.id),
                    headers=h,
                )
            )
        ready = await _get(client, "GET", "/readyz")
        assert ready.status_code == 503
        assert ready.json()["code"] == "not_ready"
        assert "retry-after" in ready.headers
        # A request that never needs the database is still served.
        assert (await _get(client, "GET", "/healthz")).status_code == 200
    finally:
        own_pg.start()

    # Back, with the same API (and the same pool): no restart.
    assert (await _get(client, "GET", "/readyz")).status_code == 200
    assert (await _get(client, "GET", WORKLIST, headers=h)).status_code == 200
    assert (await _get(client, "GET", f"/api/v1/children/{child.id}", headers=h)).is_success
    # The visit refused during the outage was not stored: sending it again creates it.
    r = await _get(client, "PUT", f"{VISITS}/{refused_visit}", json=visit_body(child.id), headers=h)
    assert r.status_code == 201, r.text


async def _terminate_api_backends(database_url: str) -> int:
    """Kill the API's server-side connections to its database (what a restart, a failover or
    an idle-connection reaper does to a pool)."""
    conn = await asyncpg.connect(_asyncpg_dsn(_with_database(database_url, "postgres")))
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND application_name = 'childprotect-api' AND pid <> pg_backend_pid()",
            database_url.rsplit("/", 1)[1],
        )
    finally:
        await conn.close()
    return len(rows)


async def _sleep_running(database_url: str) -> bool:
    conn = await asyncpg.connect(_asyncpg_dsn(_with_database(database_url, "postgres")))
    try:
        return bool(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                "AND state = 'active' AND query LIKE 'SELECT pg_sleep%'",
                database_url.rsplit("/", 1)[1],
            )
        )
    finally:
        await conn.close()


async def test_pooled_connections_killed_are_replaced(
    client, session, settings, world, db: Database, database_url: str
):
    """Connections that died while idle in the pool are replaced before use: by the pre-ping,
    or without it by the checkout check (a socket the server closed) and the request's BEGIN
    retried once on a fresh connection (db.RequestSession.open; tests/core/test_db_liveness.py)."""
    h = world["director"].headers
    await session.close()
    assert (await _get(client, "GET", WORKLIST, headers=h)).status_code == 200
    assert await _terminate_api_backends(database_url) >= 1
    assert (await _get(client, "GET", WORKLIST, headers=h)).status_code == 200
    assert (await _get(client, "GET", WORKLIST, headers=h)).status_code == 200


def _with_sleep_route(app: FastAPI) -> None:
    """A route whose statement runs for a while, to fail a request in flight."""

    async def sleep(session: SessionDep, seconds: float) -> dict[str, bool]:
        await session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        return {"slept": True}

    app.add_api_route("/api/v1/test-sleep", sleep, methods=["GET"])


async def test_a_request_in_flight_when_the_server_stops_answers_503(
    app: FastAPI, client, database_url: str
):
    _with_sleep_route(app)

    async def stop_soon() -> None:
        # Only once the statement is really running (a loaded machine may take longer than
        # any fixed delay to get there; killing an idle pooled connection is another test).
        for _ in range(200):
            await asyncio.sleep(0.1)
            if await _sleep_running(database_url):
                break
        assert await _terminate_api_backends(database_url) >= 1

    stopper = asyncio.create_task(stop_soon())
    r = await _get(client, "GET", "/api/v1/test-sleep", params={"seconds": 20})
    await stopper
    _assert_unavailable(r)
    r = await _get(client, "GET", "/api/v1/test-sleep", params={"seconds": 0})
    assert r.status_code == 200


async def test_a_statement_past_the_command_timeout_answers_503(settings: Settings):
    """A database that stops answering (a network partition, a frozen server) holds a request
    no longer than the command timeout."""
    assert settings.database_url
    database = Database.create(settings.database_url, pool_size=1, command_timeout=0.5)
    app = create_app(settings, database)
    _with_sleep_route(app)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as c:
            _assert_unavailable(await _get(c, "GET", "/api/v1/test-sleep", params={"seconds": 5}))
            assert (await _get(c, "GET", "/api/v1/test-sleep", params={"seconds": 0})).is_success
    finally:
        await database.dispose()


async def test_a_frozen_database_answers_a_read_503_within_the_request_bound(
    settings: Settings, session, world, db: Database, own_pg: OwnPostgres
):
    """Every process of the server stopped (SIGSTOP: it accepts connections but answers
    nothing): a read and a single write answer 503 within the short request bound, not the
    long command timeout; once the server thaws, the same API answers."""
    child = await registered_child(session, settings)
    await session.commit()
    await session.close()
    pre_ping = db.engine.pool._pre_ping  # type: ignore[attr-defined]
    assert settings.database_url
    request_s = 2.0
    database = Database.create(
        settings.database_url,
        pool_size=2,
        max_overflow=1,
        pre_ping=pre_ping,
        command_timeout=60,
        request_timeout=request_s,
    )
    app = create_app(settings, database)
    h = world["director"].headers
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as c:
            assert (await _get(c, "GET", f"/api/v1/children/{child.id}", headers=h)).is_success
            own_pg.freeze()
            try:
                for method, url, body in (
                    ("GET", f"/api/v1/children/{child.id}", None),
                    ("PUT", f"{VISITS}/{uuid.uuid4()}", visit_body(child.id)),
                ):
                    t0 = time.monotonic()
                    r = await asyncio.wait_for(
                        c.request(method, url, json=body, headers=h), BOUND_S
                    )
                    elapsed = time.monotonic() - t0
                    _assert_unavailable(r)
                    # A statement's bound, and at most one more for a new connection (its
                    # connect timeout): far from the command timeout.
                    assert elapsed < request_s + 6, (method, elapsed)
            finally:
                own_pg.thaw()
            r = await _get(c, "GET", f"/api/v1/children/{child.id}", headers=h)
            assert r.is_success, r.text
    finally:
        await database.dispose()


async def test_a_database_nobody_listens_for_answers_503(settings: Settings, world):
    """Nothing listening (a port no server has): refused at once; /readyz says not ready."""
    from bench.own_postgres import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    database = Database.create(url, pool_size=1, connect_timeout=2)
    app = create_app(settings, database)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as c:
            h = world["director"].headers
            _assert_unavailable(await _get(c, "GET", WORKLIST, headers=h))
            assert (await _get(c, "GET", "/readyz")).status_code == 503
    finally:
        await database.dispose()


# --- which failures are "the database is unavailable" (errors.is_database_unavailable) ------


def _dbapi_error(orig: Exception, *, invalidated: bool = False) -> Exception:
    from sqlalchemy.exc import DBAPIError

    err = DBAPIError.instance("SELECT 1", None, orig, Exception, connection_invalidated=invalidated)
    err.__cause__ = orig
    return err


@pytest.mark.parametrize(
    ("exc", "unavailable"),
    [
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.AdminShutdownError("terminating connection due to administrator command"), True),
        (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle"), True),
        (asyncpg.TooManyConnectionsError("sorry, too many clients already"), True),
        (asyncpg.InterfaceError("connection is closed"), True),
        (
            asyncpg.InternalClientError(
                'cannot switch to state 15; protocol is in the "failed" state'
            ),
            True,
        ),
        (_dbapi_error(asyncpg.CannotConnectNowError("starting up")), True),
        (_dbapi_error(RuntimeError("whatever"), invalidated=True), True),
        # Errors of the request or of the code are not outages: they stay 409/422/500.
        (asyncpg.UniqueViolationError("duplicate key"), False),
        (_dbapi_error(asyncpg.UniqueViolationError("duplicate key")), False),
        (
            asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
            False,
        ),
        (asyncpg.QueryCanceledError("canceling statement due to statement timeout"), False),
        (
            asyncpg.InternalClientError(
                "cannot switch to state 15; another operation (11) is in progress"
            ),
            False,
        ),
        (OSError("no such file"), False),  # not raised inside the driver
        (ValueError("bad"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_which_errors_mean_the_database_is_unavailable(exc: Exception, unavailable: bool):
    from childprotect_api.core.errors import is_database_unavailable

    assert is_database_unavailable(exc) is unavailable
    # Also when it is the cause of another error (a rollback failing after it, a wrapper).
    try:
        try:
            raise exc
        except Exception as inner:
            raise RuntimeError("rollback failed") from inner
    except RuntimeError as outer:
        assert is_database_unavailable(outer) is unavailable
    assert is_database_unavailable(BaseExceptionGroup("group", [exc])) is unavailable


def test_a_pool_timeout_is_unavailable():
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from childprotect_api.core.errors import is_database_unavailable

    assert is_database_unavailable(PoolTimeout("QueuePool limit reached"))
