"""How a register's cells are made from a row: the column (its English key, its Chinese and
English headers) and the small formatters every kind shares (enum labels, China's calendar,
the ID number masked or revealed)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from childprotect_api.services.children import id_numbers
from childprotect_api.services.children.rules import CHINA_TZ
from childprotect_api.services.enums import ENUM_LABELS

Cell = str | int | float | Decimal | None


@dataclass
class Context:
    """What a row's cells need besides the row: area and user names (loaded once per export,
    a county's worth), and whether ID numbers are shown in full."""

    areas: dict[str, str] = field(default_factory=dict)
    users: dict[Any, str] = field(default_factory=dict)
    reveal_key: str | None = None  # the data key when a county officer stated a purpose

    def id_number(self, encrypted: bytes | None, masked: str | None) -> str | None:
        if self.reveal_key is not None and encrypted is not None:
            return id_numbers.reveal(self.reveal_key, encrypted)
        return masked

    def area(self, code: str | None) -> str | None:
        return None if code is None else self.areas.get(code, code)

    def township(self, code: str | None) -> str | None:
        return self.area(code[:9]) if code is not None and len(code) >= 9 else None

    def village(self, code: str | None) -> str | None:
        return self.area(code) if code is not None and len(code) == 12 else None

    def user(self, user_id: Any) -> str | None:
        return None if user_id is None else self.users.get(user_id, "")


Value = Callable[[Any, Context], Cell]


@dataclass(frozen=True)
class Column:
    key: str  # the English name integrators use (GET /api/v1/registers)
    zh: str
    en: str
    value: Value


def col(key: str, zh: str, en: str, value: Value | None = None) -> Column:
    """A column; without `value`, the row's field of the same name as it is."""
    return Column(key, zh, en, value or (lambda r, _c: _plain(getattr(r, key))))


def _plain(v: Any) -> Cell:
    if isinstance(v, datetime):
        return moment(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bool):
        return yes_no(v)
    cell: Cell = v
    return cell


def label(enum: str, value: str | None) -> str | None:
    """The Chinese label of an enum value (the value itself if unknown)."""
    if value is None:
        return None
    pair = ENUM_LABELS[enum].get(value)
    return pair[0] if pair else value


def labels(enum: str, values: Iterable[str] | None) -> str:
    return "、".join(label(enum, v) or "" for v in values or ())


def moment(v: datetime | None) -> str | None:
    return None if v is None else v.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def day(v: date | None) -> str | None:
    return None if v is None else v.isoformat()


def yes_no(v: bool | None) -> str | None:
    return None if v is None else ("是" if v else "否")


def enum_col(key: str, zh: str, en: str, enum: str, field_name: str | None = None) -> Column:
    name = field_name or key
    return Column(key, zh, en, lambda r, _c: label(enum, getattr(r, name)))


def area_cols(field_name: str = "area_code") -> list[Column]:
    return [
        Column(
            "township", "乡镇（街道）", "Township", lambda r, c: c.township(getattr(r, field_name))
        ),
        Column("village", "村（居）", "Village", lambda r, c: c.village(getattr(r, field_name))),
    ]
