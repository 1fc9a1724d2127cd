"""Each county's time limits for mandatory reports (accepted within 24 hours, first referral
within 72, by default): read by everyone working in or above the county, set by its county
officers. A change applies to reports received afterwards; the deadlines of reports already
received stay those they were given."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.core.errors import NotFound
from childprotect_api.models.base import utcnow
from childprotect_api.models.report import ReportPolicy
from childprotect_api.schemas.report_policy import ReportPolicyRead, ReportPolicyUpdate
from childprotect_api.security.scope import Action, Scope
from childprotect_api.services.children.schedule import county_area
from childprotect_api.services.reports.deadlines import policy_hours


async def read(session: AsyncSession, scope: Scope, county_code: str) -> ReportPolicyRead:
    scope.require(Action.visit_policy_read)
    if not scope.overlaps(county_code):
        raise NotFound("no such county")
    await county_area(session, county_code)
    accept, referral = await policy_hours(session, county_code)
    is_default = await session.get(ReportPolicy, county_code) is None
    return ReportPolicyRead(
        county_code=county_code,
        accept_within_hours=accept,
        first_referral_within_hours=referral,
        is_default=is_default,
    )


async def update(
    session: AsyncSession, scope: Scope, county_code: str, data: ReportPolicyUpdate
) -> ReportPolicyRead:
    scope.require(Action.report_manage)
    if not scope.covers(county_code):
        raise NotFound("no such county")
    await county_area(session, county_code)
    policy = await session.get(ReportPolicy, county_code, with_for_update=True)
    if policy is None:
        policy = ReportPolicy(county_code=county_code)
        session.add(policy)
    policy.accept_within_hours = data.accept_within_hours
    policy.first_referral_within_hours = data.first_referral_within_hours
    policy.updated_by = scope.user_id
    policy.updated_at = utcnow()
    await session.flush()
    return await read(session, scope, county_code)
