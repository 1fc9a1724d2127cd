"""Keyset pagination: opaque cursors that carry the sort key of the last row served."""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from datetime import datetime
from typing import Any

from childprotect_api.core.errors import Unprocessable

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> list[Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as e:
        raise Unprocessable.field("cursor", "is not a valid cursor", code="invalid_cursor") from e
    if not isinstance(values, list) or len(values) != size:
        raise Unprocessable.field("cursor", "is not a valid cursor", code="invalid_cursor")
    if not all(_plain(v) for v in values):
        raise Unprocessable.field("cursor", "is not a valid cursor", code="invalid_cursor")
    return values


_BIGINT = range(-(2**63), 2**63)


def _plain(value: object) -> bool:
    """A value a cursor of ours can hold: a string without NUL, a bigint, a finite number or
    null (a tampered one could hold anything JSON can)."""
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return "\x00" not in value and len(value) <= 1000
    if isinstance(value, int):
        return value in _BIGINT
    if isinstance(value, float):
        return math.isfinite(value)
    return False


# Typed cursor values: a tampered cursor answers 422, never 500.


def _bad_cursor() -> Unprocessable:
    return Unprocessable.field("cursor", "is not a valid cursor", code="invalid_cursor")


def cursor_uuid(value: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as e:
        raise _bad_cursor() from e


def cursor_time(value: object) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as e:
        raise _bad_cursor() from e


def cursor_int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _bad_cursor()


def decode_time_id_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The common keyset of lists ordered by a timestamp, then id."""
    values = decode_cursor(cursor, 2)
    if values is None:
        return None
    return cursor_time(values[0]), cursor_uuid(values[1])
