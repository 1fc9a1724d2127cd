"""Every route of the app, with a NUL character and extreme dates in every path parameter,
query parameter and body field (JSON and form), one at a time, as a county officer, an admin
and without a token: nothing answers 5xx (issue #18, "done when")."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from fastapi.routing import APIRoute

from tests.conftest import VILLAGE
from tests.factories import make_child
from tests.visits.visit_factories import PNG

NUL = "x\u0000y"
FAR_FUTURE = "9999-12-31"
FAR_PAST = "0001-01-01T00:00:00+14:00"
BAD_VALUES = (NUL, FAR_FUTURE, FAR_PAST)


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def sample(doc: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    """A plausible value of a JSON schema (every property filled, one item per list)."""
    schema = _resolve(doc, schema)
    if depth > 6:
        return None
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if _resolve(doc, o).get("type") != "null"]
            return sample(doc, options[0], depth + 1) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {
            name: sample(doc, prop, depth + 1)
            for name, prop in schema.get("properties", {}).items()
        }
    if kind == "array":
        return [sample(doc, schema.get("items", {}), depth + 1)]
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    fmt = schema.get("format")
    if fmt == "uuid":
        return str(uuid.uuid4())
    if fmt == "date":
        return "2024-05-01"
    if fmt == "date-time":
        return "2024-05-01T08:00:00+08:00"
    if ("pattern" in schema and "\\d{2,12}" in schema["pattern"]) or "d{12}" in schema.get(
        "pattern", ""
    ):
        return VILLAGE
    return "x"


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every field of a sample (scalars, and the containers themselves)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*path, k)
            yield from leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*path, i)
            yield from leaves(v, (*path, i))


def with_value(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(body)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


KNOWN: dict[str, str] = {}  # path parameter -> an id that exists (the seeded child)


def path_value(param: dict[str, Any], doc: dict[str, Any]) -> str:
    if param["name"] in KNOWN:
        return KNOWN[param["name"]]
    schema = _resolve(doc, param.get("schema", {}))
    value = sample(doc, schema)
    return str(value)


def requests_of(doc: dict[str, Any], path: str, method: str, op: dict[str, Any]):
    """(path, params, json, form) to send: each parameter and field bad in turn."""
    params = [_resolve(doc, p) for p in op.get("parameters", [])]
    path_params = {p["name"]: path_value(p, doc) for p in params if p["in"] == "path"}
    base_path = path.format(**path_params)
    for p in params:
        for bad in BAD_VALUES:
            if p["in"] == "path":
                yield path.format(**{**path_params, p["name"]: quote(bad, safe="")}), {}, None, None
            elif p["in"] == "query":
                yield base_path, {p["name"]: bad}, None, None
    content = _resolve(doc, op.get("requestBody", {})).get("content", {})
    if "application/json" in content:
        body = sample(doc, content["application/json"]["schema"])
        for where in leaves(body):
            for bad in BAD_VALUES:
                yield base_path, {}, with_value(body, where, bad), None
        if isinstance(body, dict):
            yield base_path, {}, {**body, "x\u0000": 1}, None
    if "multipart/form-data" in content:
        schema = _resolve(doc, content["multipart/form-data"]["schema"])
        props = schema.get("properties", {})
        files = [n for n, p in props.items() if _resolve(doc, p).get("format") == "binary"]
        fields = {n: str(sample(doc, p)) for n, p in props.items() if n not in files}
        for bad in BAD_VALUES:
            # A file named badly, and each other field bad in turn.
            upload = {n: (f"{bad}.png", PNG, "image/png") for n in files}
            yield base_path, {}, None, ("multipart", upload, fields)
            for name in fields:
                yield base_path, {}, None, ("multipart", upload, {**fields, name: bad})
    if "application/x-www-form-urlencoded" in content:
        form = sample(doc, content["application/x-www-form-urlencoded"]["schema"])
        for name in form:
            for bad in BAD_VALUES:
                yield base_path, {}, None, {k: str(v) for k, v in {**form, name: bad}.items()}


async def test_every_route_survives_nul_and_extreme_dates(app, client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    KNOWN["child_id"] = str(child.id)
    doc = app.openapi()
    # The document holds every route of the app.
    routes = {
        (r.path, m.lower())
        for r in app.routes
        if isinstance(r, APIRoute) and r.include_in_schema
        for m in r.methods
    }
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert routes <= documented
    callers = {
        "officer": world["officer"].headers,
        "admin": world["admin"].headers,
        "anonymous": {},
    }
    failures: list[str] = []
    sent = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for url, params, body, form in requests_of(doc, path, method, op):
                files = None
                if isinstance(form, tuple):
                    _, files, form = form
                for who, headers in callers.items():
                    r = await client.request(
                        method.upper(),
                        url,
                        params=params,
                        json=body,
                        data=form,
                        files=files,
                        headers={**headers, "If-Match": '"1"'},
                    )
                    sent += 1
                    if r.status_code >= 500:
                        failures.append(
                            f"{method.upper()} {url} {params} as {who}: {r.status_code}"
                        )
    assert sent > 1000
    assert failures == [], "\n".join(failures[:50])
