from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from childprotect_api.core.db import SessionDep
from childprotect_api.schemas.report_policy import ReportPolicyRead, ReportPolicyUpdate
from childprotect_api.schemas.visit_policy import COUNTY_CODE_PATTERN
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services.reports import policy as report_policy

router = APIRouter(prefix="/api/v1/report-policy", tags=["report policy"])

County = Annotated[str, Query(pattern=COUNTY_CODE_PATTERN, description="6-digit county code")]


@router.get("", operation_id="getReportPolicy", response_model=ReportPolicyRead)
async def get_policy(scope: CurrentScope, session: SessionDep, county: County) -> ReportPolicyRead:
    """The county's time limits for mandatory reports (hours)."""
    return await report_policy.read(session, scope, county)


@router.put("", operation_id="updateReportPolicy", response_model=ReportPolicyRead)
async def update_policy(
    scope: CurrentScope, session: SessionDep, county: County, body: ReportPolicyUpdate
) -> ReportPolicyRead:
    """Set the county's time limits (its county officers); reports received from now on
    get the new deadlines."""
    return await report_policy.update(session, scope, county, body)
