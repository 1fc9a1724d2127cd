"""GET /children/{id} writes the record's JSON straight from its row (schemas/child_json.py,
issue #23): byte for byte what ChildRead.model_validate(...).model_dump_json(by_alias=True)
answers, for every type of field; a stored value the model would convert or refuse goes
through the model."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import bindparam, select, text

from childprotect_api.core.rawsql import Raw
from childprotect_api.models.child import Child
from childprotect_api.schemas.child import ChildRead
from childprotect_api.schemas.child_json import child_read_json
from tests.conftest import VILLAGE
from tests.factories import make_child

CHILDREN = "/api/v1/children"
_children = Child.__table__  # type: ignore[attr-defined]
_ROW = Raw(select(_children).where(_children.c.id == bindparam("id")))


def _model_json(data: dict[str, Any]) -> bytes:
    return ChildRead.model_validate(data).model_dump_json(by_alias=True).encode()


def _data(row: Any, age: int) -> dict[str, Any]:
    data = {n: row[n] for n in ChildRead.model_fields if n not in ("age", "id_number")}
    data["age"] = age
    data["id_number"] = row["id_number_masked"]
    return data


_PARENT = {"situation": "working_away", "work_place": "浙江省宁波市", "away_since": "2021-03-01"}
_SUBSIDY = {"kind": "minimum_living_allowance", "monthly_amount": 380.5, "from": "2024-01-01"}
_NOW = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)

# Each a different mix: nulls, microseconds or none, every enum, the stored JSON as the API
# writes it and as older writers left it (amounts as numbers, extra keys, missing keys).
VARIED: list[dict[str, Any]] = [
    {},
    {
        "name": 'quote " back \\ slash \u2028 tab\t',
        "categories": ["left_behind", "low_income", "disabled"],
        "father": _PARENT,
        "mother": {"situation": "deceased"},
        "subsidies": [_SUBSIDY, {"kind": "orphan_allowance", "monthly_amount": 1200}],
        "school": "洪水镇中心小学",
        "grade": "三年级",
        "enrolment_status": "enrolled",
        "boarding": True,
        "dropout_risk": False,
        "dropout_reported_on": date(2025, 9, 1),
        "health_notes": "过敏性鼻炎\n第二行",
        "pairing_helper_name": "王老师",
        "pairing_helper_phone": "13811112222",
        "risk_level": "orange",
        "risk_reason": "原因",
        "last_visit_at": _NOW,
        "next_visit_due": _NOW.replace(microsecond=0),
    },
    {
        "status": "closed",
        "closed_reason": "turned_18",
        "closed_at": _NOW,
        "categories": [],
        "with_id_number": False,
        "father": {**_PARENT, "note": "x" * 500, "unknown": 1},
        "subsidies": [{"kind": "other", "monthly_amount": "380.00", "to": "2030-12-31"}],
        "risk_level": "red",
        "gender": "female",
        "birth_date": date(2008, 2, 29),
    },
]


async def _stored(session, child_id: uuid.UUID, **columns: Any) -> None:  # type: ignore[no-untyped-def]
    """Stored JSON written as it is (no model in between), as an older writer left it."""
    for name, value in columns.items():
        await session.execute(
            text(f"UPDATE children SET {name} = CAST(:v AS jsonb) WHERE id = :id"),
            {"v": json.dumps(value), "id": child_id},
        )
    await session.commit()


async def test_the_answer_is_the_models_json_byte_for_byte(client, session, settings, world):
    director = world["director"]
    made = []
    for fields in VARIED:
        fields = dict(fields)
        with_id = fields.pop("with_id_number", True)
        made.append(await make_child(session, settings, VILLAGE, with_id_number=with_id, **fields))
    # Stored as other writers may leave it: amounts as numbers or text, keys missing.
    await _stored(
        session,
        made[0].id,
        father={"situation": "unknown", "away_since": None},
        subsidies=[{"kind": "other"}, {"kind": "other", "monthly_amount": 0, "from": None}],
    )
    for child in made:
        r = await client.get(f"{CHILDREN}/{child.id}", headers=director.headers)
        assert r.status_code == 200, r.text
        row = await _ROW.fetchrow(session, {"id": child.id})
        expected = _model_json(_data(row, r.json()["age"]))
        assert r.content == expected
        assert child_read_json(_data(row, r.json()["age"])) == expected


def _sample() -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "area_code": VILLAGE,
        "name": "李小花",
        "gender": "female",
        "birth_date": date(2016, 5, 20),
        "age": 9,
        "id_number": "6207**********1234",
        "categories": ["left_behind"],
        "school": None,
        "assigned_director_id": uuid.uuid4(),
        "risk_level": "blue",
        "status": "active",
        "last_visit_at": None,
        "next_visit_due": datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8))),
        "version": 3,
        "updated_at": datetime(2026, 1, 1, 1, 2, 3),  # naive: written without an offset
        **{n: None for n in ChildRead.model_fields if n not in _SAMPLE_SET},
        "subsidies": [],
    }


_SAMPLE_SET = {
    "id", "area_code", "name", "gender", "birth_date", "age", "id_number", "categories",
    "school", "assigned_director_id", "risk_level", "status", "last_visit_at",
    "next_visit_due", "version", "updated_at", "subsidies",
}  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"subsidies": [{"kind": "other", "monthly_amount": 12.3456}]},
        {"subsidies": [{"kind": "other", "from_": "2024-01-01"}]},  # the field's own name
        {"subsidies": [{"kind": "other", "monthly_amount": 5, "from": "2024-01-01T00:00:00"}]},
        {"father": {"situation": "working_away", "away_since": "2021-3-1"}},
        {"father": {"situation": "working_away", "work_place": "x" * 101}},
        {"father": {"situation": "not_a_situation"}},
        {"father": {"away_since": "2021-03-01"}},
        {"father": "working_away"},
        {"mother": {"situation": "working_away", "away_since": "2021-02-30"}},
        {"categories": ["left_behind", "no_such_category"]},
        {"closed_reason": "no_such_reason"},
        {"enrolment_status": "enrolled"},
        {"gender": "other"},
        {"version": None},
        {"version": True},
        {"boarding": 1},
        {"birth_date": datetime(2016, 5, 20)},
        {"created_by": str(uuid.uuid4())},
        {"subsidies": None},
        {"subsidies": [{"kind": "other", "monthly_amount": True}]},
    ],
)
def test_values_the_model_would_convert_or_refuse(change: dict[str, Any]) -> None:
    data = {**_sample(), **change}
    try:
        expected = _model_json(data)
    except ValidationError:
        with pytest.raises(ValidationError):
            child_read_json(data)
        return
    assert child_read_json(data) == expected


def test_every_field_of_the_schema_is_written_in_its_order() -> None:
    data = _sample()
    assert list(json.loads(child_read_json(data))) == [
        f.alias or n for n, f in ChildRead.model_fields.items()
    ]


def test_the_plain_columns_are_of_the_schemas_types() -> None:
    """Plain values are written as the row gives them: each such column's Python type must be
    the one the schema declares (a change of either shows here)."""
    from childprotect_api.schemas import child_json

    for name, (kind, declared, _) in child_json._KINDS.items():
        if kind != "plain" or name in ("age", "id_number"):
            continue
        assert _children.c[name].type.python_type is declared, name


async def test_the_sync_feeds_child_item_is_the_models_json(session, settings):
    """The sync feed's child items (services/sync/feed.py child_item) are ChildUpsert's JSON
    by alias, from an ORM record (feed.py's path) and from a raw row (the one-statement
    pages), for the same varied records."""
    from childprotect_api.schemas.sync import ChildUpsert
    from childprotect_api.services.children.id_numbers import age_on
    from childprotect_api.services.sync import at_once, feed

    today = date(2026, 3, 1)
    made = []
    for fields in VARIED:
        fields = dict(fields)
        with_id = fields.pop("with_id_number", True)
        made.append(await make_child(session, settings, VILLAGE, with_id_number=with_id, **fields))
    await _stored(session, made[0].id, father={"situation": "unknown", "away_since": None})
    for child in made:
        row = await _ROW.fetchrow(session, {"id": child.id})
        data = _data(row, age_on(row["birth_date"], today))
        expected = ChildUpsert(
            id=row["id"], version=row["version"], data=ChildRead.model_validate(data)
        ).model_dump_json(by_alias=True)
        orm = await session.get(Child, child.id, populate_existing=True)
        assert feed.child_item(orm, today) == expected  # type: ignore[arg-type]
        assert feed.child_item(at_once._Attrs(row, ""), today) == expected  # type: ignore[arg-type]
