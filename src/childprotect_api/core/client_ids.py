"""Ids that callers choose for new records (creates are idempotent under them).

An id taken — in the caller's scope or out of it, by a record of the same kind or another —
answers one and the same 409 `id_taken` (IdTaken), unless the request is a retry of the
caller's own create (same content), which answers the stored record as before. So a create
never tells whether an id exists somewhere the caller cannot see.

New ids must be random: UUID version 4 or 7 (RFC 9562), else 422 (`ClientId`, `check`).
Ids made from names (version 3 or 5, like the demo data's) or counters could be guessed and
then probed; a random id can only be known by one who was given it. The demo loader, which
makes its version-5 ids on the server, runs inside `trusted_ids()`.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, ParamSpec, TypeVar

from pydantic import AfterValidator

from childprotect_api.core.errors import Conflict, Unprocessable

P = ParamSpec("P")
T = TypeVar("T")
RANDOM_VERSIONS = frozenset({4, 7})
NOT_RANDOM = "须为随机UUID（第4或第7版）must be a random UUID (version 4 or 7)"
TAKEN = "此ID已被占用 this id is already in use"

_trusted: ContextVar[bool] = ContextVar("trusted_client_ids", default=False)


@contextmanager
def trusted_ids() -> Iterator[None]:
    """Server-side creation (the demo loader): any UUID version is accepted."""
    token = _trusted.set(True)
    try:
        yield
    finally:
        _trusted.reset(token)


def trusted(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """A server-side creation step (a demo step) run inside `trusted_ids()`."""

    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        with trusted_ids():
            return await fn(*args, **kwargs)

    return run


def is_random(value: uuid.UUID) -> bool:
    return value.variant == uuid.RFC_4122 and value.version in RANDOM_VERSIONS


def check(value: uuid.UUID | None, field: str = "id") -> None:
    """422 for a new record's id that is not random (None: the server makes one)."""
    if value is None or _trusted.get() or is_random(value):
        return
    raise Unprocessable.field(field, NOT_RANDOM, code="id_not_random")


def _validate(value: uuid.UUID) -> uuid.UUID:
    if not _trusted.get() and not is_random(value):
        raise ValueError(NOT_RANDOM)
    return value


# The type of a create body's `id`.
ClientId = Annotated[uuid.UUID, AfterValidator(_validate)]


class IdTaken(Conflict):
    code = "id_taken"

    def __init__(self) -> None:
        super().__init__(TAKEN)
