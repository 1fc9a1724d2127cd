"""Database access: the async engine, one session (one transaction) per request,
and the embedded PostgreSQL used when no DATABASE_URL is given."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
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
    def create(
        cls,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        pre_ping: bool = True,
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
            pool_pre_ping=pre_ping,
            pool_timeout=pool_timeout,
            # Statement parameters hold names and ID numbers: keep them out of logs and of
            # exception messages.
            hide_parameters=True,
            connect_args=connect_args,
        )
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


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed once when the endpoint returns, before the
    response is sent (so a failed commit is never reported as success), rolled back on error."""
    db = get_database(request)
    async with db.sessionmaker() as session:
        try:
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
