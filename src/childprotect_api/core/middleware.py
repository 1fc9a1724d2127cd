"""Pure-ASGI middleware: request ids, security headers, and a request body size limit."""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from childprotect_api.core import observability
from childprotect_api.core.errors import (
    DatabaseBusy,
    DatabaseUnavailable,
    Problem,
    ServiceUnavailable,
    internal_error_body,
    is_contention,
    is_database_unavailable,
    log_unhandled,
)
from childprotect_api.core.locale import localize_body

log = logging.getLogger(__name__)
access_log = logging.getLogger("childprotect_api.access")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]
# The interactive docs need scripts and styles from the page itself.
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


def _add_headers(start: Message, rid: str, is_docs: bool) -> None:
    """The request id and the security headers on a response's start message."""
    hdrs = list(start.get("headers", []))
    hdrs.append((b"x-request-id", rid.encode()))
    present = {k.lower() for k, _ in hdrs}
    hdrs.extend(h for h in SECURITY_HEADERS if h[0] not in present)
    if not is_docs:
        hdrs.append(API_CSP)
    start["headers"] = hdrs


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # One pass over the request's headers (this runs on every request).
        incoming = ""
        declared: bytes | None = None
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
            elif name == b"content-length":
                declared = value
        rid = (
            incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else secrets.token_hex(8)
        )
        scope.setdefault("state", {})["request_id"] = rid
        path: str = scope.get("path", "")
        is_docs = path.startswith(("/docs", "/redoc"))

        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _too_large(send, rid, self.max_body_bytes)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _add_headers(message, rid, is_docs)
            await send(message)

        started = False
        status = 500
        t0 = time.perf_counter()

        async def tracking_send(message: Message) -> None:
            # The response's status, and the headers above, in one wrapper.
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                _add_headers(message, rid, is_docs)
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            await _too_large(send_with_headers, rid, self.max_body_bytes)
        except Exception as exc:
            method = scope.get("method", "?")
            if is_database_unavailable(exc):
                if _pool_timeout(exc):
                    observability.DB_POOL_TIMEOUTS.inc()
                # Not a bug: the database is down, restarting or out of connections. The
                # client retries after Retry-After; the type only is logged (no message).
                log.warning(
                    "database unavailable: %s %s (request %s): %s",
                    method,
                    path,
                    rid,
                    type(exc).__name__,
                )
                if not started:
                    status = 503
                    await _send_problem(send_with_headers, DatabaseUnavailable(), rid)
            elif is_contention(exc):
                # A deadlock or serialization failure with another request: nothing of this
                # one was committed, and sending it again is safe (the sync push retries its
                # batch itself first).
                log.warning(
                    "lost to a concurrent transaction: %s %s (request %s): %s",
                    method,
                    path,
                    rid,
                    type(exc).__name__,
                )
                if not started:
                    status = 503
                    await _send_problem(send_with_headers, DatabaseBusy(), rid)
            else:
                # Answer here rather than let the server log the exception: its message and
                # traceback locals can hold names and ID numbers.
                log_unhandled(exc, method, path, rid)
                if not started:
                    await _send_json(send_with_headers, 500, internal_error_body(rid))
        finally:
            seconds = time.perf_counter() - t0
            method = scope.get("method", "?")
            route = observability.route_template(scope)
            observability.observe_request(method, route, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                _log_access(scope, method, path, status, seconds, rid, route)


def _log_access(
    scope: Scope, method: str, path: str, status: int, seconds: float, rid: str, route: str
) -> None:
    """The access log names the path without its query string (a name search would otherwise
    put a child's name in the log); the JSON line names the route template. Its fields are
    only made when the log is on."""
    actor = scope.get("state", {}).get("scope")
    access_log.info(
        "%s %s %s %.1fms rid=%s",
        method,
        path,
        status,
        seconds * 1000,
        rid,
        extra={
            "fields": {
                "event": "request",
                "request_id": rid,
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
                "actor_type": getattr(actor, "actor_type", None),
                "actor_id": str(actor.actor_id) if actor is not None else None,
            }
        },
    )


def _pool_timeout(exc: BaseException) -> bool:
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, PoolTimeout):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class BodyTooLarge(Exception):
    pass


async def _too_large(send: Any, rid: str, limit: int) -> None:
    body = {
        "type": "about:blank",
        "title": "Payload too large",
        "status": 413,
        "detail": f"the request body is larger than {limit} bytes",
        "code": "payload_too_large",
        "errors": [],
        "request_id": rid,
    }
    await _send_json(send, 413, localize_body(body))


async def _send_problem(send: Any, error: ServiceUnavailable, rid: str) -> None:
    body = Problem(
        title=error.title,
        status=error.status_code,
        detail=error.detail,
        code=error.code,
        request_id=rid,
    ).model_dump()
    await _send_json(send, error.status_code, localize_body(body), error.headers)


async def _send_json(
    send: Any, status: int, data: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    body = json.dumps(data).encode()
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _RedactQuery(logging.Filter):
    """Access logs print the request line; its query string can hold a name searched for
    (`?q=`). Keep the path, drop the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2]
            if "?" in path:
                record.args = (*args[:2], path.split("?", 1)[0] + "?…", *args[3:])
        return True


def install_access_log_redaction() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _RedactQuery) for f in logger.filters):
        logger.addFilter(_RedactQuery())
