"""Valid child payloads for the API tests (each with its own valid ID number)."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from childprotect_api.services.children import id_numbers
from tests.conftest import VILLAGE

CHILDREN = "/api/v1/children"
_seq = itertools.count(500)


def id_number(born: date, gender: str = "female") -> str:
    return id_numbers.make("620722", born, next(_seq), gender)


def new_child(
    area: str = VILLAGE,
    *,
    born: date = date(2016, 5, 20),
    gender: str = "female",
    with_id: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "area_code": area,
        "name": "李小花",
        "gender": gender,
        "birth_date": born.isoformat(),
        "ethnicity": "汉族",
        "categories": ["left_behind", "low_income"],
        "father": {
            "situation": "working_away",
            "work_place": "浙江省宁波市",
            "away_since": "2021-03-01",
        },
        "mother": {"situation": "working_away", "work_place": "新疆乌鲁木齐"},
        "school": "洪水镇中心小学",
        "grade": "三年级",
        "enrolment_status": "enrolled",
        "boarding": False,
        "health_notes": "过敏性鼻炎",
        "subsidies": [
            {"kind": "minimum_living_allowance", "monthly_amount": 380, "from": "2024-01-01"}
        ],
        "pairing_helper_name": "王老师",
        "pairing_helper_phone": "13811112222",
    }
    if with_id:
        body["id_number"] = id_number(born, gender)
    body.update(extra)
    return body


def etag_of(response: Any) -> str:
    return str(response.headers["ETag"])
