"""create_app(): routers, middleware, exception handlers."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from childprotect_api import __version__
from childprotect_api.config import ConfigError, Settings, get_settings
from childprotect_api.core import jobs as job_service
from childprotect_api.core.db import Database
from childprotect_api.core.errors import install_error_handlers
from childprotect_api.core.input_guard import InputGuardMiddleware
from childprotect_api.core.locale import LocaleMiddleware
from childprotect_api.core.middleware import RequestContextMiddleware, install_access_log_redaction
from childprotect_api.core.openapi import shape_openapi
from childprotect_api.core.routing import install_method_guard
from childprotect_api.routers import (
    activities,
    agreements,
    areas,
    audit,
    auth,
    benefits,
    care,
    child_import,
    child_schooling,
    children,
    clients,
    health,
    meta,
    metrics,
    registers,
    report_policy,
    reports,
    stats,
    sync,
    users,
    visit_policy,
    visits,
    webhooks,
    worklist,
)
from childprotect_api.routers import jobs as job_routes
from childprotect_api.routers import sync_push as sync_push_routes
from childprotect_api.services.integrations import clients as client_service
from childprotect_api.services.periodic import Jobs

log = logging.getLogger(__name__)

# Matched in this order, and FastAPI tries each route in turn (about 25 us each): the app's
# hottest reads come first. Routers that share a path prefix keep their relative order.
ROUTERS = [
    worklist.router,
    children.router,
    visits.router,
    sync.router,
    health.router,
    auth.router,
    areas.router,
    users.router,
    meta.router,
    audit.router,
    clients.router,
    webhooks.router,
    reports.router,
    reports.my_router,
    sync_push_routes.router,
    report_policy.router,
    agreements.child_router,
    agreements.router,
    child_schooling.router,
    child_import.router,
    job_routes.router,
    visit_policy.router,
    stats.router,
    metrics.router,
    care.pairing_router,
    care.case_router,
    care.alert_router,
    care.duty_router,
    activities.router,
    activities.site_router,
    benefits.child_router,
    benefits.application_router,
    benefits.removal_router,
    benefits.payment_router,
    registers.router,
]


def freeze_startup_heap() -> None:
    """Move everything built at start-up (the routes, the schemas' validators, the models'
    metadata: about 200,000 objects) out of the garbage collector's reach. They live as long
    as the process; without this every full collection walks them all again (50-130 ms
    here, a pause of every request in flight: the slowest one in a hundred). Requests'
    objects are collected as before."""
    gc.collect()
    gc.freeze()


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
                connect_timeout=settings.db_connect_timeout_seconds,
                command_timeout=settings.db_command_timeout_seconds or None,
                request_timeout=settings.db_request_timeout_seconds or None,
                pool_timeout=settings.db_pool_timeout_seconds,
                pre_ping=settings.db_pool_pre_ping,
                transaction_pooling=settings.db_transaction_pooling,
            ).with_replica(settings.database_replica_url)
        jobs = Jobs(app.state.db, settings) if settings.jobs_enabled else None
        freeze_startup_heap()
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
        # One schema per model (not Foo-Input / Foo-Output): generated clients need one name.
        separate_input_output_schemas=False,
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
    shape_openapi(app)
    install_method_guard(app.router)
    # Inside the request context (its request id, its body size limit).
    app.add_middleware(InputGuardMiddleware)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_upload_bytes + 65536)
    # Outermost: the language of every problem, the middlewares' own included.
    app.add_middleware(LocaleMiddleware)
    return app


def app_factory() -> FastAPI:
    """Entry point for uvicorn (`--factory`)."""
    from childprotect_api.core.observability import configure_logging

    settings = get_settings()
    if "CHILDPROTECT_LOG_FORMAT" in os.environ:
        # `serve` sets it for its worker processes (spawned: they inherit no logging set-up);
        # a bare `uvicorn ...:app_factory` keeps uvicorn's own unless it is set.
        configure_logging(settings.log_format)
    return create_app(settings)
