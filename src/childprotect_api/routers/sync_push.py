"""The batch push of the phone app over HTTP. Thin: the rules are in services/sync/push.py."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import Problem
from childprotect_api.core.idempotency import IDEMPOTENT, IdempotentRoute, Pending
from childprotect_api.schemas.sync_push import (
    OPERATION,
    PushOperation,
    PushRequest,
    PushResponse,
)
from childprotect_api.security.rate_limit import RateLimit
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services.sync import push as sync_push

router = APIRouter(prefix="/api/v1/sync", tags=["sync"], route_class=IdempotentRoute)

_P: dict[str, object] = {"model": Problem}


@router.post(
    "/push",
    operation_id="pushSyncBatch",
    response_model=PushResponse,
    responses={
        401: _P,
        403: _P,
        413: {
            "model": Problem,
            "description": "More operations than `sync_push_max_operations` (500 by default): "
            "`too_many_operations`, with `max_operations`; or a body over the size limit.",
        },
        422: _P,
        429: _P,
        503: {
            "model": Problem,
            "description": "Nothing of the batch was committed; send it again after "
            "`Retry-After` seconds: `database_unavailable` (the database went away, or the "
            "connection was lost mid-batch) or `database_busy` (the batch kept meeting other "
            "requests on the same records).",
        },
    },
    dependencies=[Depends(RateLimit("sync")), IDEMPOTENT],
)
async def push_sync_batch(
    scope: CurrentScope, session: SessionDep, request: Request, body: PushRequest
) -> PushResponse:
    """Apply what the phone did offline (village directors, township supervisors, county
    officers). Each operation is applied on its own, in order, with the rules and permissions
    of its single-record operation, and answered on its own: `created`, `updated`, `merged`,
    `unchanged` (a retry), `conflict` (the server's record) or `rejected` (its problem+json).
    One bad operation never undoes the others, and a batch sent twice is applied once: the
    second answer says `unchanged`. A child updated on an older version is merged when the
    newer server changes touched none of the fields the phone changed; an agreement draft on
    an older version is a conflict."""
    operations = _envelopes(body.operations)
    results = await sync_push.push(session, scope, request.app.state.settings, operations)
    pending: Pending | None = getattr(request.state, "idempotency", None)
    if pending is not None and any(r.problem and r.problem.status >= 500 for r in results):
        pending.skip = True  # never replay a server error: a retry applies the item again
    return PushResponse(results=results)


def _envelopes(raw: Sequence[object]) -> list[PushOperation]:
    """The operations' envelopes (op, ids, versions): a malformed one refuses the batch as a
    whole (422); their `data` is checked per operation when it is applied."""
    operations: list[PushOperation] = []
    errors: list[dict[str, object]] = []
    for i, item in enumerate(raw):
        try:
            operations.append(OPERATION.validate_python(item))
        except ValidationError as e:
            errors += [{**err, "loc": ("body", "operations", i, *err["loc"])} for err in e.errors()]
    if errors:
        raise RequestValidationError(errors)
    return operations
