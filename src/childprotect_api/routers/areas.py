from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Query, UploadFile

from childprotect_api.core.db import LONG_STATEMENTS, SessionDep
from childprotect_api.core.errors import Problem, Unprocessable
from childprotect_api.core.idempotency import IDEMPOTENT, IdempotentRoute
from childprotect_api.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from childprotect_api.schemas.area import (
    AREA_CODE_PATTERN,
    AreaCreate,
    AreaImportReport,
    AreaRead,
)
from childprotect_api.schemas.common import Page
from childprotect_api.security.rate_limit import RateLimit
from childprotect_api.security.scope import Action, CurrentScope
from childprotect_api.services import areas as area_service

router = APIRouter(prefix="/api/v1/areas", tags=["areas"], route_class=IdempotentRoute)

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    422: {"model": Problem},
}
MAX_IMPORT_BYTES = 20 * 1024 * 1024


@router.get("", operation_id="listAreas", response_model=Page[AreaRead], responses=ERRORS)
async def list_areas(
    scope: CurrentScope,
    session: SessionDep,
    parent: Annotated[str | None, Query(pattern=AREA_CODE_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[AreaRead]:
    """The children of `parent` (or, without it, the caller's own area)."""
    scope.require(Action.areas_read)
    after = decode_cursor(cursor, 1)
    rows = await area_service.list_areas(
        session, scope, parent, limit, str(after[0]) if after else None
    )
    next_cursor = encode_cursor([rows[-1].code]) if len(rows) == limit else None
    return Page(items=[AreaRead.model_validate(a) for a in rows], next_cursor=next_cursor)


@router.get("/{code}", operation_id="getArea", response_model=AreaRead, responses=ERRORS)
async def get_area(
    scope: CurrentScope,
    session: SessionDep,
    code: Annotated[str, Path(pattern=AREA_CODE_PATTERN)],
) -> AreaRead:
    """One area (province to village) by its code."""
    scope.require(Action.areas_read)
    return AreaRead.model_validate(await area_service.get_area(session, scope, code))


@router.post(
    "",
    operation_id="createArea",
    response_model=AreaRead,
    status_code=201,
    responses=ERRORS,
    dependencies=[IDEMPOTENT],
)
async def create_area(scope: CurrentScope, session: SessionDep, body: AreaCreate) -> AreaRead:
    """Add one area (admins), inside the admin's own area (403 `area_out_of_scope`)."""
    scope.require(Action.areas_manage)
    return AreaRead.model_validate(await area_service.create_area(session, scope, body))


@router.post(
    "/import",
    operation_id="importAreas",
    response_model=AreaImportReport,
    responses={**ERRORS, 429: {"model": Problem}},
    dependencies=[LONG_STATEMENTS, IDEMPOTENT, Depends(RateLimit("import"))],
)
async def import_areas(
    scope: CurrentScope,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="CSV: code,name,parent_code (UTF-8)")],
    dry_run: bool = False,
) -> AreaImportReport:
    """Import a CSV of areas (admins). Answers a per-row report; applies nothing if any row
    is invalid. Rows outside the admin's own area are invalid."""
    scope.require(Action.areas_manage)
    raw = await file.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        raise Unprocessable.field("file", "is larger than 20 MB", code="file_too_large")
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Unprocessable.field("file", "must be UTF-8 text", code="bad_encoding") from e
    return await area_service.import_areas(session, scope, content, apply=not dry_run)
