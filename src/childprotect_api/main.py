"""create_app(): routers, middleware, exception handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from childprotect_api import __version__
from childprotect_api.config import ConfigError, Settings, get_settings
from childprotect_api.db import Database
from childprotect_api.errors import install_error_handlers
from childprotect_api.middleware import RequestContextMiddleware
from childprotect_api.routers import areas, auth, health, users, visit_policy, visits, worklist

log = logging.getLogger(__name__)

ROUTERS = [
    health.router,
    auth.router,
    areas.router,
    users.router,
    visit_policy.router,
    visits.router,
    worklist.router,
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
        try:
            yield
        finally:
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
    app.state.client_grant = None
    app.state.client_check = None
    if database is not None:
        app.state.db = database
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_upload_bytes + 65536)
    return app


def app_factory() -> FastAPI:
    """Entry point for uvicorn (`--factory`)."""
    return create_app()
