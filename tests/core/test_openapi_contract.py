"""The OpenAPI document as generated clients read it (DESIGN.md "API conventions"): walked
schema by schema and operation by operation. Unions are oneOf with a discriminator on a
required property, names are real names, every figure and money field has one type,
downloads are binary, both OAuth2 flows and each operation's scopes are declared, ETag and
If-Match are declared; and the token endpoint's errors carry RFC 6749's `error`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from childprotect_api.cli import openapi_document
from childprotect_api.core.openapi_contract import (
    CLIENT_OPERATION_SCOPES,
    CLIENT_SCHEME,
    PASSWORD_SCHEME,
)
from childprotect_api.schemas.sync import SyncRecordType
from childprotect_api.schemas.sync_push import PushEntity, PushOp
from childprotect_api.security.scope import CLIENT_SCOPES
from tests.conftest import COUNTY
from tests.integrations.client_helpers import seed_client

TOKEN = "/api/v1/auth/token"
# Names openapi-generator renames (ModelX) in one of kotlin, dart, typescript-fetch, and
# names that betray a generated or inline schema.
RESERVED = {
    "Record", "New", "Object", "List", "Map", "Set", "String", "Integer", "Number", "Boolean",
    "Date", "DateTime", "File", "Error", "Type", "Enum", "Function", "Array", "Any", "Unit",
    "Nothing", "Result", "Response", "Request", "Value", "Values", "Active", "Due", "Rate",
    "Reporter",
}  # fmt: skip
GENERATED = re.compile(r"^(Body_|Page_)|_$|Inner$|-Input$|-Output$")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document()


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def _walk(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}/{i}")


def _schema(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    return dict(doc["components"]["schemas"][ref.rsplit("/", 1)[-1]])


def _union(doc: dict[str, Any], name: str) -> dict[str, Any]:
    union = _schema(doc, name)
    assert "oneOf" in union and "anyOf" not in union, name
    prop = union["discriminator"]["propertyName"]
    mapping = union["discriminator"]["mapping"]
    assert {m["$ref"] for m in union["oneOf"]} == set(mapping.values()), name
    for value, ref in mapping.items():
        member = _schema(doc, ref)
        assert prop in member["required"], (name, ref)
        assert member["properties"][prop].get("const") == value, (name, ref)
    return dict(mapping)


def test_sync_feed_items_are_a_discriminated_union(doc):
    page = doc["components"]["schemas"]["SyncChangesPage"]
    assert page["properties"]["items"]["items"] == {"$ref": "#/components/schemas/SyncItem"}
    mapping = _union(doc, "SyncItem")
    # Every record type the feed carries, upserts and tombstones distinct.
    assert set(mapping) == {t.value for t in SyncRecordType} | {"tombstone"}
    tombstone = _schema(doc, mapping["tombstone"])
    assert {"type", "id", "reason", "op"} <= set(tombstone["required"])
    for value, ref in mapping.items():
        if value != "tombstone":
            upsert = _schema(doc, ref)
            assert upsert["properties"]["data"]["$ref"].endswith("Read"), value
            assert {"id", "op", "type", "version", "data"} <= set(upsert["required"])


def test_push_operations_and_results_are_discriminated_unions(doc):
    ops = _union(doc, "SyncPushOperation")
    assert set(ops) == {op.value for op in PushOp}
    for value, ref in ops.items():
        data = _schema(doc, ref)["properties"]["data"]
        assert "$ref" in data, value  # typed, not a free object
    results = _union(doc, "SyncPushResult")
    assert set(results) == {e.value for e in PushEntity}
    for value, ref in results.items():
        record = _schema(doc, ref)["properties"]["record"]
        refs = [m.get("$ref") for m in record["anyOf"] if m.get("type") != "null"]
        assert len(refs) == 1 and refs[0].endswith("Read"), value


def test_no_union_without_a_discriminator(doc):
    """An object union (oneOf/anyOf of two schemas that are not null) is discriminated."""
    for where, node in _walk(doc["components"]["schemas"], "schemas"):
        for key in ("oneOf", "anyOf"):
            members = [m for m in node.get(key, []) if m.get("type") != "null"]
            if len(members) > 1:
                assert "discriminator" in node, where


def test_names_are_domain_names(doc):
    names = set(doc["components"]["schemas"])
    assert not names & RESERVED
    assert [n for n in names if GENERATED.search(n)] == []
    # Inline schemas carry no title a generator would name a model after.
    for name, schema in doc["components"]["schemas"].items():
        for where, node in _walk(schema.get("properties", {}), name):
            assert "title" not in node or not isinstance(node["title"], str), where


def test_figures_and_money_have_one_type(doc):
    schemas = doc["components"]["schemas"]
    for name in ("CountFigure", "RatioFigure", "AmountFigure", "MetricFigure"):
        assert set(schemas[name]["required"]) == {"value", "suppressed"}, name
    amount = schemas["AmountFigure"]["properties"]["value"]["anyOf"][0]
    assert amount["type"] == "string" and amount["pattern"]
    for where, node in _walk(schemas, "schemas"):
        types = {m.get("type") for m in node.get("anyOf", [])} - {"null"}
        assert not ({"string"} < types or ({"number", "string"} <= types)), where
    for name in ("SubsidyGrant", "SubsidyGrantRead", "SubsidyRead", "Subsidy"):
        money = schemas[name]["properties"]["monthly_amount"]
        kinds = [money, *money.get("anyOf", [])]
        assert any(k.get("type") == "string" and "pattern" in k for k in kinds), name
        assert not any(k.get("type") == "number" for k in kinds), name


def test_downloads_are_binary(doc):
    downloads = 0
    for path, _method, op in _operations(doc):
        for status, response in op["responses"].items():
            for media, content in response.get("content", {}).items():
                if status.startswith("2") and "json" not in media:
                    downloads += 1
                    assert content["schema"] == {"type": "string", "format": "binary"}, path
    assert downloads >= 9  # three attachments x three types, and the exports


def test_oauth2_flows_and_scopes_are_declared(doc):
    schemes = doc["components"]["securitySchemes"]
    assert "password" in schemes[PASSWORD_SCHEME]["flows"]
    client_scopes = schemes[CLIENT_SCHEME]["flows"]["clientCredentials"]["scopes"]
    assert set(client_scopes) == set(CLIENT_SCOPES.values())
    ops = {op["operationId"]: (path, op) for path, _, op in _operations(doc)}
    assert set(CLIENT_OPERATION_SCOPES) <= set(ops)
    for op_id, (path, op) in ops.items():
        # Written, not the generated summary ("Get Site.").
        assert op.get("description") and op["description"] != f"{op.get('summary')}.", op_id
        if not path.startswith("/api/") or path.startswith("/api/v1/auth/token"):
            continue
        if op_id in CLIENT_OPERATION_SCOPES:
            assert {CLIENT_SCHEME: [CLIENT_OPERATION_SCOPES[op_id]]} in op["security"], op_id
        assert op.get("security") and {PASSWORD_SCHEME: []} in op["security"], op_id
        assert all(set(s) <= {PASSWORD_SCHEME, CLIENT_SCHEME} for s in op["security"]), op_id


def test_tags_servers_and_enums(doc):
    used = {t for _, _, op in _operations(doc) for t in op.get("tags", [])}
    declared = {t["name"]: t.get("description") for t in doc["tags"]}
    assert used <= set(declared) and all(declared.values())
    assert doc["servers"]
    me = doc["components"]["schemas"]["Me"]["properties"]
    assert me["role"]["$ref"].endswith("PrincipalRole")
    assert me["kind"]["$ref"].endswith("PrincipalKind")
    assert me["scopes"]["items"]["$ref"].endswith("ClientScope")


def test_etag_and_if_match_are_declared(doc):
    params = doc["components"]["parameters"]
    assert params["IfMatchRequired"]["required"] is True
    guarded = 0
    for path, _, op in _operations(doc):
        spelled = [p for p in op.get("parameters", []) if p.get("name", "").lower() == "if-match"]
        assert spelled == [], (path, "If-Match is declared once, in components")
        refs = {p.get("$ref", "").rsplit("/", 1)[-1] for p in op.get("parameters", [])}
        if "428" in op["responses"] and op["operationId"] not in CLIENT_OPERATION_SCOPES:
            assert "IfMatchRequired" in refs, op["operationId"]
        if refs & {"IfMatch", "IfMatchRequired"}:
            guarded += 1
    assert guarded >= 20
    for op_id in ("getChild", "updateChild", "getVisit", "getAgreement", "updateAgreement"):
        op = next(o for _, _, o in _operations(doc) if o["operationId"] == op_id)
        ok = next(r for s, r in op["responses"].items() if s.startswith("2"))
        assert ok["headers"]["ETag"] == {"$ref": "#/components/headers/ETag"}, op_id


async def test_token_errors_carry_rfc6749_error(client):
    cases = [
        ({"grant_type": "password", "username": "nobody", "password": "wrong"}, "invalid_grant"),
        ({"grant_type": "password"}, "invalid_grant"),
        ({"grant_type": "magic"}, "unsupported_grant_type"),
        (
            {"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
            "invalid_client",
        ),
    ]
    for form, error in cases:
        r = await client.post(TOKEN, data=form)
        assert r.status_code in (400, 401), r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["error"] == error and body["error_description"], body
        assert body["code"] and body["title"] and body["status"] == r.status_code


def test_retry_after_and_location_are_declared(doc):
    retry = {"$ref": "#/components/headers/Retry-After"}
    for path, _, op in _operations(doc):
        for status in ("429", "503"):
            if status in op["responses"]:
                assert op["responses"][status]["headers"]["Retry-After"] == retry, path
    started = doc["paths"]["/api/v1/children/import"]["post"]["responses"]["202"]
    assert started["headers"]["Location"] == {"$ref": "#/components/headers/Location"}


# Operations a client can call with no path parameter or body: the declared scope is the one
# Scope.require asks for (another scope answers 403 `missing_scope`).
_PLAIN_CALLS = {
    "listChildren": "/api/v1/children",
    "listAreas": "/api/v1/areas",
    "listMyReports": "/api/v1/reports/mine",
    "getStatsSummary": "/api/v1/stats/summary",
}


async def test_declared_client_scopes_are_the_ones_required(client, world, session, settings):
    for op_id, path in _PLAIN_CALLS.items():
        needed = CLIENT_OPERATION_SCOPES[op_id]
        other = "stats:read" if needed != "stats:read" else "children:read"
        holder = await seed_client(session, settings, scopes={needed}, area=COUNTY, name=op_id)
        lacking = await seed_client(session, settings, scopes={other}, area=COUNTY, name=other)
        r = await client.get(path, headers=holder.headers)
        assert r.status_code == 200, (op_id, r.text)
        r = await client.get(path, headers=lacking.headers)
        assert r.status_code == 403 and r.json()["code"] == "missing_scope", (op_id, r.text)
