"""A real streaming replica for tests: two local PostgreSQL clusters, a primary made with
initdb and a hot standby made from it with `pg_basebackup -R`, each on a free port of
127.0.0.1, in a temporary folder that is removed at the end of the session.

The server binaries come from CHILDPROTECT_TEST_PG_BINDIR, `pg_config --bindir`,
/usr/lib/postgresql/*/bin or the `pgserver` package (the embedded server's own binaries);
without initdb, pg_ctl, pg_basebackup and postgres in one of them the tests that use the
fixture are skipped, saying why. initdb refuses to run as root: as root, the clusters run as
the `postgres` (or `pgserver`) system user.

    def test_x(replica_pair: ReplicaPair) -> None: ...       # the clusters (session-scoped)
    async def test_y(replica_app: ReplicaApp) -> None: ...    # an app on them, with a world

`ReplicaApp` is an app created from DATABASE_URL = primary and DATABASE_REPLICA_URL = replica
(through its own lifespan, as `serve` does), a client, the standard world of actors on the
primary, and `replay_paused()` / `replica_stopped()`. `assert_read_served_by_replica` is the
check for any endpoint that reads through ReadSessionDep (see tests/test_read_replica.py's
REPLICA_READS)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.config import Settings
from childprotect_api.db import Database
from childprotect_api.main import create_app
from childprotect_api.migrate import upgrade
from childprotect_api.models.area import LEVEL_BY_LENGTH, Area

REQUIRED = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
TEMPLATE = "cp_replica_tpl"
_counter = itertools.count()


# --- finding the binaries -----------------------------------------------------------------


def _candidate_bindirs() -> list[Path]:
    found: list[Path] = []
    env = os.environ.get("CHILDPROTECT_TEST_PG_BINDIR")
    if env:
        found.append(Path(env))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(  # noqa: S603 (pg_config from PATH, no input)
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            found.append(Path(out.stdout.strip()))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    found += sorted(
        (Path(p) for p in versions),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    with contextlib.suppress(ImportError):
        import pgserver  # the embedded server's package bundles a full installation

        assert pgserver.__file__ is not None
        found.append(Path(pgserver.__file__).parent / "pginstall" / "bin")
    return found


def find_pg_bindir() -> tuple[Path | None, str]:
    """The first folder holding every binary a replica needs, or None and why not."""
    candidates = _candidate_bindirs()
    for bindir in candidates:
        if all(os.access(bindir / exe, os.X_OK) for exe in REQUIRED):
            return bindir, ""
    looked = ", ".join(str(c) for c in candidates) or "nowhere (no pg_config, no pgserver)"
    return None, (
        f"no PostgreSQL server binaries ({', '.join(REQUIRED)}) found for a streaming "
        f"replica; looked in {looked}. Set CHILDPROTECT_TEST_PG_BINDIR to run these tests."
    )


def _run_as_user() -> tuple[str | None, str]:
    """The system user to run the clusters as (None: ourselves), or a reason to skip."""
    if os.geteuid() != 0:
        return None, ""
    for name in ("postgres", "pgserver"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name, ""
    return None, (
        "running as root: initdb refuses root and there is no 'postgres' or 'pgserver' "
        "system user to run the test clusters as"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- one cluster ----------------------------------------------------------------------------


@dataclass
class Cluster:
    name: str
    base: Path  # <tmp>/<name>: data/, log, socket
    bindir: Path
    port: int
    user: str | None

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def logfile(self) -> Path:
        return self.base / "server.log"

    def url(self, database: str, password: str | None = None) -> str:
        auth = f"postgres:{password}" if password else "postgres"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return self.url(database)

    def run(self, exe: str, *args: str) -> None:
        try:
            subprocess.run(  # noqa: S603 (the PostgreSQL binaries, arguments of our making)
                [str(self.bindir / exe), *args],
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
                user=self.user,
                cwd=self.base,
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"{exe} failed for the {self.name} test cluster ({exc.returncode}):\n"
                f"{exc.stdout}\n{exc.stderr}\n{self.log_tail()}"
            ) from exc

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
        self.run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60",
            "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


def _make_base(root: Path, name: str, user: str | None) -> Path:
    base = root / name
    base.mkdir(mode=0o700)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    return base


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

HBA = """
local all all trust
host all all 127.0.0.1/32 trust
local replication all trust
host replication all 127.0.0.1/32 trust
"""


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
        root = Path(tempfile.mkdtemp(prefix="cp-repl-"))  # short: the sockets live there
        os.chmod(root, 0o755)  # noqa: S103 (the clusters' user must reach its folders)
        primary = Cluster("primary", _make_base(root, "primary", user), bindir, free_port(), user)
        replica = Cluster("replica", _make_base(root, "replica", user), bindir, free_port(), user)
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
        p.run(
            "initdb", "-D", str(p.data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        with (p.data / "postgresql.conf").open("a") as conf:
            conf.write(PRIMARY_CONF)
        (p.data / "pg_hba.conf").write_text(HBA)
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
    user, reason = _run_as_user()
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
