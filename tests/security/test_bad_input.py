"""Input no rule could want answers 422 with a field error, never 500 (issue #18, item 8):
a NUL character in any string (before authentication too), dates whose arithmetic overflows,
tampered cursors."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from childprotect_api.core.input_guard import bad_date
from tests.conftest import COUNTY, VILLAGE
from tests.factories import make_child
from tests.reports.report_support import REPORTS
from tests.reports.report_support import body as report_body
from tests.visits.visit_factories import VISITS, registered_child, visit_body

NUL = "\u0000"


def assert_field_error(r, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]], r.text


def cursor(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize("field", ["username", "password"])
async def test_nul_in_the_login_form(client, world, field):
    form = {"grant_type": "password", "username": "director", "password": "secret"}
    form[field] = "dir" + NUL + "ector"
    r = await client.post("/api/v1/auth/token", data=form)
    assert_field_error(r, field)


async def test_nul_in_a_search(client, world):
    r = await client.get(
        "/api/v1/children", params={"q": "王" + NUL}, headers=world["director"].headers
    )
    assert_field_error(r, "q")


async def test_nul_in_a_child(client, world):
    body = {
        "area_code": VILLAGE,
        "name": "王" + NUL + "明",
        "gender": "male",
        "birth_date": "2015-03-14",
        "father": {"situation": "working_away", "work_place": "兰州" + NUL},
    }
    r = await client.post("/api/v1/children", json=body, headers=world["director"].headers)
    assert_field_error(r, "name")
    assert_field_error(r, "father.work_place")


async def test_nul_in_a_child_update(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    r = await client.patch(
        f"/api/v1/children/{child.id}",
        json={"health_notes": "ok" + NUL},
        headers={**world["director"].headers, "If-Match": f'"{child.version}"'},
    )
    assert_field_error(r, "health_notes")


async def test_nul_in_a_visit(client, world, session, settings):
    child = await registered_child(session, settings)
    body = visit_body(child.id, notes="在家" + NUL)
    r = await client.put(f"{VISITS}/{uuid.uuid4()}", json=body, headers=world["director"].headers)
    assert_field_error(r, "notes")


async def test_nul_in_a_report(client, world):
    r = await client.post(
        REPORTS,
        json=report_body(description="淤青" + NUL, child_description={"name": "李" + NUL}),
        headers=world["reporter"].headers,
    )
    assert_field_error(r, "description")
    assert_field_error(r, "child_description.name")


async def test_nul_in_a_user(client, world):
    body = {
        "username": "new" + NUL + "user",
        "display_name": "新用户",
        "phone": "13900000001",
        "role": "village_director",
        "area_code": VILLAGE,
        "password": "a-long-enough-password-1",
    }
    r = await client.post("/api/v1/users", json=body, headers=world["officer"].headers)
    assert_field_error(r, "username")


async def test_nul_in_a_json_key(client, world):
    r = await client.post(
        "/api/v1/children", json={"na" + NUL + "me": "x"}, headers=world["director"].headers
    )
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("path", ["summary", "breakdown", "export"])
async def test_stats_from_far_future(client, world, path):
    params = {"from": "9999-12-01"}
    if path == "export":
        params["format"] = "csv"
    r = await client.get(f"/api/v1/stats/{path}", params=params, headers=world["officer"].headers)
    assert_field_error(r, "from")


async def test_reports_since_the_first_day(client, world):
    r = await client.get(
        REPORTS, params={"since": "0001-01-01T00:00:00+14:00"}, headers=world["officer"].headers
    )
    assert_field_error(r, "since")


async def test_a_far_date_in_a_body(client, world, session, settings):
    child = await registered_child(session, settings)
    body = visit_body(child.id, visited_at="0001-01-01T00:00:00+14:00")
    r = await client.put(f"{VISITS}/{uuid.uuid4()}", json=body, headers=world["director"].headers)
    assert_field_error(r, "visited_at")


@pytest.mark.parametrize(
    ("path", "actor", "values"),
    [
        ("/api/v1/users", "officer", ["director", "not-a-uuid"]),
        ("/api/v1/users", "officer", ["dir" + NUL, str(uuid.uuid4())]),
        ("/api/v1/users", "officer", [["nested"], {"x": 1}]),
        ("/api/v1/audit", "auditor", [10**30]),
        ("/api/v1/audit", "auditor", [True]),
        ("/api/v1/audit", "auditor", ["1"]),
        ("/api/v1/areas", "officer", ["62" + NUL]),
        ("/api/v1/areas", "officer", [{"code": "62"}]),
        ("/api/v1/areas", "officer", []),
    ],
)
async def test_tampered_cursors(client, world, path, actor, values):
    r = await client.get(path, params={"cursor": cursor(values)}, headers=world[actor].headers)
    assert_field_error(r, "cursor")


@pytest.mark.parametrize(
    ("value", "bad"),
    [
        ("9999-12-01", True),
        ("0001-01-01T00:00:00+14:00", True),
        ("1899-12-31", True),
        ("3000-01-01T00:00:00Z", True),
        ("2024-05-01", False),
        ("2024-05-01T08:00:00+08:00", False),
        ("1900-01-01", False),
        ("9999 is a number", False),
        ("王小明", False),
    ],
)
def test_the_date_range_rule(value, bad):
    assert bad_date(value) is bad


async def test_ordinary_requests_pass(client, world):
    """The guard does not get in the way of valid input (query, JSON, form)."""
    r = await client.get(
        "/api/v1/children", params={"q": "王", "area": COUNTY}, headers=world["officer"].headers
    )
    assert r.status_code == 200
    r = await client.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "nobody", "password": "wrong"},
    )
    assert r.status_code in (400, 401)
