"""Database access: the async engine, one session (one transaction) per request,
and the embedded PostgreSQL used when no DATABASE_URL is given."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
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

    @classmethod
    def create(cls, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> Database:
        engine = create_async_engine(
            to_asyncpg_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            # No pre-ping (three round trips per request): a connection found closed is
            # replaced at checkout, and one that turns out dead when the request's transaction
            # begins is replaced and the BEGIN retried (`begin`), so dropped connections
            # (a restarted server, pg_terminate_backend) cost nothing in the steady state.
            pool_pre_ping=False,
            # Statement parameters hold names and ID numbers: keep them out of logs and of
            # exception messages.
            hide_parameters=True,
            # JIT costs more than it saves on the short OLTP queries this API issues.
            connect_args={
                "server_settings": {"jit": "off", "application_name": "childprotect-api"}
            },
        )
        event.listen(engine.sync_engine, "checkout", _discard_closed)
        return cls(engine, async_sessionmaker(engine, expire_on_commit=False, autoflush=False))

    def with_replica(
        self, url: str | None, *, pool_size: int = 5, max_overflow: int = 5
    ) -> Database:
        """Attach a read replica (DATABASE_REPLICA_URL); None keeps every read on the primary."""
        if url:
            self.replica = Database.create(url, pool_size=pool_size, max_overflow=max_overflow)
        return self

    @property
    def read_sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return (self.replica or self).sessionmaker

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
    try:
        await driver(session)
    except Exception as exc:
        conn = await session.connection()
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
    """A read-only transaction on the replica when DATABASE_REPLICA_URL is set, else on the
    primary. For heavy reads that tolerate replication lag (statistics, exports, the sync
    initial load); writes (the audit log included) still go through SessionDep."""
    db = get_database(request)
    async with db.read_sessionmaker() as session:
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
