"""The `Idempotency-Key` header on the POST operations that create something.

The same key from the same principal (user or integration client) with the same request
(method, path, query and body) answers the first answer again: status, body, and the headers
that matter (Location, ETag, Content-Type), marked `Idempotent-Replayed: true`. The same key
with another request answers 422 `idempotency_key_reused`; the same key while the first
request is still running answers 409 `idempotency_in_progress` (with Retry-After).

Decisions recorded here:
- The answer is stored in the request's own transaction (SessionDep), after the endpoint has
  built its response and before the one commit: the work and its key commit together or not
  at all, so a crash can never leave work done without its key, or a key without its work.
  `IdempotentRoute` does this; it wraps the route inside FastAPI's function-scoped exit
  stack, where the request's session is still open.
- Only answers of a committed transaction are stored: an error raised by the endpoint rolls
  the work back, so nothing is stored and a retry with the same key runs again (nothing was
  done the first time). 5xx answers are never stored.
- "Still running" is a transaction-level advisory lock on (principal, key) taken with
  pg_try_advisory_xact_lock: held until the first request commits or rolls back, shared by
  every API process, gone with a crashed connection. Whoever takes it next sees the first
  request's committed answer (visibility comes before the lock's release at commit).
- Stored answers are encrypted with the data key (they hold names, phone numbers, and the
  secrets of new integration clients and webhooks); the request hash is keyed (HMAC). The
  body is never logged. Answers expire after `idempotency_key_hours` (24 by default) and an
  hourly job deletes them.
- Work a request commits on its own, outside the request's transaction (the background job of
  a large import), is not covered by that guarantee; the import is idempotent by content.
- A replay is audited as a read ("replay") of the record the answer shows."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from starlette.datastructures import UploadFile

from childprotect_api.core import audit
from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import Conflict, FieldError, Unprocessable
from childprotect_api.core.routing import LeanRoute
from childprotect_api.models.base import utcnow
from childprotect_api.models.idempotency import IdempotencyKey, SyncPushOp
from childprotect_api.security import crypto
from childprotect_api.security.scope import CurrentScope, Scope

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Headers of the first answer that a replay repeats.
_KEPT_HEADERS = ("content-type", "location", "etag")
# Audit resource types by the route's tag.
_RESOURCE_BY_TAG = {"children": "child", "visits": "visit", "agreements": "agreement"}

KeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=255,
        pattern=r"^[!-~]+$",
        description="Any unique string (a UUID is best), at most 255 visible ASCII characters. "
        "A retry with the same key and the same request answers the first answer again "
        "(`Idempotent-Replayed: true`) without doing the work twice; the same key with another "
        "request answers 422 `idempotency_key_reused`, and while the first request is still "
        "running 409 `idempotency_in_progress`. Keys are per user or client, kept 24 hours "
        "(`CHILDPROTECT_IDEMPOTENCY_KEY_HOURS`).",
    ),
]


@dataclass
class Pending:
    """A request with a key that is not yet answered: what `IdempotentRoute` stores."""

    session: AsyncSession
    scope: Scope
    key: str
    request_hash: str
    resource_type: str
    ttl: timedelta
    # Set by an endpoint whose answer must not be replayed (e.g. a push with an item that
    # failed on a server error): the work still commits, the key stays free.
    skip: bool = False


class Replay(Exception):
    """Raised by the dependency when the request was answered before; turned into the stored
    answer by `IdempotentRoute` (the request's transaction then commits the replay's audit)."""

    def __init__(
        self, session: AsyncSession, scope: Scope, row: IdempotencyKey, answer: dict[str, Any]
    ) -> None:
        super().__init__("an answered request")
        self.session, self.scope, self.row, self.answer = session, scope, row, answer


def lock_key(principal_id: uuid.UUID, key: str) -> int:
    """The advisory lock of one (principal, key): 64 bits of a SHA-256."""
    digest = hashlib.sha256(f"idempotency:{principal_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def _request_hash(request: Request, data_key: str) -> str:
    """Method, path, query and body. A form is hashed part by part (FastAPI has read the
    stream into it): names, file names, content types and contents."""
    h = hashlib.sha256()
    h.update(f"{request.method} {request.url.path}?{request.url.query}\n".encode())
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        for name, value in form.multi_items():
            h.update(b"\0" + name.encode() + b"\0")
            if isinstance(value, UploadFile):
                h.update(f"{value.filename}\0{value.content_type}\0".encode())
                while chunk := await value.read(1 << 16):
                    h.update(chunk)
                await value.seek(0)
            else:
                h.update(value.encode())
    else:
        h.update(await request.body())
    return crypto.lookup_hash(data_key, h.hexdigest(), purpose="idempotency")


def _context(row: IdempotencyKey) -> bytes:
    return f"idempotency:{row.principal_id}:{row.key}".encode()


async def idempotency(
    request: Request, session: SessionDep, scope: CurrentScope, key: KeyHeader = None
) -> None:
    """The dependency of every create operation (`dependencies=[IDEMPOTENT]`)."""
    if key is None:
        return
    settings = request.app.state.settings
    got = await session.execute(
        text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_key(scope.actor_id, key)}
    )
    if not got.scalar():
        raise Conflict(
            "a request with this Idempotency-Key is still being processed; retry shortly",
            code="idempotency_in_progress",
            headers={"Retry-After": "1"},
        )
    request_hash = await _request_hash(request, settings.data_key)
    stmt = select(IdempotencyKey).where(
        col(IdempotencyKey.principal_id) == scope.actor_id,
        col(IdempotencyKey.key) == key,
        col(IdempotencyKey.expires_at) > utcnow(),
    )
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is not None:
        if not hmac.compare_digest(row.request_hash, request_hash):
            raise Unprocessable(
                "this Idempotency-Key was used for another request; use a new key",
                code="idempotency_key_reused",
                errors=[
                    FieldError(
                        field=HEADER,
                        message="already used for another request",
                        type="idempotency_key_reused",
                    )
                ],
            )
        answer = json.loads(
            crypto.decrypt(settings.data_key, row.response_enc, context=_context(row))
        )
        raise Replay(session, scope, row, answer)
    route = request.scope.get("route")
    tag = route.tags[0] if isinstance(route, APIRoute) and route.tags else "request"
    request.state.idempotency = Pending(
        session,
        scope,
        key,
        request_hash,
        _RESOURCE_BY_TAG.get(str(tag), str(tag))[:32],
        timedelta(hours=settings.idempotency_key_hours),
    )


IDEMPOTENT = Depends(idempotency)


def _shown_record(body: bytes, content_type: str) -> tuple[uuid.UUID | None, str | None]:
    """The id and area of the record an answer shows, for the audit of a replay."""
    if not content_type.startswith("application/json"):
        return None, None
    try:
        data = json.loads(body)
        record_id = uuid.UUID(str(data["id"])) if isinstance(data, dict) and "id" in data else None
        area = data.get("area_code") if isinstance(data, dict) else None
    except ValueError:
        return None, None
    return record_id, area if isinstance(area, str) and len(area) <= 12 else None


async def store(pending: Pending, response: Response, data_key: str) -> None:
    body = bytes(response.body)
    headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
    answer = {"headers": headers, "body": base64.b64encode(body).decode()}
    resource_id, area = _shown_record(body, headers.get("content-type", ""))
    area = area or pending.scope.area_code or None
    row = IdempotencyKey(
        principal_id=pending.scope.actor_id,
        key=pending.key,
        principal_type=pending.scope.actor_type,
        request_hash=pending.request_hash,
        status_code=response.status_code,
        response_enc=b"",
        resource_type=pending.resource_type,
        resource_id=resource_id,
        county_code=area[:6] if area else None,
        area_code=area,
        expires_at=utcnow() + pending.ttl,
    )
    row.response_enc = crypto.encrypt(data_key, json.dumps(answer), context=_context(row))
    values = row.model_dump(exclude={"created_at"})
    # An expired answer under the same key (not yet pruned) is replaced; the advisory lock
    # keeps any other request with this key out until this transaction ends.
    stmt = insert(IdempotencyKey).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["principal_id", "key"],
        set_={name: stmt.excluded[name] for name in values if name not in ("principal_id", "key")}
        | {"created_at": text("now()")},
    )
    await pending.session.execute(stmt)


async def replay(replayed: Replay) -> Response:
    row = replayed.row
    await audit.record(
        replayed.session,
        replayed.scope,
        "replay",
        row.resource_type,
        row.resource_id,
        row.area_code,
    )
    headers = dict(replayed.answer.get("headers", {}))
    headers[REPLAYED_HEADER] = "true"
    media_type = headers.pop("content-type", None)
    return Response(
        content=base64.b64decode(replayed.answer.get("body", "")),
        status_code=row.status_code,
        headers=headers,
        media_type=media_type,
    )


class IdempotentRoute(LeanRoute):
    """Routes of a router with create operations: stores the answer of a request that sent a
    key, in the request's transaction, and turns a `Replay` into the stored answer. (A
    LeanRoute: an endpoint marked `lean` is tried directly first.)"""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                response = await handler(request)
            except Replay as replayed:
                return await replay(replayed)
            pending: Pending | None = getattr(request.state, "idempotency", None)
            if (
                pending is not None
                and not pending.skip
                and response.status_code < 500
                and hasattr(response, "body")
            ):
                await store(pending, response, request.app.state.settings.data_key)
            return response

        return run


async def prune(session: AsyncSession, now: datetime, ledger_days: int) -> int:
    """Delete expired answers and the push ledger's old rows (the periodic job)."""
    done = await session.execute(
        delete(IdempotencyKey).where(col(IdempotencyKey.expires_at) <= now)
    )
    old = await session.execute(
        delete(SyncPushOp).where(col(SyncPushOp.created_at) < now - timedelta(days=ledger_days))
    )
    return int(getattr(done, "rowcount", 0) or 0) + int(getattr(old, "rowcount", 0) or 0)
