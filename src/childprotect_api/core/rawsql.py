"""The hottest statements run on the driver: compiled once from SQLAlchemy Core (the models stay
the single source of the schema), then executed by asyncpg on the request's own connection and
transaction, without SQLAlchemy's per-execution work (cache keys, execution contexts, result
objects), which cost more than PostgreSQL spends answering them.

    _CHECK = Raw(select(...).where(users.c.id == bindparam("user_id")))
    row = await _CHECK.fetchrow(session, {"user_id": ...})

Rows are asyncpg Records (access by name or position). JSON columns arrive decoded (the
dialect's codecs on the connection). Statements are announced to the engine's
`before_cursor_execute` listeners, so statement logs and tracing see them as they see the
rest. A statement that fails raises the driver's exception (core/errors.py answers it)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement

from childprotect_api.core.db import (
    Database,
    closed_is_gone,
    driver,
    is_dead_connection,
    unbegun_connection,
)

_DIALECT = asyncpg_dialect.dialect()
log = logging.getLogger(__name__)


class Raw:
    """One Core statement compiled to asyncpg's SQL ($1, $2, ...) with its parameter order.

    Parameters are named by the statement's `bindparam`s; values given at build time (a
    literal LIMIT 1, say) are the defaults."""

    __slots__ = ("_defaults", "_names", "sql")

    def __init__(self, statement: ClauseElement) -> None:
        compiled: Any = statement.compile(dialect=_DIALECT)
        self.sql: str = compiled.string
        self._names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self._defaults = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if name in self._names and not bind.required
        }

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        defaults = self._defaults
        try:
            return [params[n] if n in params else defaults[n] for n in self._names]
        except KeyError as e:
            raise TypeError(f"missing parameter {e.args[0]!r} for {self.sql[:60]}...") from e

    async def fetch(self, session: AsyncSession, params: Mapping[str, Any]) -> list[Any]:
        conn, args = await _prepare(session, self.sql, self.args(params))
        async with closed_is_gone(conn):
            return list(await conn.fetch(self.sql, *args))

    async def fetchrow(self, session: AsyncSession, params: Mapping[str, Any]) -> Any:
        conn, args = await _prepare(session, self.sql, self.args(params))
        async with closed_is_gone(conn):
            return await conn.fetchrow(self.sql, *args)

    async def execute(self, session: AsyncSession, params: Mapping[str, Any]) -> None:
        conn, args = await _prepare(session, self.sql, self.args(params))
        async with closed_is_gone(conn):
            await conn.execute(self.sql, *args)

    async def fetch_alone(self, db: Database, params: Mapping[str, Any]) -> list[Any]:
        """The statement on its own in autocommit: no BEGIN, no COMMIT, one round trip (a
        single statement is atomic by itself; its data-modifying CTEs included). For a hot
        read that carries its session check and audit row in the same statement. A pooled
        connection found dead is replaced and the statement sent again (up to 3 in all; not
        after a statement past its bound): at worst a read is audited twice."""
        args = self.args(params)
        engine = db.engine.sync_engine
        for listener in engine.dispatch.before_cursor_execute:
            listener(None, None, self.sql, args, None, False)
        attempts = 3
        for attempt in range(attempts):
            sent = False
            try:
                async with unbegun_connection(db) as conn, closed_is_gone(conn):
                    sent = True
                    return list(await conn.fetch(self.sql, *args))
            except Exception as exc:
                # No connection to be had is not retried (an outage: 503), as for a BEGIN.
                if not sent or attempt == attempts - 1 or not is_dead_connection(exc):
                    raise
            log.warning("a pooled database connection was dead; retrying on a fresh one")
        raise AssertionError("unreachable")

    async def executemany(self, session: AsyncSession, rows: Iterable[Mapping[str, Any]]) -> None:
        """One round trip for all the rows (asyncpg pipelines the binds)."""
        many = [self.args(r) for r in rows]
        if not many:
            return
        conn, _ = await _prepare(session, self.sql, many, executemany=True)
        async with closed_is_gone(conn):
            await conn.executemany(self.sql, many)


async def _prepare(
    session: AsyncSession, sql: str, args: Sequence[Any], *, executemany: bool = False
) -> tuple[asyncpg.Connection, Sequence[Any]]:
    conn = await driver(session)
    engine = session.bind.sync_engine if session.bind is not None else None
    if engine is not None and engine.dispatch.before_cursor_execute:
        sync_conn = (await session.connection()).sync_connection
        for listener in engine.dispatch.before_cursor_execute:
            listener(sync_conn, None, sql, args, None, executemany)
    return conn, args
