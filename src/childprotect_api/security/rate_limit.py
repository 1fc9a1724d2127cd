"""Rate limits per user or integration client on expensive endpoints: a fixed one-minute
window counted in PostgreSQL (shared by all API processes), answering 429 with Retry-After."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import TooManyRequests
from childprotect_api.security.scope import Scope, get_scope

_UPSERT = text(
    """
    INSERT INTO rate_limit_counters (key, window_start, count) VALUES (:key, :window, 1)
    ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN rate_limit_counters.window_start = EXCLUDED.window_start
                     THEN rate_limit_counters.count + 1 ELSE 1 END,
        window_start = EXCLUDED.window_start
    RETURNING count
    """
)


def clock() -> datetime:
    return datetime.now(UTC)


class RateLimit:
    """A dependency: `dependencies=[Depends(RateLimit("stats"))]`. The limit per minute comes
    from settings (`rate_limits`), so operators can tune it without a release."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    async def __call__(
        self,
        request: Request,
        session: SessionDep,
        scope: Annotated[Scope, Depends(get_scope)],
    ) -> None:
        limits: dict[str, int] = request.app.state.settings.rate_limits
        limit = limits.get(self.bucket, limits.get("default", 60))
        now = clock()
        window = now.replace(second=0, microsecond=0)
        key = f"{self.bucket}:{scope.actor_type}:{scope.actor_id}"
        count = (await session.execute(_UPSERT, {"key": key, "window": window})).scalar_one()
        if count > limit:
            retry = max(1, math.ceil((window + timedelta(minutes=1) - now).total_seconds()))
            raise TooManyRequests(
                f"at most {limit} requests a minute to this resource",
                code="rate_limited",
                headers={"Retry-After": str(retry)},
            )


async def count_apart(engine: AsyncEngine, key: str, window: datetime) -> int:
    """Count one event under `key` in the window starting at `window`, in a transaction of its
    own (committed at once, so a request that then fails still counts): the new count."""
    async with engine.begin() as conn:
        return int((await conn.execute(_UPSERT, {"key": key, "window": window})).scalar_one())
