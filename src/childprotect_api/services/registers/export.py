"""One register export: the request checked (who, which area, which filters), the records
read from one snapshot, and the file written as the rows arrive.

Constant memory, whatever the number of records: the rows come from a server-side cursor in
batches of BATCH; CSV is written and sent batch by batch; XLSX is written by sheet.py (each batch
deflated into the workbook, a temporary file, as it arrives; the file is sent from there once
complete). Text is text, never a formula: core/cells.py for CSV, inline strings in XLSX.

The audit: the records are counted up front, in the same REPEATABLE READ snapshot the
cursor then reads, and the audit event (with that count) is written in the request's own
transaction, committed before the first byte is sent. So no export leaves the building
unrecorded, and the count is exactly the number of rows the file holds (a download the
client breaks off is recorded with the count it was sent)."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from anyio import to_thread
from sqlalchemy import Date, Select, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.core import cells
from childprotect_api.core.db import Database, set_statement_bound, statement_bound
from childprotect_api.core.errors import NotFound, Unprocessable
from childprotect_api.models.area import Area
from childprotect_api.models.user import User
from childprotect_api.security.scope import Action, Scope, in_scope
from childprotect_api.services.children.rules import CHINA_TZ
from childprotect_api.services.registers.columns import Cell, Context
from childprotect_api.services.registers.kinds import CHILDREN, REGISTERS, SEQ, RegisterKind
from childprotect_api.services.registers.sheet import SheetWriter

BATCH = 1000
CHUNK = 64 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
PURPOSE_MAX = 500


@dataclass(frozen=True)
class Plan:
    """A checked request: the kind, the caller's scope narrowed to the area, the filters."""

    kind: RegisterKind
    scope: Scope
    caller: Scope
    start: date | None
    end: date | None
    category: str | None
    purpose: str | None  # set only for a county officer, who then sees ID numbers in full


async def plan(
    session: AsyncSession,
    scope: Scope,
    name: str,
    area: str | None,
    start: date | None,
    end: date | None,
    category: str | None,
    purpose: str | None,
) -> Plan:
    kind = REGISTERS.get(name)
    if kind is None:
        raise NotFound("no such register")
    scope.require(Action.registers_export)
    scope.require(kind.action)
    code = area or scope.area_code
    if not code:
        raise Unprocessable.field("area", "give the area to export", code="area_required")
    narrowed = scope.narrowed(code)  # outside the scope: 404
    if await session.get(Area, code) is None:
        raise NotFound("no such area")
    if start is not None and end is not None and start > end:
        raise Unprocessable.field("from", "`from` is after `to`", code="invalid_period")
    if category is not None and "category" not in kind.filters:
        raise Unprocessable.field(
            "category", f"the {name} register has no category filter", code="filter_not_applicable"
        )
    if purpose is not None:
        purpose = purpose.strip()
        if not purpose:
            raise Unprocessable.field(
                "purpose", "state why ID numbers are needed in full", code="purpose_required"
            )
        scope.require(Action.id_numbers_reveal)
    return Plan(kind, narrowed, scope, start, end, category, purpose)


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), CHINA_TZ)


def statement(p: Plan) -> Select[Any]:
    """The records of the register in the area and period, unordered (counted as is)."""
    kind, t = p.kind, p.kind.table
    stmt = kind.query().where(in_scope(p.scope, t.c.area_code, t.c.county_code))
    on_days = isinstance(kind.period.type, Date)
    if p.start is not None:
        stmt = stmt.where(kind.period >= (p.start if on_days else _day_start(p.start)))
    if p.end is not None:
        after = p.end + timedelta(days=1)
        stmt = stmt.where(kind.period < (after if on_days else _day_start(after)))
    if p.category is not None:
        stmt = stmt.where(CHILDREN.c.categories.contains([p.category]))
    return stmt


AREAS: Table = Area.__table__  # type: ignore[attr-defined]
USERS: Table = User.__table__  # type: ignore[attr-defined]


class Export:
    """An export opened on its own snapshot; `chunks()` writes and closes it."""

    def __init__(
        self, stack: AsyncExitStack, session: AsyncSession, p: Plan, ctx: Context, count: int
    ) -> None:
        self._stack, self._session, self.plan, self._ctx, self.count = stack, session, p, ctx, count
        self._closed = False

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._stack.aclose()

    def headers(self) -> list[str]:
        return [c.zh for c in self.plan.kind.columns]

    async def rows(self) -> AsyncIterator[list[list[Cell]]]:
        kind, t = self.plan.kind, self.plan.kind.table
        stmt = statement(self.plan).order_by(t.c.area_code, kind.order, t.c.id)
        result = await self._session.stream(stmt.execution_options(yield_per=BATCH))
        seq = 0
        async for part in result.partitions():
            batch: list[list[Cell]] = []
            for row in part:
                seq += 1
                batch.append([seq if c is SEQ else c.value(row, self._ctx) for c in kind.columns])
            yield batch

    async def csv_chunks(self) -> AsyncIterator[bytes]:
        """UTF-8 with a byte-order mark (for Excel), CRLF lines, the Chinese header first."""
        try:
            yield "\ufeff".encode() + _csv_lines([list[Cell](self.headers())])
            async for batch in self.rows():
                yield _csv_lines(batch)
        finally:
            await self.close()

    async def xlsx_chunks(self) -> AsyncIterator[bytes]:
        try:
            with tempfile.TemporaryFile() as f:
                headers = self.headers()
                sheet = SheetWriter(f, self.plan.kind.zh, len(headers))
                sheet.header(headers)
                async for batch in self.rows():
                    await to_thread.run_sync(sheet.rows, batch)
                await to_thread.run_sync(sheet.close)
                f.seek(0)
                while chunk := await to_thread.run_sync(f.read, CHUNK):
                    yield chunk
        finally:
            await self.close()


def _csv_lines(rows: list[list[Cell]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow(cells.csv_row(row))
    return out.getvalue().encode()


async def _context(session: AsyncSession, p: Plan, data_key: str) -> Context:
    """The names of the county's areas and staff (hundreds of rows, not per record)."""
    county = p.scope.area_code[:6]
    a, u = AREAS.c, USERS.c
    areas = await session.execute(select(a.code, a.name).where(a.code.startswith(county)))
    users = await session.execute(
        select(u.id, u.display_name).where(u.area_code.startswith(county))
    )
    return Context(
        areas={code: name for code, name in areas},
        users={uid: name for uid, name in users},
        reveal_key=data_key if p.purpose is not None else None,
    )


async def open_export(db: Database, p: Plan, data_key: str) -> Export:
    """A snapshot on the replica when there is one (heavy read), its records counted."""
    stack = AsyncExitStack()
    try:
        session = await stack.enter_async_context(db.read_session())
        conn = await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        raw = (await conn.get_raw_connection()).driver_connection
        stack.callback(set_statement_bound, raw, statement_bound(raw))
        set_statement_bound(raw, db.command_timeout)
        count = await session.scalar(select(func.count()).select_from(statement(p).subquery()))
        ctx = await _context(session, p, data_key)
    except BaseException:
        await stack.aclose()
        raise
    return Export(stack, session, p, ctx, int(count or 0))
