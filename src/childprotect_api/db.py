"""Database access: the async engine, one session (one transaction) per request,
and the embedded PostgreSQL used when no DATABASE_URL is given."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger(__name__)


def to_asyncpg_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+asyncpg:// and answer the asyncpg form."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a PostgreSQL URL")


@dataclass
class Database:
    """The engine and session factory one app instance uses."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # An optional streaming replica for heavy reads (statistics, exports, the sync initial
    # load). None: those reads go to the primary.
    replica: Database | None = None
    # When the replica cannot be reached, heavy reads go to the primary and the replica is
    # tried again after this many seconds (one warning per outage, not one per request).
    replica_retry_seconds: float = 10.0
    _replica_down_until: float | None = field(default=None, repr=False)

    @classmethod
    def create(
        cls,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        pre_ping: bool = False,
        connect_timeout: float = 5.0,
        command_timeout: float | None = 60.0,
        pool_timeout: float = 10.0,
    ) -> Database:
        """Every wait is bounded, so a database that is down or unreachable answers 503
        (errors.is_database_unavailable) within seconds instead of holding the request:
        `connect_timeout` for a new connection, `command_timeout` for one statement (None: no
        limit), `pool_timeout` for a free pooled connection."""
        connect_args: dict[str, Any] = {
            # JIT costs more than it saves on the short OLTP queries this API issues.
            "server_settings": {"jit": "off", "application_name": "childprotect-api"},
            "timeout": connect_timeout,
        }
        if command_timeout is not None:
            connect_args["command_timeout"] = command_timeout
        engine = create_async_engine(
            to_asyncpg_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            # No pre-ping by default (three round trips per request): a connection found
            # closed is replaced at checkout, and one that turns out dead when the request's
            # transaction begins is replaced and the BEGIN retried (`begin`), so dropped
            # connections (a restarted server, pg_terminate_backend) cost nothing in the
            # steady state.
            pool_pre_ping=pre_ping,
            pool_timeout=pool_timeout,
            # Statement parameters hold names and ID numbers: keep them out of logs and of
            # exception messages.
            hide_parameters=True,
            connect_args=connect_args,
        )
        event.listen(engine.sync_engine, "checkout", _discard_closed)
        return cls(engine, async_sessionmaker(engine, expire_on_commit=False, autoflush=False))

    def with_replica(
        self,
        url: str | None,
        *,
        pool_size: int = 5,
        max_overflow: int = 5,
        connect_timeout: float = 3.0,
    ) -> Database:
        """Attach a read replica (DATABASE_REPLICA_URL); None keeps every read on the primary.

        A short connect timeout: a replica that does not answer must not hold a request for
        asyncpg's default minute before the read falls back to the primary."""
        if url:
            self.replica = Database.create(
                url,
                pool_size=pool_size,
                max_overflow=max_overflow,
                connect_timeout=connect_timeout,
                # Heavy reads: a round trip to learn early that the replica went away (and
                # fall back to the primary) costs nothing worth saving.
                pre_ping=True,
            )
        return self

    @property
    def read_sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """The replica's session factory when there is one, without the fallback: prefer
        `read_session()`, which answers a primary session when the replica is unreachable."""
        return (self.replica or self).sessionmaker

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for heavy reads: on the replica when one is configured and reachable,
        else on the primary. Only a failure to connect falls back; a replica that fails in
        the middle of a query fails that request."""
        conn = await self._replica_connection()
        if conn is None:
            async with self.sessionmaker() as session:
                yield session
            return
        assert self.replica is not None
        try:
            async with self.replica.sessionmaker(bind=conn) as session:
                yield session
        finally:
            await conn.close()

    async def _replica_connection(self) -> AsyncConnection | None:
        replica = self.replica
        if replica is None:
            return None
        now = time.monotonic()
        if self._replica_down_until is not None and now < self._replica_down_until:
            return None
        try:
            # The pool pre-pings: a connection to a replica that went away is replaced, and
            # if no new one can be made this raises.
            conn = await replica.engine.connect()
        except (OSError, TimeoutError, SQLAlchemyError, asyncpg.PostgresError) as exc:
            if self._replica_down_until is None:
                # The exception's class only: its text may carry host names or the URL.
                log.warning(
                    "read replica unreachable (%s): heavy reads go to the primary; "
                    "retrying the replica every %g s",
                    type(exc).__name__,
                    self.replica_retry_seconds,
                )
            self._replica_down_until = now + self.replica_retry_seconds
            return None
        if self._replica_down_until is not None:
            log.warning("read replica reachable again: heavy reads go back to it")
            self._replica_down_until = None
        return conn

    async def dispose(self) -> None:
        if self.replica is not None:
            await self.replica.dispose()
        await self.engine.dispose()


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _discard_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pool checkout: a connection whose socket the server already closed (its end seen by
    the event loop) is discarded and another one taken. Free: no round trip."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("connection closed by the server")


_DISCONNECT_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


def is_disconnect(exc: BaseException) -> bool:
    """Whether `exc` says the connection is gone (not that the statement was wrong)."""
    while exc is not None:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        if isinstance(exc, (asyncpg.ConnectionDoesNotExistError, OSError)):
            return True
        if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
            return True
        if getattr(exc, "sqlstate", None) in _DISCONNECT_SQLSTATES or str(
            getattr(exc, "sqlstate", "")
        ).startswith("08"):
            return True
        nxt = getattr(exc, "orig", None) or exc.__cause__
        exc = nxt if isinstance(nxt, BaseException) and nxt is not exc else None  # type: ignore[assignment]
    return False


_DRIVER = "childprotect.driver"  # session.info: (the transaction, its asyncpg connection)


async def driver(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session, inside its transaction (begun here when it
    has not been yet, exactly as SQLAlchemy's adapter begins it before a first statement).
    For the hot statements of `rawsql`; remembered for the rest of the transaction."""
    sync = session.sync_session
    known = sync.info.get(_DRIVER)
    if known is not None and known[0] is sync.get_transaction():
        cached: asyncpg.Connection = known[1]
        return cached
    conn = await session.connection()
    fairy = await conn.get_raw_connection()
    adapted: Any = fairy.dbapi_connection
    if adapted._transaction is None:
        await adapted._start_transaction()
    raw: asyncpg.Connection = fairy.driver_connection
    sync.info[_DRIVER] = (sync.get_transaction(), raw)
    return raw


async def begin(session: AsyncSession) -> None:
    """Begin the session's transaction now, on a live connection: when the pooled connection
    turns out to be dead (the server restarted, or the backend was terminated, since it was
    last used), it is discarded and the BEGIN retried once on a fresh one. Nothing has run in
    the transaction yet, so the retry is always safe."""
    conn = await session.connection()  # no connection to be had: that is an outage (503)
    try:
        await driver(session)
    except Exception as exc:
        fairy: Any = await conn.get_raw_connection()
        if not (is_disconnect(exc) or fairy.driver_connection.is_closed()):
            raise
        log.warning("a pooled database connection was dead; retrying on a fresh one")
        await conn.invalidate()
        await session.rollback()
        await driver(session)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed once when the endpoint returns, before the
    response is sent (so a failed commit is never reported as success), rolled back on error.
    It begins before the endpoint runs (`begin`: a dead pooled connection is replaced)."""
    db = get_database(request)
    async with db.sessionmaker() as session:
        try:
            await begin(session)
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A transaction on the replica when DATABASE_REPLICA_URL is set and the replica answers,
    else on the primary (see Database.read_session); always rolled back, so nothing written
    through it persists. For heavy reads that tolerate replication lag (statistics, exports,
    the sync initial load); writes (the audit log included) go through SessionDep."""
    db = get_database(request)
    async with db.read_session() as session:
        try:
            yield session
        finally:
            await session.rollback()


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]


DB_NAME = "childprotect"


class EmbeddedPostgres:
    """A real PostgreSQL (the `pgserver` package's binaries) kept in a local folder.

    The data survives restarts; `stop()` shuts the server down cleanly."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir / "pgdata"
        self._server: Any = None

    def start(self) -> str:
        import warnings

        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime dir that servers often lack; harmless.
            warnings.simplefilter("ignore")
            import pgserver  # imported lazily: only the embedded mode needs it

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")
        if "(1 row)" not in exists:
            self._server.psql(f"CREATE DATABASE {DB_NAME};")
        uri: str = self._server.get_uri(DB_NAME)
        log.info("embedded PostgreSQL running in %s", self.pgdata)
        return uri

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
