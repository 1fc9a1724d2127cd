"""The offline sync feed over HTTP: thin; the rules are in services/sync/feed.py."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from childprotect_api.core.db import get_database, get_read_session, request_session
from childprotect_api.core.errors import Problem
from childprotect_api.models.base import utcnow
from childprotect_api.schemas.sync import SyncChangesPage
from childprotect_api.security.rate_limit import RateLimit
from childprotect_api.security.scope import CurrentClaims, scope_of, token_scope
from childprotect_api.services.sync import at_once as sync_at_once
from childprotect_api.services.sync import feed as sync_feed
from childprotect_api.services.sync import load_at_once as sync_load

router = APIRouter(prefix="/api/v1/sync", tags=["sync"])

_DESCRIPTION = """The phone's copy of the caller's scope: every child, agreement and visit
(current version) in the caller's scope and the caller's own reports.

- **No cursor: the initial load**, paged like every list (children, then agreements, visits,
  reports). Follow `next_cursor` while `has_more` is true.
- **Then the changes**: call with the last `next_cursor` (keep it across sessions). Each
  record that changed comes once per page with its current state, as its GET endpoint
  answers it (`op: upsert`, with its `version`), or as a tombstone (`op: delete`, with a
  `reason`) when the caller no longer sees it: `transferred` (moved out of the scope),
  `closed` (closed longer than the app keeps closed records; drop the child's agreements
  and visits with it), `anonymised`, `superseded` (a corrected visit's old version).
  Within a page, upserts come first, parents before their records; then tombstones.
  A record can come more than once: apply upserts idempotently.
- The cursor never skips a change committed after the page that made it, whatever the
  order in which concurrent writers commit.
- **410 `sync_cursor_expired`**: the cursor is older than the kept change log, or was made
  for another user, or before the caller's area or role changed. Reload from scratch (call
  without a cursor) and drop what the reload did not bring."""


@router.get(
    "/changes",
    operation_id="listSyncChanges",
    response_model=SyncChangesPage,
    description=_DESCRIPTION,
    responses={code: {"model": Problem} for code in (401, 403, 410, 422, 429)},
    # 429 `rate_limited` (RateLimit("sync")): counted in the one statement, or below.
)
async def list_sync_changes(
    claims: CurrentClaims,
    request: Request,
    limit: Annotated[
        int, Query(ge=1, le=sync_feed.MAX_LIMIT, description="Records per page (at most 1000).")
    ] = sync_feed.DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(description="The `next_cursor` of the previous page.")
    ] = None,
) -> Response:
    settings = request.app.state.settings
    counted = False
    # A user's page in one statement, no transaction: the changes (services/sync/at_once.py)
    # and, without a read replica, the initial load (services/sync/load_at_once.py).
    scope = token_scope(request, claims)
    if scope is not None:
        now = utcnow()
        db = get_database(request)
        limits: dict[str, int] = settings.rate_limits
        rate_limit = limits.get("sync", limits.get("default", 60))
        keep_closed_days = settings.sync_keep_closed_days
        body: str | None = None
        parsed = sync_at_once.fast_cursor(scope, cursor, now, settings.sync_log_days)
        # With a replica the load stays on feed.py's path below, which reads the replica.
        start = None
        if parsed is None and db.replica is None:
            start = sync_load.load_start(scope, cursor, now, settings.sync_log_days)
        if parsed is not None:
            body, counted = await sync_at_once.changes_at_once(
                db,
                request,
                scope,
                parsed,
                limit,
                now=now,
                keep_closed_days=keep_closed_days,
                rate_limit=rate_limit,
            )
        elif start is not None:
            body, counted = await sync_load.load_at_once(
                db,
                request,
                scope,
                start,
                limit,
                now=now,
                keep_closed_days=keep_closed_days,
                rate_limit=rate_limit,
            )
        if body is not None:
            return Response(body, media_type="application/json")
    # Integration clients, the initial load with a replica, a cursor to refuse, a role or area
    # changed since the token, a page with other records: the request's transaction, scoped
    # by the row.
    async with request_session(request) as session:
        scope = await scope_of(request, session, claims)
        if not counted:
            await _RATE_LIMIT(request, scope)
        async with _read_session(request) as read_session:
            body = await sync_feed.list_changes(
                session,
                read_session,
                scope,
                cursor,
                limit,
                log_days=settings.sync_log_days,
                keep_closed_days=settings.sync_keep_closed_days,
            )
    # Rendered item by item (services/sync/feed.py): not validated again.
    return Response(body, media_type="application/json")


_RATE_LIMIT = RateLimit("sync")
_read_session = asynccontextmanager(get_read_session)
