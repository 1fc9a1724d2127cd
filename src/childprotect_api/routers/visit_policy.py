from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import Problem
from childprotect_api.schemas.visit_policy import (
    COUNTY_CODE_PATTERN,
    VisitPolicyRead,
    VisitPolicyUpdate,
)
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services.children import schedule as visit_schedule

router = APIRouter(prefix="/api/v1/visit-policy", tags=["visit policy"])

_P: dict[str, object] = {"model": Problem}
ERRORS: dict[int | str, dict[str, object]] = {401: _P, 403: _P, 404: _P, 422: _P}

County = Annotated[str, Query(pattern=COUNTY_CODE_PATTERN, description="6-digit county code")]


@router.get("", operation_id="getVisitPolicy", response_model=VisitPolicyRead, responses=ERRORS)
async def get_policy(
    scope: CurrentScope, session: SessionDep, response: Response, county: County
) -> VisitPolicyRead:
    """How often a child of each risk level must be visited in the county (days). Readable
    by staff, auditors and admins working in or above the county."""
    policy, etag = await visit_schedule.read_policy(session, scope, county)
    response.headers["ETag"] = etag
    return policy


@router.put(
    "",
    operation_id="updateVisitPolicy",
    response_model=VisitPolicyRead,
    responses={**ERRORS, 412: _P},
)
async def update_policy(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    county: County,
    body: VisitPolicyUpdate,
    if_match: Annotated[
        str | None, Header(description="Optional: the ETag read; 412 when it changed since.")
    ] = None,
) -> VisitPolicyRead:
    """Set the county's intervals (its county officers). Every active child of the county
    gets its next due date recomputed at once."""
    policy, etag = await visit_schedule.update_policy(session, scope, county, body, if_match)
    response.headers["ETag"] = etag
    return policy
