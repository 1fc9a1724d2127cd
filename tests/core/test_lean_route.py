"""core/routing.py's LeanRoute: an endpoint marked `lean` is answered by its direct call when
that call answers, by FastAPI's handler otherwise, and always by FastAPI's handler when the
route runs dependencies besides the endpoint's own (its router's, an inclusion's) or while
dependency overrides are set."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response

from childprotect_api.core.routing import LeanRoute, canonical_uuid, lean


def _app(router_deps: list, include_deps: list, seen: list[str]) -> FastAPI:  # type: ignore[type-arg]
    async def direct(request: Request) -> Response | None:
        if request.query_params:
            return None
        seen.append("lean")
        return Response(b"lean")

    router = APIRouter(route_class=LeanRoute, dependencies=router_deps)

    @router.get("/x")
    @lean(direct)
    async def endpoint() -> Response:
        seen.append("fastapi")
        return Response(b"fastapi")

    app = FastAPI()
    app.include_router(router, dependencies=include_deps)
    return app


async def _get(app: FastAPI, path: str) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        return (await c.get(path)).text


async def test_the_direct_call_answers_what_it_can() -> None:
    seen: list[str] = []
    app = _app([], [], seen)
    assert await _get(app, "/x") == "lean"
    assert await _get(app, "/x?q=1") == "fastapi"
    assert seen == ["lean", "fastapi"]


@pytest.mark.parametrize("where", ["router", "include"])
async def test_not_with_dependencies_besides_the_endpoints(where: str) -> None:
    seen: list[str] = []

    async def guard() -> None:
        seen.append("guard")

    deps = [Depends(guard)]
    app = _app(deps if where == "router" else [], deps if where == "include" else [], seen)
    assert await _get(app, "/x") == "fastapi"
    assert seen == ["guard", "fastapi"]


async def test_not_while_dependencies_are_overridden() -> None:
    seen: list[str] = []
    app = _app([], [], seen)

    async def other() -> None:
        return None

    app.dependency_overrides[other] = other
    assert await _get(app, "/x") == "fastapi"


def test_canonical_uuid() -> None:
    text = "12345678-9abc-def0-1234-56789abcdef0"
    assert str(canonical_uuid(text)) == text
    assert str(canonical_uuid(text.upper())) == text
    for other in ("", "x" * 36, text[:-1], text + "0", text.replace("-", ""), "{" + text + "}"):
        assert canonical_uuid(other) is None
