""".ci/check_generated.py (the CI step that generates kotlin, dart and typescript-fetch
clients with openapi-generator) fails on a tiny spec with a reserved-word model, an inline
schema and a scalar union flattened into an empty class, and passes a tiny spec written as
DESIGN.md asks (a oneOf with a discriminator, one type per figure, a binary download, an
intentional empty object). Skipped where java or openapi-generator-cli is missing."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_generated", ROOT / ".ci" / "check_generated.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_generated"] = module
    spec.loader.exec_module(module)
    return module


check_generated = _module()


def _need_generator() -> None:
    if shutil.which("java") is None:
        pytest.skip("java is not installed (openapi-generator needs Java 17)")
    try:
        check_generated.generator_command()
    except FileNotFoundError:
        pytest.skip("openapi-generator-cli is not installed (.ci/clients installs it)")


def _spec(schemas: dict, paths: dict) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "tiny", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _get(operation: str, schema: str) -> dict:
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return {
        "get": {
            "operationId": operation,
            "responses": {"200": {"description": "ok", "content": content}},
        }
    }


BAD = _spec(
    {
        "ChangesPage": {
            "type": "object",
            "required": ["items"],
            "properties": {
                # An array of an inline object: the generator names it ChangesPageItemsInner.
                "items": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"id": {"type": "string"}}},
                },
                # "integer or a string": an empty class named after the field's title.
                "active": {
                    "title": "Active",
                    "anyOf": [{"type": "integer"}, {"type": "string", "enum": ["<5"]}],
                },
                "record": {"$ref": "#/components/schemas/Record"},
            },
        },
        # Record is TypeScript's: typescript-fetch renames it ModelRecord.
        "Record": {"type": "object", "properties": {"id": {"type": "string"}}},
    },
    {"/changes": _get("listChanges", "ChangesPage")},
)

GOOD = _spec(
    {
        "ChangesPage": {
            "type": "object",
            "required": ["items"],
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/SyncItem"}}
            },
        },
        "SyncItem": {
            "oneOf": [
                {"$ref": "#/components/schemas/ChildChange"},
                {"$ref": "#/components/schemas/Tombstone"},
            ],
            "discriminator": {
                "propertyName": "kind",
                "mapping": {
                    "child": "#/components/schemas/ChildChange",
                    "tombstone": "#/components/schemas/Tombstone",
                },
            },
        },
        "ChildChange": {
            "type": "object",
            "required": ["kind", "id", "data"],
            "properties": {
                "kind": {"type": "string", "enum": ["child"]},
                "id": {"type": "string", "format": "uuid"},
                "data": {"$ref": "#/components/schemas/Child"},
            },
        },
        "Tombstone": {
            "type": "object",
            "required": ["kind", "id"],
            "properties": {
                "kind": {"type": "string", "enum": ["tombstone"]},
                "id": {"type": "string", "format": "uuid"},
            },
        },
        "Child": {
            "type": "object",
            "required": ["id", "children"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "children": {"$ref": "#/components/schemas/Figure"},
                "monthly_amount": {"type": "string", "pattern": r"^\d+\.\d{2}$"},
            },
        },
        "Figure": {
            "type": "object",
            "required": ["value"],
            "properties": {
                "value": {"type": ["integer", "null"]},
                "suppressed": {"type": ["string", "null"], "enum": ["lt5", "derived", None]},
            },
        },
        "Nothing": {"type": "object", "properties": {}, "additionalProperties": False},
    },
    {
        "/changes": _get("listChanges", "ChangesPage"),
        "/files/{id}": {
            "get": {
                "operationId": "downloadFile",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {
                        "description": "the file",
                        "content": {
                            "application/pdf": {"schema": {"type": "string", "format": "binary"}}
                        },
                    }
                },
            }
        },
        "/nothing": _get("getNothing", "Nothing"),
    },
)


def _check(tmp_path: Path, spec: dict) -> object:
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(spec))
    return check_generated.check(path, tmp_path / "out")


def test_a_bad_spec_fails(tmp_path):
    _need_generator()
    report = _check(tmp_path, BAD)
    assert not report.ok
    assert report.names("rename") == {"ModelRecord"}
    assert report.names("inline") == {"Active", "ChangesPageItemsInner"}
    assert report.names("empty") == {"Active"}
    assert report.found[next(f for f in report.found if f.kind == "empty")] == {
        "kotlin",
        "dart",
        "typescript-fetch",
    }


def test_a_spec_as_designed_passes(tmp_path):
    _need_generator()
    report = _check(tmp_path, GOOD)
    assert report.ok, report.lines()


def test_the_summary_names_each_defect_and_its_generators():
    report = check_generated.Report()
    report.add(check_generated.Finding("inline", "Items_inner"), "kotlin")
    report.add(check_generated.Finding("inline", "ItemsInner", "other source"), "dart")
    report.add(check_generated.Finding("empty", "Active"), "dart")
    assert report.lines() == ["inline  Items_inner  [dart, kotlin]", "empty   Active  [dart]"]
