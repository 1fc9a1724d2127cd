"""Refuse input no rule could want, before any route sees it (issue #18): a NUL character
(PostgreSQL text cannot hold one) anywhere in the path, a query parameter, a form field or a
JSON string; and a date outside the years the service works with (`DATE_YEARS`) in a query
parameter or a JSON string (arithmetic on `0001-01-01T00:00:00+14:00` or `9999-12-31`
overflows). Both answer 422 `validation_error` naming the field, like any invalid field.

Cheap for ordinary requests: a JSON body is scanned as bytes (an escaped NUL, a date-like
year outside the range) and parsed only when something is found, to name the field. File
uploads (multipart) are not looked into: their content is the import's to judge."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from childprotect_api.core.errors import FieldError, Problem
from childprotect_api.core.locale import localize_body

# The years a date or time may fall in: children's and parents' birth dates to the end of any
# plan. Anything else is a typing mistake or a probe.
DATE_YEARS = range(1900, 3000)
NUL_MESSAGE = "must not contain the NUL character (\\u0000)"
DATE_MESSAGE = (
    f"is out of range: dates must fall in the years {DATE_YEARS.start}-{DATE_YEARS.stop - 1}"
)

_ISO = re.compile(r"^\s*(\d{4,})-\d{2}-\d{2}(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?\s*$")
_JSON_NUL = re.compile(rb"\\u0000")
# A JSON string that starts like a date whose year is outside DATE_YEARS.
_JSON_DATE = re.compile(rb'"(?:0\d{3}|1[0-8]\d{2}|[3-9]\d{3}|\d{5,})-\d{2}-\d{2}')


def bad_date(value: str) -> bool:
    """Whether a string is an ISO date or date-time whose year is out of range."""
    m = _ISO.match(value)
    if m is None:
        return False
    if int(m.group(1)) in DATE_YEARS:
        return False
    text = value.strip()
    try:
        date.fromisoformat(text)
        return True
    except ValueError:
        pass
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False  # not a date at all: the field's own validation answers


def problem(value: str, field: str) -> FieldError | None:
    if "\x00" in value:
        return FieldError(field=field, message=NUL_MESSAGE, type="nul_character")
    if bad_date(value):
        return FieldError(field=field, message=DATE_MESSAGE, type="date_out_of_range")
    return None


def _walk(value: Any, path: list[str]) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield ".".join(path) or "body", value
    elif isinstance(value, dict):
        for k, v in value.items():
            key = str(k)
            if "\x00" in key:
                yield ".".join([*path, key.replace("\x00", "")]) or "body", key
            yield from _walk(v, [*path, key])
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, [*path, str(i)])


def check_pairs(pairs: list[tuple[str, str]]) -> list[FieldError]:
    errors = []
    for name, value in pairs:
        error = problem(name, name.replace("\x00", "")) or problem(value, name.replace("\x00", ""))
        if error is not None:
            errors.append(error)
    return errors


def check_json(body: bytes) -> list[FieldError]:
    if not (_JSON_NUL.search(body) or _JSON_DATE.search(body)):
        return []
    try:
        data = json.loads(body)
    except ValueError:
        return []  # not JSON: the route's validation answers
    errors = []
    for field, value in _walk(data, []):
        error = problem(value, field)
        if error is not None:
            errors.append(error)
    return errors


class InputGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        errors: list[FieldError] = []
        raw_path: bytes | None = scope.get("raw_path")
        path = unquote(raw_path.decode("latin-1")) if raw_path else scope.get("path", "")
        if "\x00" in path or "\x00" in scope.get("path", ""):
            errors.append(FieldError(field="path", message=NUL_MESSAGE, type="nul_character"))
        query = scope.get("query_string", b"").decode("latin-1")
        if query:
            errors += check_pairs(parse_qsl(query, keep_blank_values=True, encoding="utf-8"))
        replay: list[Message] | None = None
        with_body = not errors and scope.get("method") in ("POST", "PUT", "PATCH", "DELETE")
        kind = _content_type(scope) if with_body else b""
        if with_body and (
            kind == b"application/json"
            or kind.endswith(b"+json")
            or kind == b"application/x-www-form-urlencoded"
        ):
            replay, body = await _read_all(receive)
            if kind == b"application/x-www-form-urlencoded":
                if b"%00" in body or b"\x00" in body:
                    text = body.decode("latin-1")
                    errors += check_pairs(parse_qsl(text, keep_blank_values=True, encoding="utf-8"))
            else:
                errors += check_json(body)
        if errors:
            await _send_422(send, errors, scope)
            return
        if replay is not None:
            receive = _replaying(replay, receive)
        await self.app(scope, receive, send)


def _content_type(scope: Scope) -> bytes:
    """The request's media type, lower case, without parameters (the last header given)."""
    kind = b""
    for name, value in scope.get("headers") or ():
        if name == b"content-type":
            kind = value
    return kind.split(b";", 1)[0].strip().lower()


async def _read_all(receive: Receive) -> tuple[list[Message], bytes]:
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return messages, b"".join(chunks)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _send_422(send: Send, errors: list[FieldError], scope: Scope) -> None:
    rid = scope.get("state", {}).get("request_id")
    body = Problem(
        title="Validation error",
        status=422,
        detail="The request has invalid fields.",
        code="validation_error",
        errors=errors,
        request_id=rid if isinstance(rid, str) else None,
    ).model_dump()
    data = json.dumps(localize_body(body)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
