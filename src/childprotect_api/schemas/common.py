"""Shapes shared by every resource."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

T = TypeVar("T")

MONEY_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
_MONEY_SCHEMA = {
    "type": "string",
    "pattern": MONEY_PATTERN,
    "description": 'Yuan, a decimal string ("1050.00").',
    "examples": ["1050.00"],
}


def money_text(value: object) -> object:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return f"{Decimal(str(value)):.2f}"
    return value


# Money as the contract has it (DESIGN.md "API conventions"): a decimal string both ways.
# Answers always send "1050.00"; bodies are declared so, and a JSON number is still taken.
Money = Annotated[str, BeforeValidator(money_text), WithJsonSchema(_MONEY_SCHEMA)]
MoneyIn = Annotated[float, WithJsonSchema(_MONEY_SCHEMA)]
MoneyInDecimal = Annotated[Decimal, WithJsonSchema(_MONEY_SCHEMA)]


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
