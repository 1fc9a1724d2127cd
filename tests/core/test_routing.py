"""Routing as a generated client meets it (issue #19): every path answers an unsupported
method with 405 and an `Allow` listing exactly the methods it serves; a literal path is never
taken by a parameter sibling; no two templates match one path; date-time filters take ISO
8601 with an offset only."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.routing import iter_route_contexts

from tests.conftest import VILLAGE

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _templates(app) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    served: dict[str, set[str]] = {}
    for route in iter_route_contexts(app.routes):
        if route.path and route.methods:
            served.setdefault(route.path, set()).update(route.methods)
    return served


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.UUID(int=7)), template)


async def test_every_path_answers_405_with_exactly_its_methods(app, client):
    served = _templates(app)
    assert len(served) > 90
    checked = 0
    for template, methods in served.items():
        for path in {template, _concrete(template)}:  # the literal text too: `/children/{id}`
            for method in METHODS:
                if method in methods:
                    continue
                r = await client.request(method, path)
                assert r.status_code == 405, (method, path, r.status_code, r.text)
                allow = {m.strip() for m in r.headers["allow"].split(",")}
                assert allow == methods, (method, path, allow, methods)
                if method != "HEAD":
                    assert r.headers["content-type"].startswith("application/problem+json")
                    assert r.json()["code"] == "method_not_allowed"
                checked += 1
    assert checked > 500


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/api/v1/children/00000000-0000-0000-0000-000000000007", {"GET", "PATCH"}),
        ("PUT", "/api/v1/children/00000000-0000-0000-0000-000000000007", {"GET", "PATCH"}),
        ("PATCH", "/api/v1/children/lookup", {"POST"}),
        ("PATCH", "/api/v1/children/import", {"POST"}),
        ("PATCH", "/api/v1/agreements/gaps", {"GET"}),
        ("DELETE", "/api/v1/my-reports", {"GET"}),
    ],
)
async def test_the_paths_of_the_issue(client, method, path, allow):
    r = await client.request(method, path)
    assert r.status_code == 405, r.text
    assert {m.strip() for m in r.headers["allow"].split(",")} >= allow


def test_no_two_templates_match_one_path(app):
    """Redocly's no-ambiguous-paths: a parameter segment against a literal one at the same
    place, with the rest of both paths alike, is ambiguous (`/reports/mine/{id}` against
    `/reports/{id}/timeline`)."""
    doc = app.openapi()
    paths = [p.split("/") for p in doc["paths"]]

    def clash(a: list[str], b: list[str]) -> bool:
        if len(a) != len(b) or a == b:
            return False
        mixed = False
        for x, y in zip(a, b, strict=True):
            px, py = x.startswith("{"), y.startswith("{")
            if px and py:
                continue
            if px != py:
                mixed = True
                continue
            if x != y:
                return False
        # Ambiguous when each side has a literal where the other has a parameter.
        lits_a = any(not x.startswith("{") and y.startswith("{") for x, y in zip(a, b, strict=True))
        lits_b = any(not y.startswith("{") and x.startswith("{") for x, y in zip(a, b, strict=True))
        return mixed and lits_a and lits_b

    bad = ["/".join(a) + " ~ " + "/".join(b) for a in paths for b in paths if clash(a, b)]
    assert bad == []


async def test_my_reports_moved_and_the_old_path_still_answers(client, world):
    director = world["director"]
    body = {
        "situation": "abandoned_or_no_care",
        "description": "孩子独自在家多日",
        "occurred_at": "2026-01-01T08:00:00+08:00",
        "area_code": VILLAGE,
        "reporter_sector": "village_committee",
        "child_description": {"gender": "male", "approximate_age": 10},
    }
    r = await client.post("/api/v1/reports", json=body, headers=director.headers)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    new = await client.get(f"/api/v1/my-reports/{rid}", headers=director.headers)
    assert new.status_code == 200, new.text
    old = await client.get(f"/api/v1/reports/mine/{rid}", headers=director.headers)
    assert old.status_code == 200 and old.json() == new.json()
    assert old.headers["deprecation"] == "true"
    listed = await client.get("/api/v1/my-reports", headers=director.headers)
    assert [i["id"] for i in listed.json()["items"]] == [rid]
    other = await client.get(f"/api/v1/my-reports/{rid}", headers=world["officer"].headers)
    assert other.status_code == 404


def _datetime_filters(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    found = []
    for path, item in app.openapi()["paths"].items():
        for op in item.values():
            for p in op.get("parameters", []):
                schema = p.get("schema", {})
                options = schema.get("anyOf", [schema])
                if p.get("in") == "query" and any(o.get("format") == "date-time" for o in options):
                    found.append((path, p["name"]))
    return found


@pytest.mark.parametrize("value", ["0.5", "1700000000", "2026-01-01T00:00:00", "2026-01-01"])
async def test_date_time_filters_refuse_numbers_and_missing_offsets(app, client, world, value):
    filters = _datetime_filters(app)
    assert {("/api/v1/reports", "since"), ("/api/v1/children", "updated_since")} <= set(filters)
    for path, name in filters:
        r = await client.get(path, params={name: value}, headers=world["admin"].headers)
        assert r.status_code == 422, (path, name, r.text)
        assert name in [e["field"] for e in r.json()["errors"]], r.text


async def test_date_time_filters_take_an_offset(app, client, world):
    for path, name in _datetime_filters(app):
        for value in ("2026-01-01T08:00:00+08:00", "2026-01-01T00:00:00Z"):
            for role in ("officer", "admin"):
                r = await client.get(path, params={name: value}, headers=world[role].headers)
                if r.status_code != 403:
                    break
            assert r.status_code == 200, (path, name, r.text)
