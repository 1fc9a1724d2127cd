"""The OpenAPI document as clients need it: every error documented as the
application/problem+json Problem it really is, the errors every API route can answer listed on
each, and file uploads marked binary for generators."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from childprotect_api.core.errors import PROBLEM_MEDIA_TYPE
from childprotect_api.core.openapi_contract import shape_contract

IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_PARAM = "IdempotencyKey"

_PROBLEM_REF = "#/components/schemas/Problem"
_FASTAPI_422_REF = "#/components/schemas/HTTPValidationError"

# Every API route can answer these; each route documents its own others (409, 412, 413...).
_COMMON_ERRORS = {
    "401": "Missing, invalid or expired token",
    "403": "The caller's role or scopes do not allow this",
    "404": "Not found, or outside the caller's area",
    "422": "Invalid input; `errors` names the fields",
    "503": "The database is unavailable (code `database_unavailable`): retry after the "
    "`Retry-After` seconds",
}
_BODY_ERROR = ("400", "The body could not be parsed (malformed JSON, form or multipart)")


def shape_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()
            for path, ops in doc.get("paths", {}).items():
                for op in ops.values():
                    if path.startswith("/api/"):
                        _add_common_errors(path, op)
                        _idempotency_errors(op)
                    _errors_are_problems(op)
            _idempotency_key_once(doc)
            _drop_unused_validation_schemas(doc)
            _uploads_are_binary(doc)
            _constants_are_required(doc)
            shape_contract(app, doc)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_common_errors(path: str, op: dict[str, Any]) -> None:
    errors = dict(_COMMON_ERRORS)
    if "requestBody" in op:
        errors[_BODY_ERROR[0]] = _BODY_ERROR[1]
    if path == "/api/v1/auth/token":  # OAuth2 answers its own errors (400/401)
        for status in ("401", "403", "404"):
            errors.pop(status)
    responses = op.setdefault("responses", {})
    for status, description in errors.items():
        responses.setdefault(
            status,
            {
                "description": description,
                "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}},
            },
        )


def _idempotency_errors(op: dict[str, Any]) -> None:
    """Operations taking an Idempotency-Key can answer 409 while the first request with the
    key is running."""
    if not any(p.get("name") == IDEMPOTENCY_HEADER for p in op.get("parameters", [])):
        return
    responses = op.setdefault("responses", {})
    conflict = responses.setdefault(
        "409",
        {
            "description": "Conflict",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}},
        },
    )
    conflict["description"] = (
        f"{conflict.get('description') or 'Conflict'}; or `idempotency_in_progress`: a request "
        "with this Idempotency-Key is still running (retry after Retry-After)"
    )


def _idempotency_key_once(doc: dict[str, Any]) -> None:
    """The Idempotency-Key header is described once, in components.parameters, and referred
    to by every operation that takes it."""
    shared: dict[str, Any] | None = None
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            params = op.get("parameters", [])
            for i, param in enumerate(params):
                if param.get("name") == IDEMPOTENCY_HEADER and param.get("in") == "header":
                    shared = shared or param
                    params[i] = {"$ref": f"#/components/parameters/{_IDEMPOTENCY_PARAM}"}
    if shared is not None:
        doc.setdefault("components", {}).setdefault("parameters", {})[_IDEMPOTENCY_PARAM] = shared


def _errors_are_problems(op: dict[str, Any]) -> None:
    """Errors are served as application/problem+json; FastAPI's default 422 shape
    (HTTPValidationError) is never served: the handler answers a Problem."""
    for status, response in op.get("responses", {}).items():
        content = response.get("content", {})
        if status[:1] in "45" and "application/json" in content:
            content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
        for media in content.values():
            if media.get("schema", {}).get("$ref") == _FASTAPI_422_REF:
                media["schema"] = {"$ref": _PROBLEM_REF}


def _drop_unused_validation_schemas(doc: dict[str, Any]) -> None:
    schemas = doc.get("components", {}).get("schemas", {})
    if _FASTAPI_422_REF not in json.dumps(doc.get("paths", {})):
        schemas.pop("HTTPValidationError", None)
        if '"#/components/schemas/ValidationError"' not in json.dumps(doc):
            schemas.pop("ValidationError", None)


def _uploads_are_binary(doc: dict[str, Any]) -> None:
    """File fields of multipart bodies: OpenAPI 3.1 says `contentMediaType`; generators
    (openapi-python-client among them) still look for `format: binary` to send a file."""
    for schema in doc.get("components", {}).get("schemas", {}).values():
        for prop in schema.get("properties", {}).values():
            if prop.get("type") == "string" and "contentMediaType" in prop:
                prop.setdefault("format", "binary")


def _constants_are_required(doc: dict[str, Any]) -> None:
    """A property with one possible value (`kind`, `op`, `type` of a union's member) is always
    sent: declared required, as a generated client needs a union's discriminator to be."""
    for schema in doc.get("components", {}).get("schemas", {}).values():
        constants = [n for n, p in schema.get("properties", {}).items() if "const" in p]
        for name in constants:
            schema["properties"][name].pop("default", None)
            if name not in schema.setdefault("required", []):
                schema["required"].append(name)
