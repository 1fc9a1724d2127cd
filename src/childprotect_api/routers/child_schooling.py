"""Schooling, subsidies and lookup by ID number, for the education and civil-affairs systems
(and staff). Thin; the rules are in services/children/schooling.py."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from childprotect_api.core.concurrency import IfMatch, parse_if_match, set_etag
from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import Problem
from childprotect_api.models.child import Child
from childprotect_api.schemas.child_schooling import (
    ChildLookup,
    ChildLookupRead,
    ChildSchoolingRead,
    ChildSchoolingSet,
    ChildSubsidiesRead,
    ChildSubsidiesSet,
)
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services.children import schooling as service

router = APIRouter(prefix="/api/v1/children", tags=["children"])


def _errors(*codes: int) -> dict[int | str, dict[str, object]]:
    return {code: {"model": Problem} for code in (401, 403, 404, 422, *codes)}


def _data_key(request: Request) -> str:
    key: str = request.app.state.settings.data_key
    return key


_IF_MATCH_DOC = (
    " Staff must send `If-Match` (428 without it); integration clients may (they are the "
    "system of record for these fields). A stale version answers 412."
)


@router.put(
    "/{child_id}/schooling",
    operation_id="setChildSchooling",
    response_model=ChildSchoolingRead,
    responses=_errors(409, 412, 428),
    description="School, grade, enrolment and boarding status, and dropout (控辍保学); scope "
    "`schooling:write` for clients. A child newly reported dropped out or at risk gets the "
    "`dropout_risk` category and is due a visit now; staff remove the category when the risk "
    "is over." + _IF_MATCH_DOC,
)
async def set_schooling(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    child_id: uuid.UUID,
    body: ChildSchoolingSet,
    if_match: IfMatch = None,
) -> ChildSchoolingRead:
    expected = parse_if_match(if_match, required=not scope.is_client)
    child, added = await service.set_schooling(session, scope, child_id, body, expected)
    set_etag(response, child.version)
    return ChildSchoolingRead(
        id=child.id,
        area_code=child.area_code,
        school=child.school,
        grade=child.grade,
        enrolment_status=child.enrolment_status,
        boarding=child.boarding,
        dropout_risk=child.dropout_risk,
        dropout_reported_on=child.dropout_reported_on,
        categories_changed=added,
        next_visit_due=child.next_visit_due,
        version=child.version,
        updated_at=child.updated_at,
    )


@router.put(
    "/{child_id}/subsidies",
    operation_id="setChildSubsidies",
    response_model=ChildSubsidiesRead,
    responses=_errors(409, 412, 428),
    description="The subsidies the child receives (the list replaces the stored one; an "
    "empty list clears it); scope `subsidies:write` for clients." + _IF_MATCH_DOC,
)
async def set_subsidies(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    child_id: uuid.UUID,
    body: ChildSubsidiesSet,
    if_match: IfMatch = None,
) -> ChildSubsidiesRead:
    expected = parse_if_match(if_match, required=not scope.is_client)
    child = await service.set_subsidies(session, scope, child_id, body, expected)
    set_etag(response, child.version)
    return _subsidies(child)


def _subsidies(child: Child) -> ChildSubsidiesRead:
    return ChildSubsidiesRead.model_validate(
        {
            "id": child.id,
            "area_code": child.area_code,
            "subsidies": child.subsidies,
            "version": child.version,
            "updated_at": child.updated_at,
        }
    )


@router.post(
    "/lookup",
    operation_id="lookupChild",
    response_model=ChildLookupRead,
    responses=_errors(),
)
async def lookup_child(
    scope: CurrentScope, session: SessionDep, request: Request, body: ChildLookup
) -> ChildLookupRead:
    """Find a child in your scope by ID number (in the body, never in a URL); scope
    `children:read` for clients. 404 when there is none in your scope, whether or not one is
    registered elsewhere. Audited."""
    child = await service.lookup(session, scope, _data_key(request), body.id_number)
    return ChildLookupRead(
        id=child.id,
        area_code=child.area_code,
        status=child.status,
        id_number=child.id_number_masked,
    )
