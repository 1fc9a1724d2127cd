"""Every statement the app's pooled asyncpg connections send while the block is active (issue
#23's count of round trips): asyncpg's query logger (BEGIN, COMMIT, the driver's own
statements: rawsql) and the prepared statements SQLAlchemy's dialect executes (which the
logger does not see).

Not counted: asyncpg's introspection of a type it meets for the first time on a connection
(an array of varchar, say: the JIT switched off, the `typeinfo_tree` query, JIT back), which
it then keeps for the connection's life. Which pooled connection a request gets, and so
whether that connection already met the type, depends on the requests before it; a warm
connection sends the request's statements alone."""

from __future__ import annotations

from typing import Any

from asyncpg.prepared_stmt import PreparedStatement
from sqlalchemy import event

_DO_EXECUTE = "_PreparedStatement__do_execute"
# asyncpg's type introspection (asyncpg/connection.py `_introspect_types`).
_INTROSPECTION = (
    "SELECT current_setting('jit')",
    "WITH RECURSIVE typeinfo_tree",
    "SELECT set_config('jit'",
)


class Wire:
    def __init__(self, db: Any) -> None:
        self.pool = db.engine.sync_engine.pool
        self.statements: list[str] = []
        self._hooked: set[int] = set()
        self._on = False
        self._original: Any = None

    def _log(self, query: str) -> None:
        if self._on:
            statement = " ".join(query.split())
            if not statement.startswith(_INTROSPECTION):
                self.statements.append(statement)

    def _checkout(self, dbapi_conn: Any, record: Any, proxy: Any) -> None:
        conn = dbapi_conn.driver_connection
        if id(conn) not in self._hooked:
            self._hooked.add(id(conn))
            conn.add_query_logger(lambda q: self._log(q.query))

    def __enter__(self) -> Wire:
        self._on = True
        event.listen(self.pool, "checkout", self._checkout)
        original = self._original = getattr(PreparedStatement, _DO_EXECUTE)
        wire = self

        async def do_execute(stmt: Any, executor: Any) -> Any:
            wire._log(stmt._query)
            return await original(stmt, executor)

        setattr(PreparedStatement, _DO_EXECUTE, do_execute)
        return self

    def __exit__(self, *exc: object) -> None:
        self._on = False
        setattr(PreparedStatement, _DO_EXECUTE, self._original)
        event.remove(self.pool, "checkout", self._checkout)

    def starting(self, prefix: str) -> list[str]:
        return [s for s in self.statements if s.upper().startswith(prefix.upper())]
