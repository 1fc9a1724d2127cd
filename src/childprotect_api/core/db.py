"""Database access: the async engine, one session (one transaction) per request,
and the embedded PostgreSQL used when no DATABASE_URL is given."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
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
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import greenlet_spawn

from childprotect_api.core.errors import causes, is_database_unavailable

log = logging.getLogger(__name__)


def to_asyncpg_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+asyncpg:// and answer the asyncpg form."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a PostgreSQL URL")


# The longest statement text asyncpg keeps prepared (bytes): the longest one-statement path's
# text with room to grow (tests/core/test_statement_cache.py holds each under it).
MAX_CACHED_STATEMENT = 128 * 1024


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
    # The side pool (`side_engine`): made on first use.
    _side: AsyncEngine | None = field(default=None, repr=False)
    _side_args: dict[str, Any] = field(default_factory=dict, repr=False)
    # The bound of one statement (seconds; None: none): `command_timeout` for background
    # work, imports and exports (`LONG_STATEMENTS`), `request_timeout` for every other
    # request's statements (reads, single writes, the sync), so that a frozen database
    # answers a phone 503 within seconds. See `statement_bound`.
    command_timeout: float | None = None
    request_timeout: float | None = None

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
        request_timeout: float | None = None,
        pool_timeout: float = 10.0,
        transaction_pooling: bool = False,
    ) -> Database:
        """Every wait is bounded, so a database that is down or unreachable answers 503
        (errors.is_database_unavailable) within seconds instead of holding the request:
        `connect_timeout` for a new connection, `command_timeout` for one statement (None: no
        limit) — `request_timeout` instead for requests' statements, unless the request is an
        import or an export (None: `command_timeout` for them too) —, `pool_timeout` for a
        free pooled connection."""
        connect_args: dict[str, Any] = {
            # JIT costs more than it saves on the short OLTP queries this API issues.
            "server_settings": {"jit": "off", "application_name": "childprotect-api"},
            "timeout": connect_timeout,
            # asyncpg keeps a named prepared statement only for a text of at most 15 KiB by
            # default; a longer one is prepared again at every execution (a Parse and Describe
            # round trip, then parsed and planned again). The one-statement sync pages are
            # longer (their CTEs: the session check, the count, the log page, three record
            # types and their audit rows): without this they cost two round trips each.
            "max_cacheable_statement_size": MAX_CACHED_STATEMENT,
        }
        if command_timeout is not None:
            connect_args["command_timeout"] = command_timeout
        if transaction_pooling:
            # Behind PgBouncer in transaction mode (before 1.21's max_prepared_statements) a
            # named prepared statement made in one transaction may be missing in the next,
            # which can run on another server connection. With both statement caches off,
            # asyncpg (also under core/rawsql.py) and SQLAlchemy prepare every statement
            # unnamed, inside the request's transaction. JIT stays off through the pooler's
            # own settings; startup parameters other than application_name are refused there.
            connect_args["statement_cache_size"] = 0
            connect_args["prepared_statement_cache_size"] = 0
            connect_args["server_settings"] = {"application_name": "childprotect-api"}
        engine = create_async_engine(
            to_asyncpg_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            # No pre-ping by default (three round trips per request): a connection found
            # closed is replaced at checkout, and one that turns out dead when the request's
            # transaction begins is replaced and the BEGIN retried (`RequestSession.open`),
            # so dropped connections (a restarted server, pg_terminate_backend) cost nothing
            # in the steady state.
            pool_pre_ping=pre_ping,
            pool_timeout=pool_timeout,
            # Statement parameters hold names and ID numbers: keep them out of logs and of
            # exception messages.
            hide_parameters=True,
            connect_args=connect_args,
        )
        short = request_timeout if request_timeout is not None else command_timeout
        event.listen(engine.sync_engine, "checkout", _discard_closed)
        # A pooled connection rests with the short bound, so that the pre-ping at checkout
        # (a statement on it) never waits long on a frozen server; whoever checked it out gets
        # the long one, then a request narrows it again (RequestSession.open).
        event.listen(engine.sync_engine, "checkout", _bound_at_checkout(command_timeout))
        event.listen(engine.sync_engine, "checkin", _bound_at_checkin(short))
        # The side pool's statements (rate-limit counters) are part of a request: short.
        side_connect = {**connect_args}
        if short is not None:
            side_connect["command_timeout"] = short
        side_args = {"pool_timeout": pool_timeout, "connect_args": side_connect}
        maker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        return cls(
            engine,
            maker,
            _side_args=side_args,
            command_timeout=command_timeout,
            request_timeout=short,
        )

    @property
    def side_engine(self) -> AsyncEngine:
        """A small pool of its own for one-statement transactions that must not wait for, nor
        make others wait for, the request's own transaction (the rate-limit counters: their
        row lock is held for a statement, not for a request). A pool apart from the requests'
        one, so that requests holding every pooled connection never wait on each other for a
        second one; its connections are held for milliseconds."""
        if self._side is None:
            self._side = create_async_engine(
                self.engine.url,
                pool_size=2,
                max_overflow=4,
                pool_pre_ping=False,
                hide_parameters=True,
                **self._side_args,
            )
            event.listen(self._side.sync_engine, "checkout", _discard_closed)
        return self._side

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
        if self._side is not None:
            await self._side.dispose()
        await self.engine.dispose()


def set_statement_bound(conn: asyncpg.Connection, seconds: float | None) -> None:
    """Bound every later statement on `conn` that names no timeout of its own. asyncpg reads
    the connection's `command_timeout` at each statement (its protocol's `_get_timeout`), from
    its private configuration: setting it there costs no round trip, and the bound also holds
    when the server is frozen (a server-side statement_timeout would never fire). The bound of
    a request is put back before its connection returns to the pool.
    tests/core/test_statement_bounds.py fails if asyncpg stops reading it there."""
    config: Any = conn._config
    conn._config = config._replace(command_timeout=seconds)


def statement_bound(conn: asyncpg.Connection) -> float | None:
    config: Any = conn._config
    bound: float | None = config.command_timeout
    return bound


def _abort(fairy: Any) -> None:
    """Close the connection's socket at once: SQLAlchemy's invalidation first tries a polite
    close with a 2-second wait, which a frozen server would make the request pay."""
    raw = fairy.driver_connection
    if raw is not None and not raw.is_closed():
        raw.terminate()


def _bound_at_checkout(seconds: float | None) -> Any:
    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        set_statement_bound(dbapi_connection.driver_connection, seconds)

    return checkout


def _bound_at_checkin(seconds: float | None) -> Any:
    def checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:  # None once invalidated
            set_statement_bound(dbapi_connection.driver_connection, seconds)

    return checkin


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _discard_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pool checkout: a connection whose socket the server already closed (its end seen by
    the event loop) is discarded and another one taken. Free: no round trip."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("connection closed by the server")


async def _closed_soon(conn: Any) -> bool:
    """Whether the connection is closed, now or within 50 ms: the end of its socket may still
    be on its way to the event loop when the server's last message has been read."""
    for _ in range(5):
        if conn.is_closed():
            return True
        await asyncio.sleep(0.01)
    return bool(conn.is_closed())


@asynccontextmanager
async def closed_is_gone(conn: Any) -> AsyncIterator[None]:
    """When the server ends the session while the request's connection is idle between two
    statements (a restart, pg_terminate_backend), asyncpg's next statement can fail with an
    InternalClientError about its protocol's state ("failed", or "another operation is in
    progress": the server's unsolicited FATAL) rather than a connection error. On a connection
    that is closed by then, that is the connection lost (an outage: 503), not a bug in the
    request. For the driver's own statements (rawsql) and the driver's COMMIT: what runs
    through SQLAlchemy needs nothing more, as its asyncpg dialect counts any error on a
    closed connection as a disconnect (the connection is invalidated, and the error answers
    503).

    asyncpg aborts the connection itself after such a protocol error, so in practice it is
    closed at once; the short wait covers an error raised on a path that does not."""
    try:
        yield
    except Exception as e:
        if _caused_by(e, asyncpg.InternalClientError) and await _closed_soon(conn):
            raise asyncpg.ConnectionDoesNotExistError("connection was closed") from e
        raise


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    return any(isinstance(e, kind) for e in causes(exc))


_DRIVER = "childprotect.driver"  # session.info: (the transaction, its asyncpg connection)


async def driver(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session, inside its transaction (begun here when it
    has not been yet, exactly as SQLAlchemy's adapter begins it before a first statement).
    For the hot statements of `rawsql`; remembered for the rest of the transaction."""
    if isinstance(session, RequestSession):
        return await session.driver_connection()
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


class RequestSession(AsyncSession):
    """The session of one request (`SessionDep`): its transaction is begun at once on a pooled
    connection (`open`), and the ORM's Session over that same connection and transaction is
    only made when something uses it (a query through the ORM, `add`, `flush`...).

    The app's hottest requests (a child's record, the worklist, the children list) run only
    prebuilt statements on the driver (rawsql) and never make it: a checkout, BEGIN and
    COMMIT and the checkin are all they pay, about half the CPU of a Session's own
    connection and transaction bookkeeping. Everything else sees a plain AsyncSession.

    One transaction either way: the Session is bound to a Connection over the same pooled
    connection, whose driver transaction is already begun (SQLAlchemy's asyncpg adapter
    begins one only when none is), and `finish` commits it once, through the Session when
    there is one."""

    def __init__(self, db: Database, fairy: Any, pool_bound: float | None) -> None:  # lazy
        self._async_bind = db.engine
        self._async_binds = {}
        self._db = db
        self._fairy = fairy
        self._made: Session | None = None
        self._info: dict[Any, Any] = {}
        # The pool's bound, put back at the end; the request's (set by `open`) until then.
        self._pool_bound = pool_bound

    def allow_long_statements(self) -> None:
        """An import or an export: its statements get the long bound (`command_timeout`)."""
        set_statement_bound(self._fairy.driver_connection, self._db.command_timeout)

    def _restore_bound(self) -> None:
        conn = self._fairy.driver_connection
        if conn is not None:
            set_statement_bound(conn, self._pool_bound)

    # --- the lazy Session -------------------------------------------------------------------

    def _make(self) -> Session:
        if self._made is None:
            sync_conn = Connection(self._db.engine.sync_engine, connection=self._fairy)
            kw = dict(self._db.sessionmaker.kw)
            kw.pop("bind", None)
            made = Session(bind=sync_conn, **kw)
            made.__dict__["info"] = self._info  # what was noted before, and after, is shared
            self._made = self._assign_proxied(made)
        return self._made

    @property
    def sync_session(self) -> Session:
        return self._make()

    @sync_session.setter
    def sync_session(self, value: Session) -> None:
        raise AttributeError("a request's Session is made on first use")

    @property
    def _proxied(self) -> Session:  # type: ignore[override]
        return self._make()

    @property  # type: ignore[misc]
    def bind(self) -> AsyncEngine:
        return self._db.engine

    @property
    def info(self) -> dict[Any, Any]:
        return self._info

    @property
    def new(self) -> Any:
        return self._made.new if self._made is not None else ()

    @property
    def dirty(self) -> Any:
        return self._made.dirty if self._made is not None else ()

    @property
    def deleted(self) -> Any:
        return self._made.deleted if self._made is not None else ()

    # --- the transaction --------------------------------------------------------------------

    @property
    def _adapted(self) -> Any:
        return self._fairy.dbapi_connection

    async def driver_connection(self) -> asyncpg.Connection:
        adapted = self._adapted
        if adapted._transaction is None:  # the ORM committed in the middle of the request
            await adapted._start_transaction()
        raw: asyncpg.Connection = self._fairy.driver_connection
        return raw

    @classmethod
    async def open(cls, db: Database) -> RequestSession:
        """A pooled connection with its transaction begun. When the pooled connection turns
        out to be dead (the server restarted, or the backend was terminated, since it was
        last used), it is discarded and the BEGIN retried on another (up to 3 in all): nothing has
        run in the transaction yet, so the retry is always safe. No connection to be had at
        all is an outage (503). The request's statement bound holds from the BEGIN on; a BEGIN
        past it (a frozen server) is not retried: the next connection would wait as long."""
        sync_engine = db.engine.sync_engine
        attempts = 3  # the pool may hold several connections that died together
        for attempt in range(attempts):
            fairy: Any = await greenlet_spawn(sync_engine.raw_connection)
            pool_bound = statement_bound(fairy.driver_connection)
            set_statement_bound(fairy.driver_connection, db.request_timeout)
            try:
                await fairy.dbapi_connection._start_transaction()
            except Exception as exc:
                # Nothing has run on it yet: any protocol error here is a dead connection.
                dead = (
                    is_database_unavailable(exc)
                    or _caused_by(exc, asyncpg.InternalClientError)
                    or fairy.driver_connection.is_closed()
                )
                if not dead:
                    set_statement_bound(fairy.driver_connection, pool_bound)
                    await greenlet_spawn(fairy.close)
                    raise
                _abort(fairy)
                await greenlet_spawn(fairy.invalidate)
                if attempt == attempts - 1 or _caused_by(exc, TimeoutError):
                    raise asyncpg.ConnectionDoesNotExistError("no live connection") from exc
                log.warning("a pooled database connection was dead; retrying on a fresh one")
                continue
            return cls(db, fairy, pool_bound)
        raise AssertionError("unreachable")

    async def finish(self, *, commit: bool) -> None:
        """Commit (or roll back) the request's transaction and give the connection back."""
        try:
            if self._made is not None:
                await greenlet_spawn(self._made.commit if commit else self._made.rollback)
            adapted = self._adapted  # None once a lost connection was invalidated
            if adapted is not None and adapted._transaction is not None:
                # Begun by the driver after an ORM commit, or the driver's alone.
                end = adapted._transaction.commit if commit else adapted._transaction.rollback
                async with closed_is_gone(self._fairy.driver_connection):
                    await adapted._call_and_discard(end)
        finally:
            self._restore_bound()
            made, self._made = self._made, None
            if made is not None:
                await greenlet_spawn(made.close)
            await greenlet_spawn(self._fairy.close)

    async def discard(self) -> None:
        """End the request after a lost connection or a statement past its bound, without a
        ROLLBACK: the connection is closed and the server rolls the transaction back. A frozen
        server would hold a ROLLBACK as long again as the statement it did not answer."""
        try:
            if self._fairy.is_valid:  # not yet invalidated by SQLAlchemy itself
                _abort(self._fairy)
                await greenlet_spawn(self._fairy.invalidate)
        finally:
            made, self._made = self._made, None
            if made is not None:
                with contextlib.suppress(Exception):
                    await greenlet_spawn(made.close)
            await greenlet_spawn(self._fairy.close)


def is_dead_connection(exc: BaseException) -> bool:
    """The pooled connection was dead when its statement was sent (the server restarted, or
    the backend was terminated): sending it again on another connection is safe. Not a
    statement past its bound, nor no connection to be had: a retry would wait as long."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if _caused_by(exc, TimeoutError) or _caused_by(exc, PoolTimeout):
        return False
    return isinstance(exc, Exception) and (
        is_database_unavailable(exc) or _caused_by(exc, asyncpg.InternalClientError)
    )


@asynccontextmanager
async def unbegun_connection(db: Database) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection for one statement in autocommit (`rawsql.Raw.fetch_alone`): no
    transaction is begun on it, so SQLAlchemy's reset on return sends nothing. Its statement
    is bounded like a request's. After anything but an error the server reported (a lost
    connection, a statement past its bound, a cancelled request) the connection is closed at
    once (no ROLLBACK or cancellation waited for) and not pooled again."""
    fairy: Any = await greenlet_spawn(db.engine.sync_engine.raw_connection)
    conn: asyncpg.Connection = fairy.driver_connection
    pool_bound = statement_bound(conn)
    set_statement_bound(conn, db.request_timeout)
    try:
        yield conn
    except BaseException as exc:
        if not isinstance(exc, asyncpg.PostgresError) or conn.is_closed():
            _abort(fairy)
            await greenlet_spawn(fairy.invalidate)
        raise
    finally:
        if not conn.is_closed():
            set_statement_bound(conn, pool_bound)
        if not _checked_in_at_once(db, fairy):
            await greenlet_spawn(fairy.close)


def _checked_in_at_once(db: Database, fairy: Any) -> bool:
    """Give an unbegun connection back to the pool without a greenlet when that needs no I/O
    (issue #23: a greenlet per checkin was a tenth of the pool's cost per read): the
    connection valid, no transaction on it (the reset's ROLLBACK sends nothing) and room in
    the pool (an overflow connection would be closed). Else (False) SQLAlchemy's checkin runs
    in a greenlet, as for any connection."""
    pool = db.engine.sync_engine.pool
    adapted = fairy.dbapi_connection
    if (
        adapted is None
        or adapted._transaction is not None
        or not fairy.is_valid
        or not isinstance(pool, QueuePool)
        or pool.checkedin() >= pool.size()
    ):
        return False
    fairy.close()
    return True


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed once when the endpoint returns, before the
    response is sent (so a failed commit is never reported as success), rolled back on error.
    It begins before the endpoint runs, on a live connection (`RequestSession.open`)."""
    session = await RequestSession.open(get_database(request))
    try:
        yield session
    except BaseException as exc:
        # The request's own error is what matters: a rollback that fails too (the database
        # went away) only discards the connection; after a lost connection or a statement
        # past its bound none is tried.
        with contextlib.suppress(Exception):
            if isinstance(exc, Exception) and is_database_unavailable(exc):
                await session.discard()
            else:
                await session.finish(commit=False)
        raise
    await session.finish(commit=True)


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
# The same session for a route that opens it only on some paths (`async with`).
request_session = asynccontextmanager(get_session)


async def long_statements(request: Request, session: SessionDep) -> None:
    """Imports and exports: their statements are bounded by `CHILDPROTECT_DB_COMMAND_TIMEOUT_
    SECONDS` instead of the requests' short `CHILDPROTECT_DB_REQUEST_TIMEOUT_SECONDS`. Put it
    first in the route's `dependencies`, before the read session is made."""
    request.state.long_statements = True
    if isinstance(session, RequestSession):
        session.allow_long_statements()


LONG_STATEMENTS = Depends(long_statements)


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A transaction on the replica when DATABASE_REPLICA_URL is set and the replica answers,
    else on the primary (see Database.read_session); always rolled back, so nothing written
    through it persists. For heavy reads that tolerate replication lag (statistics, exports,
    the sync initial load); writes (the audit log included) go through SessionDep."""
    db = get_database(request)
    long = getattr(request.state, "long_statements", False)
    bound = db.command_timeout if long else db.request_timeout
    bounded: list[tuple[asyncpg.Connection, float | None]] = []

    def on_begin(_session: Session, _tx: Any, connection: Connection) -> None:
        # On first use only (no connection is taken for a request that does not read).
        raw = connection.connection.driver_connection
        bounded.append((raw, statement_bound(raw)))
        set_statement_bound(raw, bound)

    async with db.read_session() as session:
        event.listen(session.sync_session, "after_begin", on_begin)
        try:
            yield session
        finally:
            try:
                await session.rollback()
            finally:
                for raw, pool_bound in bounded:
                    set_statement_bound(raw, pool_bound)


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
        # Several processes may start the same folder at once (the test workers on a new
        # machine): pgserver creates the data folder without expecting a rival, so they take
        # turns. The lock is released when the file is closed.
        with open(self.pgdata.parent / ".start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
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
