"""Rate limits per user or integration client on expensive endpoints: a fixed one-minute
window counted in PostgreSQL (shared by all API processes), answering 429 with Retry-After.

Counted in a transaction of its own on the side pool (db.Database.side_engine), committed at
once: the counter's row lock lasts one statement. Counted in the request's transaction, it
was held until the request committed, so one user's requests ran one at a time (a phone's
2-second push held up its own changes read). A request that fails after being counted still
counts, as it should."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from childprotect_api.core.db import get_database
from childprotect_api.core.errors import TooManyRequests, is_database_unavailable
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


async def _count(request: Request, key: str, window: datetime) -> int:
    """This request, counted and committed. A pooled side connection found dead (the server
    restarted since it was last used) is replaced and the count tried once more: counting a
    request twice in that rare case is harmless."""
    engine = get_database(request).side_engine
    for attempt in (1, 2):
        try:
            async with engine.begin() as conn:
                count: int = (
                    await conn.execute(_UPSERT, {"key": key, "window": window})
                ).scalar_one()
                return count
        except Exception as e:
            if attempt == 2 or not is_database_unavailable(e):
                raise
    raise AssertionError("unreachable")


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
        scope: Annotated[Scope, Depends(get_scope)],
    ) -> None:
        limits: dict[str, int] = request.app.state.settings.rate_limits
        limit = limits.get(self.bucket, limits.get("default", 60))
        now = clock()
        window = now.replace(second=0, microsecond=0)
        key = f"{self.bucket}:{scope.actor_type}:{scope.actor_id}"
        count = await _count(request, key, window)
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


_READ = text("SELECT count FROM rate_limit_counters WHERE key = :key AND window_start = :window")


def source_of(request: Request) -> str:
    """The caller's network source as the app sees it: the client address, which uvicorn takes
    from X-Forwarded-For only when the connection comes from a trusted proxy
    (`FORWARDED_ALLOW_IPS`, `serve` runs with proxy headers on). An IPv6 address counts by its
    /64, since one subscriber usually holds a whole /64."""
    host = request.client.host if request.client else ""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host[:60] or "unknown"
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else addr)


@dataclass(frozen=True)
class LoginSourceLimit:
    """Failed logins (passwords and client secrets, any name) from one source, counted in fixed
    windows of `login_lock_minutes` in `rate_limit_counters` (in a transaction of their own, so
    the count holds no row lock while a failed login waits). Past `login_source_max_failures`
    every login from the source answers 429 `login_rate_limited` until the window ends."""

    engine: AsyncEngine
    source: str
    limit: int
    minutes: int

    @classmethod
    def for_request(cls, request: Request) -> LoginSourceLimit:
        settings = request.app.state.settings
        return cls(
            get_database(request).side_engine,
            source_of(request),
            settings.login_source_max_failures,
            max(1, settings.login_lock_minutes),
        )

    @property
    def key(self) -> str:
        return f"login-src:{self.source}"

    def _window(self, now: datetime) -> tuple[datetime, datetime]:
        span = self.minutes * 60
        start = datetime.fromtimestamp(int(now.timestamp()) // span * span, UTC)
        return start, start + timedelta(seconds=span)

    async def check(self) -> None:
        now = clock()
        start, end = self._window(now)
        async with self.engine.connect() as conn:
            count = (await conn.execute(_READ, {"key": self.key, "window": start})).scalar()
        if count is not None and count >= self.limit:
            retry = max(1, math.ceil((end - now).total_seconds()))
            raise TooManyRequests(
                "too many failed logins from this address; try again later",
                code="login_rate_limited",
                headers={"Retry-After": str(retry)},
            )

    async def failed(self) -> None:
        start, _ = self._window(clock())
        await count_apart(self.engine, self.key, start)
