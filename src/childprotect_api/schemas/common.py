"""Shapes shared by every resource."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )


# A date-time in a query string: ISO 8601 with an offset (`2026-01-01T08:00:00+08:00`, `...Z`),
# as the contract's `format: date-time` says. Pydantic alone would also take a bare number
# (`0.5`, `1700000000`) as seconds since 1970: a typo then filters silently.
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}(:?\d{2})?)"
)


def _iso_datetime(value: Any) -> Any:
    if isinstance(value, str) and _ISO_DATETIME.fullmatch(value.strip()):
        return value
    if isinstance(value, datetime):
        return value
    raise PydanticCustomError(
        "datetime_iso_required",
        "must be an ISO 8601 date-time with an offset, e.g. 2026-01-01T08:00:00+08:00",
    )


IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_datetime)]
