from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic_core import to_json

from childprotect_api.core.db import get_database, request_session
from childprotect_api.core.errors import Problem
from childprotect_api.core.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    decode_time_id_cursor,
    encode_cursor,
)
from childprotect_api.schemas.worklist import Worklist
from childprotect_api.security.scope import CurrentClaims, scope_of, token_scope
from childprotect_api.services.visits import worklist as worklist_service

router = APIRouter(prefix="/api/v1/worklist", tags=["worklist"])

_P: dict[str, object] = {"model": Problem}
ERRORS: dict[int | str, dict[str, object]] = {401: _P, 403: _P, 422: _P}


@router.get("", operation_id="getWorklist", response_model=Worklist, responses=ERRORS)
async def get_worklist(
    claims: CurrentClaims,
    request: Request,
    within_days: Annotated[int, Query(ge=0, le=365)] = 7,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
    include_agreements: Annotated[
        bool,
        Query(
            description="Also answer the agreement follow-up lists (first page only). Off by "
            "default: they cost six more statements on the app's hottest request."
        ),
    ] = False,
    with_duties: Annotated[
        bool,
        Query(
            description="Only children with open risk duties (needs_pairing, needs_case, "
            "case_review_due)."
        ),
    ] = False,
) -> Response:
    """The children in the caller's scope that are overdue or due within `within_days`, most
    overdue first (among equally overdue, red and orange children with open duties first),
    with their open risk `duties`, the open follow-up actions of their latest visit; the counts of
    overdue and due-soon children; the caller's own visits that were returned to fix; and,
    with `include_agreements=true`, the first page of each agreement follow-up list
    (left-behind children with no active agreement, agreements ending within 30 days) with
    their counts."""
    after = decode_time_id_cursor(cursor)
    found = None
    # A user's worklist without the agreement lists: one statement, no transaction (the
    # session check, the page with its duties and returned visits, and the audit row).
    scope = token_scope(request, claims)
    if scope is not None and not (include_agreements and after is None):
        found = await worklist_service.worklist_at_once(
            get_database(request),
            request,
            scope,
            within_days=within_days,
            limit=limit,
            after=after,
            with_duties=with_duties,
        )
    if found is not None:
        _, page, last = found
    else:
        # Integration clients, the agreement lists, a role or area changed since the token:
        # the request's transaction, the scope by the account's row (get_scope's path).
        async with request_session(request) as session:
            page, last = await worklist_service.worklist_data(
                session,
                await scope_of(request, session, claims),
                within_days=within_days,
                limit=limit,
                after=after,
                include_agreements=include_agreements,
                with_duties=with_duties,
            )
    if last is not None:
        page["next_cursor"] = encode_cursor([last[0].isoformat(), str(last[1])])
    # The first screen of the app: plain data shaped as the Worklist schema (tests hold it
    # to the schema), serialised once by pydantic-core.
    return Response(to_json(page), media_type="application/json")
