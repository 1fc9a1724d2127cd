"""Arrange activities and sites for the care-work tests."""

from __future__ import annotations

import uuid
from typing import Any

ACTIVITIES = "/api/v1/activities"
SITES = "/api/v1/sites"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def activity_body(area_code: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "area_code": area_code,
        "kind": "safety_education",
        "title": "暑期防溺水安全教育",
        "held_on": "2026-07-10",
        "place": "村委会",
        "organiser": "洪水镇政府",
        "organiser_kind": "government",
        "participants": 40,
        "children_served": 25,
        "amount": "1050.00",
        "goods": "防溺水宣传册 50 份",
    }
    body.update(over)
    return body


def site_body(area_code: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "area_code": area_code,
        "kind": "children_home",
        "name": "洪水村儿童之家",
        "opened_on": "2024-05-01",
    }
    body.update(over)
    return body
