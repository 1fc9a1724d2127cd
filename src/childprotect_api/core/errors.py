"""Domain errors and their one mapping to RFC 9457 problem+json."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, PrivateAttr
from starlette.exceptions import HTTPException as StarletteHTTPException

from childprotect_api.core.locale import localize_body

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    field: str
    message: str = Field(description="In the request's language (Accept-Language).")
    type: str = Field(
        description="Machine error type, for the app to word the message itself: pydantic's "
        "(`missing`, `string_too_short`, ...) or the API's own (`invalid_id_number`, ...).",
    )
    # Pydantic's context of the error (`min_length` ...), for the localized message.
    _ctx: dict[str, Any] = PrivateAttr(default_factory=dict)

    @classmethod
    def of(
        cls, field: str, message: str, kind: str, ctx: dict[str, Any] | None = None
    ) -> FieldError:
        error = cls(field=field, message=message, type=kind)
        error._ctx = dict(ctx or {})
        return error


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable machine `code` and field `errors`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    code: str
    errors: list[FieldError] = []
    request_id: str | None = None


class AppError(Exception):
    status_code = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        if code:
            self.code = code
        self.errors = errors or []
        self.headers = headers
        self.extra = extra or {}


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    title = "Not found"


class Unauthorized(AppError):
    status_code = 401
    code = "not_authenticated"
    title = "Not authenticated"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    title = "Forbidden"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    title = "Conflict"


class Gone(AppError):
    status_code = 410
    code = "gone"
    title = "Gone"


class PreconditionFailed(AppError):
    status_code = 412
    code = "version_mismatch"
    title = "Precondition failed"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class Unprocessable(AppError):
    status_code = 422
    code = "validation_error"
    title = "Validation error"

    @classmethod
    def field(cls, field: str, message: str, *, code: str | None = None) -> Unprocessable:
        error = FieldError(field=field, message=message, type=code or _field_type(message))
        return cls(message, code=code, errors=[error])


def _field_type(message: str) -> str:
    """The machine type of a field error raised without its own code."""
    if message.startswith("may not be null"):
        return "not_nullable"
    if message.startswith("is required"):
        return "missing"
    return "invalid"


class PreconditionRequired(AppError):
    status_code = 428
    code = "precondition_required"
    title = "Precondition required"


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"
    title = "Too many requests"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    title = "Service unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached, or is shutting down or starting up: the request was not
    wrong and may be retried (PUT and the other idempotent writes are safe to resend)."""

    code = "database_unavailable"
    title = "Database unavailable"
    retry_after_seconds = 5

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail or "The database is unavailable; retry later.",
            headers={"Retry-After": str(self.retry_after_seconds)},
        )


class DatabaseBusy(ServiceUnavailable):
    """The request met another one on the same rows (a deadlock or serialization failure) and
    was retried a few times in vain: nothing of it was committed; sending it again is safe."""

    code = "database_busy"
    title = "Database busy"
    retry_after_seconds = 2

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail or "Other requests were changing the same records; retry shortly.",
            headers={"Retry-After": str(self.retry_after_seconds)},
        )


# Deadlock detected, serialization failure: the transaction lost a race, not a wrong request.
_CONTENTION_SQLSTATES = frozenset({"40P01", "40001"})


def is_contention(exc: BaseException) -> bool:
    """Whether `exc`, or anything that caused it, is PostgreSQL ending the statement because
    of concurrent transactions (a deadlock, a serialization failure): the work may be run
    again from its start."""
    return any(getattr(e, "sqlstate", None) in _CONTENTION_SQLSTATES for e in causes(exc))


# SQLSTATEs of a database that cannot serve now (not of a wrong request): class 08 (connection
# exceptions), admin/crash shutdown, "cannot connect now" (starting up or shutting down), too
# many connections.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
_DRIVER_MODULES = ("asyncpg", "sqlalchemy")


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything behind it, each once: what SQLAlchemy wrapped (`orig`), the
    explicit and implicit causes, and the members of an exception group."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        if isinstance(e, BaseExceptionGroup):
            stack.extend(e.exceptions)
        for nested in (getattr(e, "orig", None), e.__cause__, e.__context__):
            if isinstance(nested, BaseException):
                stack.append(nested)


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether `exc`, or anything that caused it, says the database is unreachable, shutting
    down or starting up, or that no connection could be had in time: the one decision of
    which failures answer 503 `database_unavailable` instead of 500.

    Does not rely on the pool's pre-ping: a connection that died under a request answers
    here too (SQLAlchemy marks it `connection_invalidated`, and invalidates the pool)."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    for e in causes(exc):
        if isinstance(e, DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, PoolTimeout):  # no pooled connection within pool_timeout
            return True
        sqlstate = getattr(e, "sqlstate", None)
        if isinstance(sqlstate, str) and (
            sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES
        ):
            return True
        if _is_driver_connection_error(e):
            return True
    return False


_PROTOCOL_FAILED = 'protocol is in the "failed" state'


def _is_driver_connection_error(e: BaseException) -> bool:
    """A socket error or timeout raised inside the driver (refused, reset, unreachable host,
    connect or command timeout), or asyncpg's "connection is closed"."""
    import asyncpg

    if isinstance(e, asyncpg.InterfaceError):
        return "connection is closed" in str(e) or "connection was closed" in str(e)
    if isinstance(e, asyncpg.InternalClientError):
        # The server ended the session between two statements (its FATAL "terminating
        # connection" arrived while the connection was idle in the request's transaction):
        # asyncpg marks the protocol failed and refuses the next statement.
        return _PROTOCOL_FAILED in str(e)
    if not isinstance(e, OSError):  # TimeoutError and ConnectionError are OSErrors
        return False
    tb = e.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith(_DRIVER_MODULES):
            return True
        tb = tb.tb_next
    return False


def problem_response(
    status: int,
    title: str,
    code: str,
    detail: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    request_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body = Problem(
        title=title,
        status=status,
        detail=detail,
        code=code,
        errors=errors or [],
        request_id=request_id,
    ).model_dump()
    body = localize_body(body, [e._ctx for e in errors or []])
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _request_id(request: Request) -> str | None:
    rid = getattr(request.state, "request_id", None)
    return rid if isinstance(rid, str) else None


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form"):
        parts = parts[1:] or parts
    return ".".join(parts)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(
        exc.status_code,
        exc.title,
        exc.code,
        exc.detail,
        exc.errors,
        exc.headers,
        _request_id(request),
        exc.extra,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError.of(
            _loc_to_field(e.get("loc", ())),
            str(e.get("msg", "invalid")),
            str(e.get("type", "invalid")),
            e.get("ctx"),
        )
        for e in exc.errors()
    ]
    return problem_response(
        422,
        "Validation error",
        "validation_error",
        "The request has invalid fields.",
        errors,
        request_id=_request_id(request),
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    title = str(exc.detail) if isinstance(exc.detail, str) else "HTTP error"
    return problem_response(
        exc.status_code,
        title,
        code,
        title,
        headers=dict(exc.headers) if exc.headers else None,
        request_id=_request_id(request),
    )


def internal_error_body(rid: str | None) -> dict[str, Any]:
    return localize_body(
        Problem(
            title="Internal server error",
            status=500,
            detail="An unexpected error occurred. Quote the request id when reporting it.",
            code="internal_error",
            request_id=rid,
        ).model_dump()
    )


def log_unhandled(exc: BaseException, method: str, path: str, rid: str | None) -> None:
    """Log the error type and the frames (file, line, function) only: exception messages and
    locals can hold names and ID numbers."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    lines = [f'  File "{f.filename}", line {f.lineno}, in {f.name}' for f in frames]
    log.error(
        "unhandled %s in %s %s (request %s)\n%s",
        type(exc).__name__,
        method,
        path,
        rid,
        "\n".join(lines),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
