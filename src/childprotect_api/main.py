"""create_app(): routers, middleware, exception handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from childprotect_api import __version__
from childprotect_api.config import ConfigError, Settings, get_settings
from childprotect_api.db import Database
from childprotect_api.errors import PROBLEM_MEDIA_TYPE, Problem, install_error_handlers
from childprotect_api.jobs import Jobs
from childprotect_api.middleware import RequestContextMiddleware, install_access_log_redaction
from childprotect_api.routers import (
    agreements,
    areas,
    audit,
    auth,
    child_import,
    child_schooling,
    children,
    clients,
    health,
    meta,
    reports,
    users,
    webhooks,
)
from childprotect_api.routers import jobs as job_routes
from childprotect_api.services import clients as client_service
from childprotect_api.services import jobs as job_service

log = logging.getLogger(__name__)

ROUTERS = [
    health.router,
    auth.router,
    areas.router,
    users.router,
    meta.router,
    children.router,
    audit.router,
    clients.router,
    webhooks.router,
    reports.router,
    agreements.child_router,
    agreements.router,
    child_schooling.router,
    child_import.router,
    job_routes.router,
]


def _operation_id(route: APIRoute) -> str:
    # Every route names its operationId explicitly; this only guards against a forgotten one.
    return route.name


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    if database is None and not settings.database_url:
        raise ConfigError(
            "DATABASE_URL is not set: start the service with `childprotect-api serve`"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = database is None
        if owned:
            assert settings.database_url
            app.state.db = Database.create(
                settings.database_url,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
            )
        jobs = Jobs(app.state.db, settings) if settings.jobs_enabled else None
        try:
            yield
        finally:
            if jobs is not None:
                await jobs.stop()
            await job_service.stop_all(app.state)
            if owned:
                await app.state.db.dispose()

    app = FastAPI(
        title="childprotect-api",
        version=__version__,
        summary="Children, visits, agreements and mandatory reports for the rural "
        "minor-protection network.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    app.state.client_grant = client_service.client_grant
    app.state.client_check = client_service.client_check
    if database is not None:
        app.state.db = database
    install_error_handlers(app)
    install_access_log_redaction()
    for router in ROUTERS:
        app.include_router(router)
    _document_common_errors(app)
    _problem_media_type_in_openapi(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_upload_bytes + 65536)
    return app


# Every API route can answer these; each route documents its own others (409, 412, 413...).
_COMMON_ERRORS = {
    401: "Missing, invalid or expired token",
    403: "The caller's role or scopes do not allow this",
    404: "Not found, or outside the caller's area",
    422: "Invalid input; `errors` names the fields",
}


def _document_common_errors(app: FastAPI) -> None:
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith("/api/"):
            continue
        for status, description in _COMMON_ERRORS.items():
            if route.path == "/api/v1/auth/token" and status in (401, 403, 404):
                continue
            entry = route.responses.setdefault(status, {})
            entry.setdefault("model", Problem)
            entry.setdefault("description", description)


def _problem_media_type_in_openapi(app: FastAPI) -> None:
    """Errors are served as application/problem+json; say so in the document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()
            for path in doc.get("paths", {}).values():
                for op in path.values():
                    for status, response in op.get("responses", {}).items():
                        content = response.get("content", {})
                        if status[:1] in "45" and "application/json" in content:
                            content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
                        if status == "422":
                            _validation_is_a_problem(content)
            _drop_unused_validation_schemas(doc)
            _uploads_are_binary(doc)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_PROBLEM_REF = "#/components/schemas/Problem"
_FASTAPI_422_REF = "#/components/schemas/HTTPValidationError"


def _validation_is_a_problem(content: dict[str, Any]) -> None:
    """FastAPI documents its default 422 (HTTPValidationError) on routes that declare none;
    the handler answers a Problem, and generated clients parse what the document says."""
    for media in content.values():
        if media.get("schema", {}).get("$ref") == _FASTAPI_422_REF:
            media["schema"] = {"$ref": _PROBLEM_REF}


def _drop_unused_validation_schemas(doc: dict[str, Any]) -> None:
    import json

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


def app_factory() -> FastAPI:
    """Entry point for uvicorn (`--factory`)."""
    return create_app()
