"""Registers (台账): record-level XLSX/CSV exports, streamed (services/registers/)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from childprotect_api.core import audit
from childprotect_api.core.db import LONG_STATEMENTS, SessionDep, get_database
from childprotect_api.core.errors import Problem
from childprotect_api.models.child import Category
from childprotect_api.schemas.registers import (
    RegisterColumnRead,
    RegisterFormat,
    RegisterKindRead,
)
from childprotect_api.security.rate_limit import RateLimit
from childprotect_api.security.scope import Action, CurrentScope
from childprotect_api.services.children.rules import today as china_today
from childprotect_api.services.registers import export as registers
from childprotect_api.services.registers.kinds import REGISTERS

router = APIRouter(prefix="/api/v1/registers", tags=["registers"])

_P: dict[str, object] = {"model": Problem}
ERRORS: dict[int | str, dict[str, object]] = {401: _P, 403: _P, 404: _P, 422: _P, 429: _P}

# The path's enum, from the registry: a new register kind is listed without touching this.
RegisterName = StrEnum("RegisterName", {name: name for name in REGISTERS})  # type: ignore[misc]


@router.get("", operation_id="listRegisters", responses=ERRORS)
async def list_registers(scope: CurrentScope) -> list[RegisterKindRead]:
    """The registers the caller may export, each with its columns in the file's order: the
    Chinese header the file carries and the English key integrators use."""
    scope.require(Action.registers_export)
    return [
        RegisterKindRead(
            kind=k.name,
            label_zh=k.zh,
            label_en=k.en,
            period_zh=k.period_zh,
            filters=sorted(k.filters),
            county_officers_only=k.action == Action.registers_reports,
            columns=[
                RegisterColumnRead(key=c.key, label_zh=c.zh, label_en=c.en) for c in k.columns
            ],
        )
        for k in REGISTERS.values()
        if scope.can(k.action)
    ]


@router.get(
    "/{kind}",
    operation_id="exportRegister",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The register as an attachment, streamed.",
            "content": {
                registers.XLSX: {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
            },
            "headers": {
                "X-Childprotect-Row-Count": {
                    "description": "How many records the file holds (as audited).",
                    "schema": {"type": "integer"},
                }
            },
        },
        **ERRORS,
    },
    dependencies=[LONG_STATEMENTS, Depends(RateLimit("export"))],
)
async def export_register(
    request: Request,
    kind: RegisterName,
    scope: CurrentScope,
    session: SessionDep,
    area: Annotated[
        str | None,
        Query(
            pattern=r"^\d{6}(\d{3}(\d{3})?)?$",
            description="County, township or village code in the caller's scope; the "
            "caller's own area by default. Outside the scope: 404.",
        ),
    ] = None,
    from_: Annotated[
        date | None,
        Query(alias="from", description="First day (China's calendar) of the period."),
    ] = None,
    to: Annotated[date | None, Query(description="Last day of the period, included.")] = None,
    format: RegisterFormat = RegisterFormat.xlsx,
    category: Annotated[
        Category | None, Query(description="children only: the children of one category.")
    ] = None,
    purpose: Annotated[
        str | None,
        Query(
            max_length=registers.PURPOSE_MAX,
            description="County officers only: why ID numbers are needed in full (recorded "
            "in the audit log). Without it ID numbers are masked; from other roles 403.",
        ),
    ] = None,
) -> StreamingResponse:
    """One register (台账) of the records in an area, in Chinese column order (the columns and
    their English keys: `GET /api/v1/registers`). Township supervisors and county officers;
    the `reports` register county officers only. ID numbers masked (`6207**********1234`)
    unless a county officer states a `purpose`. `from`/`to` filter on the kind's date (the
    visit's time, the agreement's start ...); without them every record. `children` lists
    the active children (`category` narrows it). Cells are text, never formulas (a text
    starting with = + - @ is quoted with `'` in CSV). CSV: UTF-8 with a byte-order mark.
    The export is one audit event (`register.export`) with its row count and purpose,
    recorded before the file is sent; the count is also in `X-Childprotect-Row-Count`."""
    p = await registers.plan(session, scope, kind.value, area, from_, to, category, purpose)
    settings = request.app.state.settings
    export = await registers.open_export(get_database(request), p, settings.data_key)
    try:
        await audit.record(
            session,
            scope,
            "register.export",
            f"register_{p.kind.name}",
            None,
            p.scope.area_code,
            row_count=export.count,
            purpose=p.purpose,
        )
    except BaseException:
        await export.close()
        raise
    stem = f"{p.kind.name}_{p.scope.area_code}_{china_today().isoformat()}"
    zh = f"{p.kind.zh}_{p.scope.area_code}_{china_today().isoformat()}"
    if format == RegisterFormat.csv:
        body, media, ext = export.csv_chunks(), registers.CSV, "csv"
    else:
        body, media, ext = export.xlsx_chunks(), registers.XLSX, "xlsx"
    disposition = f"attachment; filename=\"{stem}.{ext}\"; filename*=UTF-8''{quote(f'{zh}.{ext}')}"
    return StreamingResponse(
        body,
        media_type=media,
        headers={"Content-Disposition": disposition, "X-Childprotect-Row-Count": str(export.count)},
        background=BackgroundTask(export.close),
    )
