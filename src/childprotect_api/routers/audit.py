"""The audit log, read by county officers, auditors and admins in their scope."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import Problem, Unprocessable
from childprotect_api.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from childprotect_api.schemas.audit import AuditEventRead
from childprotect_api.schemas.common import IsoDateTime, Page
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services import audit as audit_service

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get(
    "",
    operation_id="listAuditEvents",
    response_model=Page[AuditEventRead],
    responses={code: {"model": Problem} for code in (401, 403, 422)},
)
async def list_audit_events(
    scope: CurrentScope,
    session: SessionDep,
    child_id: Annotated[uuid.UUID | None, Query(description="Rows about this child.")] = None,
    user_id: Annotated[uuid.UUID | None, Query(description="Rows by this user.")] = None,
    since: Annotated[
        IsoDateTime | None, Query(description="At or after (ISO 8601 with offset).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[AuditEventRead]:
    """Who read or changed which record, newest first, for records in your scope.

    County officers see every row. Admins see rows about mandatory reports without who acted
    (`actor_role` "withheld", the time to the day). Auditors see the log by county and day:
    no actor, record or request ids, `area_code` cut to the county, and no `child_id` or
    `user_id` filter (403 `audit_filter_forbidden`); an auditor below county level sees only
    their own actions."""
    after = decode_cursor(cursor, 1)
    if after is not None and not isinstance(after[0], int):
        raise Unprocessable.field("cursor", "is not a valid cursor", code="invalid_cursor")
    items, last_id = await audit_service.list_events(
        session,
        scope,
        resource_id=child_id,
        actor_id=user_id,
        since=since,
        limit=limit,
        before_id=after[0] if after else None,
    )
    next_cursor = encode_cursor([last_id]) if len(items) == limit else None
    return Page(items=items, next_cursor=next_cursor)
