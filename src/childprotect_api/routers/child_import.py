"""Bulk import of screening results (摸排) over HTTP. Thin; the rules are in
services/children/bulk_import.py and the file format in services/children/import_file.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from childprotect_api.core.db import LONG_STATEMENTS, SessionDep, get_database
from childprotect_api.core.errors import PayloadTooLarge, Problem
from childprotect_api.core.idempotency import IDEMPOTENT, IdempotentRoute
from childprotect_api.schemas.child_import import ChildImportReport
from childprotect_api.schemas.job import JobRead
from childprotect_api.security.rate_limit import RateLimit
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services.children import bulk_import as child_import

router = APIRouter(prefix="/api/v1/children", tags=["children"], route_class=IdempotentRoute)

_DESCRIPTION = """Register the children of a screening file (CSV in UTF-8 or GBK, or XLSX;
the first sheet, the first row the header). Columns by Chinese or English header:
姓名/name, 性别/gender, 出生日期/birth_date, 村代码/area_code (12 digits), 身份证号/id_number,
类别/categories (separated by `;` or `、`), 父亲状况/father_situation, 母亲状况/mother_situation,
父亲务工地点, 母亲务工地点, 学校/school, 年级/grade, 就学状态/enrolment_status, 是否寄宿/boarding,
地址/address, 居住地/residence, 户籍/household_registration, 民族/ethnicity, 家庭情况,
主要收入来源, 健康状况, 残疾情况, 风险等级/risk_level, 风险原因/risk_reason. Values may be the
codes of GET /meta/enums or their Chinese labels; a blank birth date or gender is read from the
ID number.

Each row is created on its own (per row, not all-or-nothing) under the registry's rules:
invalid rows and duplicates (an ID number already registered — named by id only when that
record is in your scope —, an earlier row of the file, or, without an ID number, the same name
and birth date in the same village) are reported and the others are created. Re-sending a
file is safe. `dry_run=true` reports the same without creating anything.

Files of more than `import_sync_max_rows` rows (500 by default) answer 202 with a job:
follow it with getJob (progress every 100 rows, the report when done). The report carries
row numbers and reasons, no personal data."""


@router.post(
    "/import",
    operation_id="importChildren",
    response_model=ChildImportReport,
    description=_DESCRIPTION,
    responses={
        202: {"model": JobRead, "description": "A large file: the job that imports it."},
        **{code: {"model": Problem} for code in (401, 403, 413, 415, 422, 429)},
    },
    dependencies=[LONG_STATEMENTS, IDEMPOTENT, Depends(RateLimit("import"))],
)
async def import_children(
    scope: CurrentScope,
    session: SessionDep,
    request: Request,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or GBK) or XLSX")],
    dry_run: Annotated[bool, Query(description="Report only; create nothing.")] = False,
) -> ChildImportReport | JSONResponse:
    settings = request.app.state.settings
    raw = await file.read(settings.max_upload_bytes + 1)
    if len(raw) > settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"the file is larger than {settings.max_upload_bytes} bytes", code="file_too_large"
        )
    result = await child_import.import_children(
        session,
        get_database(request),
        request.app.state,
        scope,
        settings,
        raw,
        dry_run=dry_run,
    )
    if isinstance(result, ChildImportReport):
        return result
    job = JobRead.model_validate(result)
    return JSONResponse(
        jsonable_encoder(job),
        status_code=202,
        headers={"Location": f"/api/v1/jobs/{job.id}"},
    )
