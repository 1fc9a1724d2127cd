"""GET /metrics: Prometheus text format, off the public API.

It answers only when CHILDPROTECT_METRICS_TOKEN is set and the request carries it as a bearer
token (compared in constant time); otherwise 404, as for a path that does not exist. It is not
in the OpenAPI document. Users' tokens do not open it: it is for the monitoring system."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from childprotect_api.core.errors import NotFound
from childprotect_api.services.operations import metrics_text

router = APIRouter(include_in_schema=False)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    expected: str | None = request.app.state.settings.metrics_token
    given = request.headers.get("authorization", "")
    if not expected or not hmac.compare_digest(
        given.encode("utf-8", "replace"), f"Bearer {expected}".encode()
    ):
        raise NotFound("not found")
    return PlainTextResponse(await metrics_text(request.app.state.db), media_type=CONTENT_TYPE)
