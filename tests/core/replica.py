"""A real streaming replica for tests: two local PostgreSQL clusters, a primary made with
initdb and a hot standby made from it with `pg_basebackup -R`, each on a free port of
127.0.0.1, in a temporary folder that is removed at the end of the session.

The server binaries are found by bench/pgcluster.py (CHILDPROTECT_TEST_PG_BINDIR,
`pg_config --bindir`, /usr/lib/postgresql/*/bin, the `pgserver` package); without initdb,
pg_ctl, pg_basebackup and postgres in one of them the tests that use the fixture are skipped,
saying why. As root, the clusters run as the `postgres` (or `pgserver`) system user.

    def test_x(replica_pair: ReplicaPair) -> None: ...       # the clusters (session-scoped)
    async def test_y(replica_app: ReplicaApp) -> None: ...    # an app on them, with a world

`ReplicaApp` is an app created from DATABASE_URL = primary and DATABASE_REPLICA_URL = replica
(through its own lifespan, as `serve` does), a client, the standard world of actors on the
primary, and `replay_paused()` / `replica_stopped()`. `assert_read_served_by_replica` is the
check for any endpoint that reads through ReadSessionDep (see tests/core/test_read_replica.py's
REPLICA_READS)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from bench.pgcluster import Cluster, find_pg_bindir, free_port, make_base, run_as_user
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.config import Settings
from childprotect_api.core.db import Database
from childprotect_api.core.migrate import upgrade
from childprotect_api.main import create_app
from childprotect_api.models.area import LEVEL_BY_LENGTH, Area

TEMPLATE = "cp_replica_tpl"
_counter = itertools.count()

PRIMARY_CONF = """
# test cluster: a primary streaming to one standby; durability is not the point here
wal_level = replica
max_wal_senders = 4
hot_standby = on
fsync = off
full_page_writes = on
shared_buffers = 16MB
max_connections = 40
wal_receiver_status_interval = 1s
"""


PREFIX = "cp-repl-"


def reap_stale(bindir: Path, user: str | None) -> None:
    """Stop and remove the clusters of earlier sessions that died without cleaning up (a
    killed CI job): those whose owner process is gone."""
    for root in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = int((root / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        for name in ("replica", "primary"):
            cluster = Cluster(name, root / name, bindir, 0, user)
            if cluster.is_running():
                with contextlib.suppress(Exception):
                    cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the pair -------------------------------------------------------------------------------


@dataclass
class ReplicaPair:
    root: Path
    primary: Cluster
    replica: Cluster
    template: str = TEMPLATE
    _destroyed: bool = field(default=False, repr=False)

    @classmethod
    def create(cls, bindir: Path, user: str | None) -> ReplicaPair:
        reap_stale(bindir, user)
        root = Path(tempfile.mkdtemp(prefix=PREFIX))  # short: the sockets live there
        os.chmod(root, 0o755)  # noqa: S103 (the clusters' user must reach its folders)
        (root / "owner.pid").write_text(str(os.getpid()))
        primary = Cluster("primary", make_base(root, "primary", user), bindir, free_port(), user)
        replica = Cluster("replica", make_base(root, "replica", user), bindir, free_port(), user)
        pair = cls(root, primary, replica)
        atexit.register(pair.destroy)  # also when the session is interrupted
        try:
            pair._build()
        except BaseException:
            pair.destroy()
            raise
        return pair

    def _build(self) -> None:
        p, r = self.primary, self.replica
        p.initdb(PRIMARY_CONF)
        p.start()
        # -R: standby.signal and primary_conninfo; -X stream: the WAL of the copy itself.
        r.run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(p.port), "-U", "postgres",
            "-D", str(r.data), "-R", "-X", "stream", "-c", "fast", "--no-sync",
        )  # fmt: skip
        r.start()
        asyncio.run(self._wait_streaming())
        asyncio.run(self._admin(f"CREATE DATABASE {self.template}"))
        upgrade(p.url(self.template))
        asyncio.run(self.wait_for_replay())

    def destroy(self) -> None:
        """Stop both clusters (immediately: they are thrown away) and remove their files."""
        if self._destroyed:
            return
        self._destroyed = True
        for cluster in (self.replica, self.primary):
            if cluster.is_running():
                with contextlib.suppress(Exception):
                    cluster.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # --- helpers for tests ------------------------------------------------------------------

    async def _admin(self, *sql: str) -> None:
        conn = await asyncpg.connect(self.primary.dsn())
        try:
            for s in sql:
                await conn.execute(s)
        finally:
            await conn.close()

    async def _wait_streaming(self, within_s: float = 60) -> None:
        await self._poll(
            self.replica.dsn(),
            "SELECT pg_is_in_recovery() AND EXISTS "
            "(SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')",
            within_s,
            "the standby did not start streaming",
        )

    async def _poll(self, dsn: str, sql: str, within_s: float, what: str, *args: Any) -> None:
        deadline = time.monotonic() + within_s
        while True:
            try:
                conn = await asyncpg.connect(dsn)
                try:
                    if await conn.fetchval(sql, *args):
                        return
                finally:
                    await conn.close()
            except (
                OSError,
                asyncpg.CannotConnectNowError,
                asyncpg.PostgresConnectionError,
                asyncpg.ConnectionDoesNotExistError,
            ):
                pass  # the standby is still starting
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} within {within_s} s\n{self.replica.log_tail()}")
            await asyncio.sleep(0.05)

    async def wait_for_replay(self, within_s: float = 30) -> None:
        """Until the replica has replayed everything the primary has written so far."""
        conn = await asyncpg.connect(self.primary.dsn())
        try:
            lsn = await conn.fetchval("SELECT pg_current_wal_lsn()::text")
        finally:
            await conn.close()
        await self._poll(
            self.replica.dsn(),
            "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
            within_s,
            f"the replica did not replay up to {lsn}",
            lsn,
        )

    async def new_database(self) -> str:
        """A fresh database on the primary, cloned from the migrated template, present on the
        replica when this returns."""
        name = f"cp_r_{os.getpid()}_{next(_counter)}"
        await self._admin(f"CREATE DATABASE {name} TEMPLATE {self.template}")
        await self.wait_for_replay()
        return name

    async def drop_database(self, name: str) -> None:
        await self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    @contextlib.asynccontextmanager
    async def replay_paused(self) -> AsyncIterator[None]:
        """The replica stops applying WAL (it keeps receiving it): whatever the primary
        commits inside the block is invisible on the replica until the block ends."""
        conn = await asyncpg.connect(self.replica.dsn())
        try:
            await conn.execute("SELECT pg_wal_replay_pause()")
            try:
                yield
            finally:
                await conn.execute("SELECT pg_wal_replay_resume()")
        finally:
            await conn.close()
        await self.wait_for_replay()

    @contextlib.asynccontextmanager
    async def replica_stopped(self) -> AsyncIterator[None]:
        """The replica is shut down inside the block and streaming again after it."""
        await asyncio.to_thread(self.replica.stop, "fast")
        try:
            yield
        finally:
            await asyncio.to_thread(self.replica.start)
            await self._wait_streaming()


@pytest.fixture(scope="session")
def replica_pair() -> Iterator[ReplicaPair]:
    """A primary and its streaming hot standby, with a migrated template database
    (`TEMPLATE`). Session-scoped: built once (a few seconds), removed at the end even when
    tests fail."""
    bindir, reason = find_pg_bindir()
    if bindir is None:
        pytest.skip(reason)
    user, reason = run_as_user()
    if reason:
        pytest.skip(reason)
    pair = ReplicaPair.create(bindir, user)
    try:
        yield pair
    finally:
        pair.destroy()


# --- an app on the pair ---------------------------------------------------------------------


@dataclass
class ReplicaApp:
    pair: ReplicaPair
    database: str
    settings: Settings
    app: FastAPI
    client: httpx.AsyncClient
    world: Any  # tests.conftest.World

    @property
    def db(self) -> Database:
        db: Database = self.app.state.db
        return db

    def primary_session(self) -> AsyncSession:
        """A session on the primary, for arranging data (commit what you add)."""
        return self.db.sessionmaker()

    def replay_paused(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.pair.replay_paused()

    def replica_stopped(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.pair.replica_stopped()


@pytest.fixture
async def replica_app(replica_pair: ReplicaPair) -> AsyncIterator[ReplicaApp]:
    """An app created with DATABASE_URL = a fresh database on the primary and
    DATABASE_REPLICA_URL = the same database on the replica, started through its lifespan
    (so the replica is attached as in production), the standard world on the primary."""
    from tests.conftest import ACTORS, AREAS, World, make_actor  # here: conftest imports us

    name = await replica_pair.new_database()
    settings = Settings(
        env="test",
        DATABASE_URL=replica_pair.primary.url(name),
        # The password is ignored (trust) but must never reach a log line.
        DATABASE_REPLICA_URL=replica_pair.replica.url(name, password="replica-secret-pw"),
        login_failure_delay_seconds=0,
        jobs_enabled=False,
        db_pool_size=2,
        db_max_overflow=2,
        data_dir=Path(tempfile.gettempdir()) / "childprotect-test-data",
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            db: Database = app.state.db
            async with db.sessionmaker() as session:
                for code, area_name, parent in AREAS:
                    session.add(
                        Area(
                            code=code,
                            name=area_name,
                            parent_code=parent,
                            level=LEVEL_BY_LENGTH[len(code)],
                        )
                    )
                await session.flush()
                world = World()
                for actor, (role, area) in ACTORS.items():
                    world.actors[actor] = await make_actor(session, settings, actor, role, area)
                await session.commit()
            await replica_pair.wait_for_replay()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield ReplicaApp(replica_pair, name, settings, app, client, world)
    finally:
        await replica_pair.drop_database(name)


# --- the check for endpoints that read through ReadSessionDep -------------------------------

Arrange = Callable[[ReplicaApp], Awaitable[Any]]
Call = Callable[[ReplicaApp, Any], Awaitable[httpx.Response]]
Sees = Callable[[httpx.Response, Any], bool]


@dataclass(frozen=True)
class ReplicaRead:
    """An endpoint that must read from the replica.

    arrange: commits something on the primary and answers a marker for it;
    call: makes the request (with a world actor's headers) and answers the response;
    sees: whether the response shows the marker."""

    name: str
    arrange: Arrange
    call: Call
    sees: Sees


async def assert_read_served_by_replica(ra: ReplicaApp, read: ReplicaRead) -> None:
    """With replay paused, what the primary commits is absent from the endpoint's answer
    (so the answer came from the replica); once replay resumes it is there."""
    async with ra.replay_paused():
        marker = await read.arrange(ra)
        paused = await read.call(ra, marker)
        assert paused.status_code == 200, paused.text
        assert not read.sees(paused, marker), (
            f"{read.name}: the answer shows data the replica has not replayed yet, so it was "
            "read on the primary"
        )
    caught_up = await read.call(ra, marker)
    assert caught_up.status_code == 200, caught_up.text
    assert read.sees(caught_up, marker), f"{read.name}: the replica never showed the data"
