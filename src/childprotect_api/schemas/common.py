"""Shapes shared by every resource."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

T = TypeVar("T")

MONEY_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
_MONEY_SCHEMA = {
    "type": "string",
    "pattern": MONEY_PATTERN,
    "description": 'Yuan, a decimal string ("1050.00").',
    "examples": ["1050.00"],
}


def _money_text(value: object) -> object:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return f"{Decimal(str(value)):.2f}"
    return value


# Money as the contract has it (DESIGN.md "API conventions"): a decimal string both ways.
# Answers always send "1050.00"; bodies are declared so, and a JSON number is still taken.
Money = Annotated[str, BeforeValidator(_money_text), WithJsonSchema(_MONEY_SCHEMA)]
MoneyIn = Annotated[float, WithJsonSchema(_MONEY_SCHEMA)]
MoneyInDecimal = Annotated[Decimal, WithJsonSchema(_MONEY_SCHEMA)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )
