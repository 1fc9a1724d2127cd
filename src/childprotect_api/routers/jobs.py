"""Long-running jobs (large imports): their progress and report."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from childprotect_api.core import jobs as service
from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import Problem
from childprotect_api.schemas.job import JobRead
from childprotect_api.security.scope import CurrentScope

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.get(
    "/{job_id}",
    operation_id="getJob",
    response_model=JobRead,
    responses={code: {"model": Problem} for code in (401, 403, 404, 422)},
)
async def get_job(scope: CurrentScope, session: SessionDep, job_id: uuid.UUID) -> JobRead:
    """A job you started (or, for county officers, one started in your county): status,
    progress and, once done, the report."""
    return JobRead.model_validate(await service.get_job(session, scope, job_id))
