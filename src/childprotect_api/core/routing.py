"""405 with the right `Allow`, decided per path template, not per route.

Starlette matches routes one by one: a method not served by the first route of a path answers
405 with that route's methods only (`OPTIONS /children/{id}` said `Allow: GET` though PATCH
exists), and a parameter route takes a literal sibling's unsupported method
(`PATCH /children/lookup` reached `PATCH /children/{child_id}` and answered 422 "child_id
must be a UUID"). Here the path is matched against every template first: the most specific
one that matches (fewest parameters, then the latest first parameter) owns the path, and a
method it does not serve answers 405 listing exactly the methods it does.

Cheap on the hot path: templates are bucketed by their first literal segments, and the work is
a handful of regular expressions per request."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import fastapi.routing
from fastapi import Request, Response
from fastapi.routing import APIRoute, iter_route_contexts
from starlette._utils import get_route_path
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

_KEY_SEGMENTS = 3  # "", "api", "v1" / "" "healthz": enough to split the app into small buckets


@dataclass
class _Template:
    path: str
    regex: re.Pattern[str]
    methods: set[str] = field(default_factory=set)

    @property
    def rank(self) -> tuple[int, int]:
        params = self.path.count("{")
        first = self.path.find("{")
        return params, -(first if first >= 0 else len(self.path))


def _key(path: str, last: str | None = None) -> tuple[str, ...]:
    """The first literal segments, the number of segments (a parameter takes one) and the last
    segment (`{}` for a template ending in a parameter)."""
    parts = path.split("/")
    end = parts[-1] if last is None else last
    return (*parts[: _KEY_SEGMENTS + 1], str(len(parts)), "{}" if "{" in end else end)


class MethodGuard:
    """Wraps the router: answers 405 (through the app's HTTP error handler) when the path's
    own template does not serve the method."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        templates: dict[str, _Template] = {}
        for route in iter_route_contexts(routes):  # through the included routers
            path, methods = route.path, route.methods
            if path is None or not methods:
                continue
            t = templates.setdefault(path, _Template(path, route.path_regex))
            t.methods |= methods
        self._literal: dict[str, _Template] = {}
        self._buckets: dict[tuple[str, ...], list[_Template]] = defaultdict(list)
        self._wild: list[_Template] = []  # a parameter inside the key segments
        for t in sorted(templates.values(), key=lambda t: t.rank):
            if "{" not in t.path:
                self._literal[t.path] = t
            elif ":path}" in t.path or any("{" in part for part in _key(t.path)[:-1]):
                self._wild.append(t)
            else:
                self._buckets[_key(t.path)].append(t)

    def owner(self, path: str) -> _Template | None:
        """The most specific template matching `path`."""
        literal = self._literal.get(path)
        if literal is not None:
            return literal
        for key in (_key(path), _key(path, "{}")):  # a literal last segment, then any
            for t in self._buckets.get(key, ()):
                if t.regex.match(path):
                    return t
        for t in self._wild:
            if t.regex.match(path):
                return t
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            owner = self.owner(get_route_path(scope))
            if owner is not None and scope["method"] not in owner.methods:
                raise HTTPException(
                    405, "Method Not Allowed", headers={"Allow": allow_header(owner.methods)}
                )
        await self.app(scope, receive, send)


_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allow_header(methods: set[str]) -> str:
    return ", ".join(sorted(methods, key=lambda m: (_ORDER.index(m) if m in _ORDER else 99, m)))


def install_method_guard(router: object) -> None:
    """Put the guard in front of a Starlette router's routes (after all are included)."""
    from starlette.routing import Router

    assert isinstance(router, Router)
    router.middleware_stack = MethodGuard(router.middleware_stack, router.routes)


# --- a direct call for an endpoint's plain requests (issue #23) ------------------------------
#
# FastAPI's request handler (solving the dependencies: the token, the path and query
# parameters, each validated by pydantic; its exit stacks and telemetry) costs more than a
# hot read's own work. An endpoint marked with `lean(call)` has `call(request)` tried first:
# it answers the request whose parameters it can take at a glance (calling the endpoint
# itself), or None, and FastAPI's handler answers it instead (a query string, a malformed
# parameter: the same 422s, the same documented operation). The dependencies `call` stands in
# for must be called as FastAPI would (the same functions, the same exceptions).

LEAN_ATTRIBUTE = "__childprotect_lean__"
LeanCall = Callable[[Request], Awaitable[Response | None]]
E = TypeVar("E", bound=Callable[..., Any])


def lean(call: LeanCall) -> Callable[[E], E]:
    """Mark an endpoint with its direct call (see above); the route must be a LeanRoute."""

    def mark(endpoint: E) -> E:
        setattr(endpoint, LEAN_ATTRIBUTE, call)
        return endpoint

    return mark


def _more_dependencies(route: APIRoute) -> bool:
    """Whether the route runs dependencies besides its endpoint's own (its router's, or those
    of an include_router: FastAPI builds a handler per inclusion, with its context set)."""
    context_var = getattr(fastapi.routing, "_effective_route_context_var", None)
    context = context_var.get() if context_var is not None else None
    if context is not None and getattr(context, "original_route", None) is route:
        return bool(getattr(context, "dependencies", True))
    return bool(route.dependencies)


class LeanRoute(APIRoute):
    """A route that tries its endpoint's direct call (`lean`) before FastAPI's handler. Not
    when the route has dependencies of its router or inclusion (the direct call knows only
    the endpoint's own), nor while dependency overrides are set (tests)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        call: LeanCall | None = getattr(self.endpoint, LEAN_ATTRIBUTE, None)
        if call is None or _more_dependencies(self):
            return handler

        async def run(request: Request) -> Response:
            if not request.app.dependency_overrides:
                response = await call(request)
                if response is not None:
                    return response
            return await handler(request)

        return run


_CANONICAL_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def canonical_uuid(text: str) -> uuid.UUID | None:
    """A path parameter in the UUID's canonical form (as pydantic reads it too); None for any
    other text (FastAPI's handler decides it: another form pydantic takes, or a 422)."""
    if len(text) == 36 and _CANONICAL_UUID.fullmatch(text):
        return uuid.UUID(text)
    return None
