"""Append-only rows (the audit log, the outbox) that a batch writes in one statement per table
at its end instead of one INSERT per row: the batch push applies hundreds of operations in one
transaction, and their audit and outbox rows were a third of its round trips.

Only append-only tables whose rows nothing reads back before the commit go through here. The
rows are written in the same transaction as the work, in the order they were recorded; the
work of an operation that is rolled back (its savepoint) drops its rows with `rollback_to`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

_KEY = "write_buffer"


class WriteBuffer:
    def __init__(self) -> None:
        self._rows: list[tuple[Table, dict[str, Any]]] = []

    def add(self, table: Table, row: dict[str, Any]) -> None:
        self._rows.append((table, row))

    def mark(self) -> int:
        return len(self._rows)

    def rollback_to(self, mark: int) -> None:
        del self._rows[mark:]

    async def write(self, session: AsyncSession) -> None:
        by_table: dict[Table, list[dict[str, Any]]] = {}
        for table, row in self._rows:
            by_table.setdefault(table, []).append(row)
        for table, rows in by_table.items():
            await session.execute(insert(table), rows)
        self._rows.clear()


def active(session: AsyncSession) -> WriteBuffer | None:
    """The buffer of the batch running on this session, if any."""
    buffer = session.info.get(_KEY)
    return buffer if isinstance(buffer, WriteBuffer) else None


@asynccontextmanager
async def buffering(session: AsyncSession) -> AsyncIterator[WriteBuffer]:
    """Buffer the session's audit and outbox rows for the block; written when it ends
    without an error (on an error the request rolls back as a whole anyway)."""
    buffer = WriteBuffer()
    session.info[_KEY] = buffer
    try:
        yield buffer
        await buffer.write(session)
    finally:
        session.info.pop(_KEY, None)
