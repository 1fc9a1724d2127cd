"""The area tree: code rules, scoped reads, admin writes and CSV import."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core.errors import Forbidden, NotFound, Unprocessable
from childprotect_api.models.area import LEVEL_BY_LENGTH, PARENT_LENGTH, Area, AreaLevel
from childprotect_api.schemas.area import AreaCreate, AreaImportReport, AreaImportRow
from childprotect_api.security.scope import Scope, apply_scope

_CODE = re.compile(r"^\d+$")


def level_of(code: str) -> AreaLevel | None:
    if not _CODE.match(code):
        return None
    return LEVEL_BY_LENGTH.get(len(code))


def code_problems(code: str, parent_code: str | None) -> list[tuple[str, str]]:
    """Field problems for an area code and its parent; empty when valid."""
    level = level_of(code)
    if level is None:
        return [("code", "must be 2, 4, 6, 9 or 12 digits")]
    want_parent = PARENT_LENGTH.get(len(code))
    if want_parent is None:
        if parent_code:
            return [("parent_code", "a province has no parent")]
        return []
    if not parent_code:
        return [("parent_code", f"a {level.value} needs its parent area")]
    if len(parent_code) != want_parent or not code.startswith(parent_code):
        return [("parent_code", f"must be the first {want_parent} digits of the code")]
    return []


async def get_area(session: AsyncSession, scope: Scope, code: str) -> Area:
    """An area inside the caller's scope (its subtree), or the caller's own ancestors; 404
    for anything else."""
    stmt = apply_scope(select(Area).where(col(Area.code) == code), scope, Area.code)
    area = (await session.execute(stmt)).scalar_one_or_none()
    if area is None:
        raise NotFound("no such area")
    return area


async def list_areas(
    session: AsyncSession, scope: Scope, parent: str | None, limit: int, after: str | None
) -> list[Area]:
    if parent is None:
        # The top of what the caller can see: its own area, or the provinces for root admins.
        stmt = select(Area)
        stmt = (
            stmt.where(col(Area.parent_code).is_(None))
            if not scope.area_code
            else stmt.where(col(Area.code) == scope.area_code)
        )
    else:
        await get_area(session, scope, parent)
        stmt = select(Area).where(col(Area.parent_code) == parent)
    if after:
        stmt = stmt.where(col(Area.code) > after)
    stmt = stmt.order_by(Area.code).limit(limit)
    return list((await session.execute(stmt)).scalars())


def writable(scope: Scope, code: str) -> bool:
    """Admins write only areas inside their own area (a system-wide admin: any)."""
    return scope.covers(code)


async def create_area(session: AsyncSession, scope: Scope, data: AreaCreate) -> Area:
    problems = code_problems(data.code, data.parent_code)
    if problems:
        field, message = problems[0]
        raise Unprocessable.field(field, message, code="invalid_area_code")
    if not writable(scope, data.code):
        # Decided before looking the code up: the answer says nothing of what exists there.
        raise Forbidden("this area lies outside your own area", code="area_out_of_scope")
    if await session.get(Area, data.code) is not None:
        raise Unprocessable.field("code", "an area with this code exists", code="area_exists")
    if data.parent_code and await session.get(Area, data.parent_code) is None:
        raise Unprocessable.field("parent_code", "no such parent area", code="unknown_parent")
    level = level_of(data.code)
    assert level is not None
    area = Area(code=data.code, name=data.name, parent_code=data.parent_code, level=level.value)
    session.add(area)
    await session.flush()
    return area


async def import_areas(
    session: AsyncSession, scope: Scope, content: str, *, apply: bool
) -> AreaImportReport:
    """Import `code,name,parent_code` rows. Nothing is applied if any row is invalid; a row
    outside the caller's own area is invalid (whether or not the area exists)."""
    reader = csv.reader(io.StringIO(content.lstrip("\ufeff")))
    rows: list[AreaImportRow] = []
    parsed: list[tuple[str, str, str | None]] = []
    existing = {a.code: a for a in (await session.execute(select(Area))).scalars()}
    seen: set[str] = set()
    for line_no, raw in enumerate(reader, start=1):
        if not raw or all(not c.strip() for c in raw):
            continue
        cells = [c.strip() for c in raw]
        if line_no == 1 and cells[0].lower() in ("code", "代码", "区划代码"):
            continue
        code = cells[0] if cells else ""
        errors: list[str] = []
        if len(cells) < 2 or not cells[1]:
            errors.append("name: required")
        parent = cells[2] if len(cells) > 2 and cells[2] else None
        errors += [f"{f}: {m}" for f, m in code_problems(code, parent)]
        if not errors and not writable(scope, code):
            errors.append("code: outside your own area")
        if code in seen:
            errors.append("code: appears twice in the file")
        if parent and not errors and parent not in existing and parent not in seen:
            errors.append("parent_code: unknown (define parents before children)")
        seen.add(code)
        if errors:
            rows.append(AreaImportRow(line=line_no, code=code, status="invalid", errors=errors))
            continue
        name = cells[1]
        old = existing.get(code)
        status = "created" if old is None else ("unchanged" if old.name == name else "updated")
        rows.append(AreaImportRow(line=line_no, code=code, status=status))
        parsed.append((code, name, parent))
    invalid = sum(r.status == "invalid" for r in rows)
    if not rows:
        raise Unprocessable.field("file", "the file holds no rows", code="empty_import")
    applied = apply and invalid == 0
    if applied:
        for code, name, parent in parsed:
            old = existing.get(code)
            if old is None:
                level = level_of(code)
                assert level is not None
                area = Area(code=code, name=name, parent_code=parent, level=level.value)
                session.add(area)
                existing[code] = area
            else:
                old.name = name
        # Rows are added parents first, so one flush inserts them in a valid order.
        await session.flush()
    return AreaImportReport(
        applied=applied,
        created=sum(r.status == "created" for r in rows),
        updated=sum(r.status == "updated" for r in rows),
        invalid=invalid,
        rows=rows,
    )
