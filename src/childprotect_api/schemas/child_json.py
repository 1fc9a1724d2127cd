"""A child record's JSON straight from its row (issue #23): the bytes
`ChildRead.model_validate(data).model_dump_json(by_alias=True)` answers, without building the
model (validating the row's 46 values, then serialising them again, was most of the Python a
GET /children/{id} spent outside the framework).

Each field is checked against the type the schema declares: a value in the form the row
gives it (a `str` from a varchar, a UUID, a date, an aware datetime, the stored parents and
subsidies as the API wrote them) is written as it is; anything else (a value pydantic would
convert or refuse: an unknown enum value, a date stored in another form, a subsidy amount
given as a number) sends the whole record through the model instead, so the answer (or the
error) is the model's, byte for byte. The checks are built from ChildRead's own fields: a
field whose type is not known here fails at import (tests/children/test_child_json.py holds
the bytes to the model's over varied records)."""

from __future__ import annotations

import re
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json

from childprotect_api.schemas.child import ChildRead, ParentInfo, SubsidyRead
from childprotect_api.schemas.common import money_text


class _Convert(Exception):
    """A value pydantic would convert or refuse: the model renders the record."""


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ALIAS_OF_FROM = "from"  # SubsidyRead.from_


def _stored_date(value: Any) -> Any:
    """A date inside stored JSON: kept as the text when it is the ISO form pydantic writes."""
    if value is None:
        return None
    if type(value) is str and _ISO_DATE.fullmatch(value):
        try:
            date.fromisoformat(value)
        except ValueError:
            raise _Convert from None
        return value
    raise _Convert


def _enum_check(kind: type[Enum]) -> Callable[[Any], Any]:
    values = frozenset(str(m.value) for m in kind)

    def check(value: Any) -> Any:
        if type(value) is str and value in values:
            return value
        raise _Convert

    return check


def _text(limit: int | None) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is str and (limit is None or len(value) <= limit):
            return value
        raise _Convert

    return check


def _max_length(model: type[BaseModel], name: str) -> int | None:
    for meta in model.model_fields[name].metadata:
        limit = getattr(meta, "max_length", None)
        if limit is not None:
            return int(limit)
    return None


_situation = _enum_check(ParentInfo.model_fields["situation"].annotation)  # type: ignore[arg-type]
_work_place = _text(_max_length(ParentInfo, "work_place"))
_note = _text(_max_length(ParentInfo, "note"))


def _parent(value: Any) -> Any:
    """ParentInfo as stored (extra keys are ignored by the model, and so here)."""
    if value is None:
        return None
    if type(value) is not dict or "situation" not in value:
        raise _Convert
    get = value.get
    return {
        "situation": _situation(value["situation"]),
        "work_place": _work_place(get("work_place")),
        "away_since": _stored_date(get("away_since")),
        "note": _note(get("note")),
    }


_subsidy_kind = _enum_check(SubsidyRead.model_fields["kind"].annotation)  # type: ignore[arg-type]


def _amount(value: Any) -> Any:
    if value is None or type(value) is str:
        return value
    text = money_text(value)
    if type(text) is not str:
        raise _Convert
    return text


def _subsidies(value: Any) -> Any:
    if type(value) is not list:
        raise _Convert
    out = []
    for item in value:
        # populate_by_name: the field's own name is read too; the model decides then.
        if type(item) is not dict or "kind" not in item or "from_" in item:
            raise _Convert
        get = item.get
        out.append(
            {
                "kind": _subsidy_kind(item["kind"]),
                "monthly_amount": _amount(get("monthly_amount")),
                _ALIAS_OF_FROM: _stored_date(get(_ALIAS_OF_FROM)),
                "to": _stored_date(get("to")),
            }
        )
    return out


def _kind(name: str, annotation: Any) -> tuple[str, Any, bool]:
    """What a field of ChildRead holds: (kind, its type, nullable)."""
    args = typing.get_args(annotation)
    nullable = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        nullable = len(inner) < len(args)
        if len(inner) != 1:
            raise TypeError(f"ChildRead.{name}: no JSON check for {annotation!r}")
        annotation = inner[0]
    if typing.get_origin(annotation) is list and not nullable:
        (item,) = typing.get_args(annotation)
        if item is SubsidyRead:
            return "subsidies", item, False
        if isinstance(item, type) and issubclass(item, Enum):
            return "enum_list", item, False
    elif annotation is ParentInfo and nullable:
        return "parent", annotation, True
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        return "enum", annotation, nullable
    elif annotation in (str, int, bool, date, datetime, uuid.UUID):
        return "plain", annotation, nullable
    raise TypeError(f"ChildRead.{name}: no JSON check for {annotation!r}")


# Plain values (str, int, bool, date, datetime, UUID) of exactly the declared type are written
# as they are, as the model writes them (a naive or aware datetime alike; the driver's UUIDs
# are a subclass); any other (a null where the schema wants a value, a bool for an int, a
# datetime for a date) goes to the model.
_KINDS = {name: _kind(name, f.annotation) for name, f in ChildRead.model_fields.items()}
# ChildRead's fields carry no alias of their own: the JSON's keys are the fields' names.
if any(f.alias not in (None, n) for n, f in ChildRead.model_fields.items()):
    raise TypeError("ChildRead: an aliased field needs its key here")
_NAMES = tuple(ChildRead.model_fields)
_PLAIN = tuple(
    (n, t, nullable)
    for n, (kind, t, nullable) in _KINDS.items()
    if kind == "plain" and t is not uuid.UUID
)
_ENUMS = tuple(
    (n, frozenset(str(m.value) for m in t), nullable)
    for n, (kind, t, nullable) in _KINDS.items()
    if kind == "enum"
)
_ENUM_LISTS = tuple(
    (n, frozenset(str(m.value) for m in t))
    for n, (kind, t, _) in _KINDS.items()
    if kind == "enum_list"
)
# UUIDs as text: the driver's own UUID class costs pydantic's encoder a slow path.
_UUIDS = tuple(
    (n, nullable) for n, (kind, t, nullable) in _KINDS.items() if kind == "plain" and t is uuid.UUID
)
_PARENTS = tuple(n for n, (kind, _, _) in _KINDS.items() if kind == "parent")
_SUBSIDIES = tuple(n for n, (kind, _, _) in _KINDS.items() if kind == "subsidies")


def _render(data: Mapping[str, Any]) -> bytes:
    out = {name: data[name] for name in _NAMES}
    for name, kind, nullable in _PLAIN:
        value = out[name]
        if type(value) is not kind and not (value is None and nullable):
            raise _Convert
    for name, values, nullable in _ENUMS:
        value = out[name]
        if not ((value is None and nullable) or (type(value) is str and value in values)):
            raise _Convert
    for name, values in _ENUM_LISTS:
        value = out[name]
        if type(value) is not list or not all(type(v) is str and v in values for v in value):
            raise _Convert
    for name, nullable in _UUIDS:
        value = out[name]
        if isinstance(value, uuid.UUID):
            out[name] = str(value)
        elif not (value is None and nullable):
            raise _Convert
    for name in _PARENTS:
        out[name] = _parent(out[name])
    for name in _SUBSIDIES:
        out[name] = _subsidies(out[name])
    return to_json(out)


def child_read_json(data: Mapping[str, Any]) -> bytes:
    """ChildRead's JSON (by alias) of `data`: a value for each of its fields, by name, as the
    children table's row gives it."""
    try:
        return _render(data)
    except _Convert:
        return ChildRead.model_validate(data).model_dump_json(by_alias=True).encode()
