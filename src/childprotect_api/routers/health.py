from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from childprotect_api.core.errors import DatabaseUnavailable, Problem
from childprotect_api.core.locale import localize_body
from childprotect_api.services.health import readiness

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str | None = None
    migration: str | None = None


@router.get("/healthz", operation_id="getHealth", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="getReadiness",
    response_model=Health,
    responses={503: {"model": Problem, "description": "Database down or not migrated"}},
)
async def readyz(request: Request) -> Health | JSONResponse:
    """The database answers and its schema is at the migrations' head."""
    ok, db_state, revision = await readiness(request.app.state.db)
    if not ok:
        return JSONResponse(
            localize_body(
                {
                    "type": "about:blank",
                    "title": "Not ready",
                    "status": 503,
                    "detail": db_state,
                    "code": "not_ready",
                    "errors": [],
                }
            ),
            status_code=503,
            headers={"Retry-After": str(DatabaseUnavailable.retry_after_seconds)},
            media_type="application/problem+json",
        )
    return Health(status="ok", database=db_state, migration=revision)
