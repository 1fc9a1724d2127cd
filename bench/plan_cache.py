"""Which plans PostgreSQL keeps for the hot statements: custom or generic (issue #23).

    python -m bench.plan_cache --scale tiny                    # CI smoke size
    python -m bench.plan_cache --scale full                    # the province dataset (reused)

The API's one-statement reads and the visit PUT are sent by asyncpg as named prepared
statements (its statement cache), so after five executions PostgreSQL may switch a statement
to a generic plan, made once without the parameters' values (`plan_cache_mode = auto`). For a
scope given by parameters (a county code, an area range) a generic plan could read a whole
county where a custom plan reads a village. This runs each hot read of bench/baseline.py
in-process against the dataset on ONE pooled connection, as a phone repeats it: `--repeat`
requests per caller, callers of the read's role taken in turn, then reads the connection's
`pg_prepared_statements` and prints, for each statement the read sent, how many custom and
generic plans it was given, with the requests' median time over the first five executions
(custom plans) and over the rest (the plan PostgreSQL settled on). A generic plan is fine when
the later median is not worse; the output says which statements settled on one."""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from bench import baseline, datagen
from childprotect_api.config import Settings

READS = baseline.ONE_READS
# asyncpg's own statements (type introspection, its JIT switch): not the app's.
_DRIVER = ("typeinfo_tree", "current_setting('jit')")


async def _send(client: httpx.AsyncClient, request: Any, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    if isinstance(request, baseline.Put):
        path = request.path.replace(baseline.NEW_ID, str(uuid.uuid4()))
        body = request.body.replace(
            baseline.VISITED_NOW.encode(), datetime.now(UTC).isoformat().encode()
        )
        headers["Content-Type"] = "application/json"
        r = await client.put(path, content=body, headers=headers)
    else:
        r = await client.get(request, headers=headers)
    if r.status_code >= 300:
        raise RuntimeError(f"{request!r}: {r.status_code} {r.text[:200]}")


async def _prepared(app: Any) -> dict[str, tuple[int, int]]:
    """The one pooled connection's prepared statements: text -> (generic, custom) plans."""
    async with app.state.db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        rows = await raw.driver_connection.fetch(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
        )
    return {r["statement"]: (r["generic_plans"], r["custom_plans"]) for r in rows}


async def check(url: str, settings: Settings, targets: list[Any], reads: list[str], repeat: int,
                seed: int) -> list[tuple[str, int, int, int, float, float]]:  # fmt: skip
    from childprotect_api.main import create_app

    out = []
    for read in reads:
        app = create_app(settings)  # a fresh pool: one connection, no statements prepared
        rng = random.Random(seed)
        requests = baseline.requests_for(read, targets, rng)
        if not requests:
            continue
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
                before = await _prepared(app)
                times: list[float] = []
                for i in range(repeat):
                    request, token = requests[i % len(requests)]
                    started = time.perf_counter()
                    await _send(c, request, token)
                    times.append(1000 * (time.perf_counter() - started))
                after = await _prepared(app)
        early = statistics.median(times[:5])
        late = statistics.median(times[5:]) if len(times) > 5 else float("nan")
        print(f"{read}: request median, first 5: {early:.2f} ms, later: {late:.2f} ms")
        for sql, (generic, custom) in after.items():
            if sql in before or generic + custom == 0 or any(d in sql for d in _DRIVER):
                continue
            out.append((read, len(sql), generic, custom, early, late))
            head = " ".join(sql.split())[:100]
            settled = "GENERIC" if generic else "custom"
            print(f"  {settled:8} generic {generic:3} custom {custom:3}  {head}")
    return out


async def run(args: argparse.Namespace) -> int:
    scale = datagen.SCALES[args.scale]
    url, dataset = await datagen.dataset_at(args.database_url, scale)
    settings = Settings(
        env="local",
        DATABASE_URL=url,
        access_token_minutes=240,
        jobs_enabled=False,
        db_pool_size=1,  # one connection kept: its prepared statements are the ones read
        db_max_overflow=1,  # the initial load's second (read) session, closed after use
    )
    rng = random.Random(args.seed)
    unrendered = await baseline._villages_with_unrendered(url)
    plain = [v for v in dataset.villages if v not in unrendered]
    villages = rng.sample(plain, min(args.callers, len(plain)))
    await baseline.remove_targets(url)
    targets = await baseline.make_targets(url, settings, villages)
    try:
        print(
            f"plan cache, scale={scale.name}: {args.repeat} requests per read on one connection "
            f"(PostgreSQL plan_cache_mode=auto: custom plans for the first five executions)"
        )
        found = await check(url, settings, targets, args.reads, args.repeat, args.seed)
    finally:
        await baseline.remove_targets(url)
    worse = [f for f in found if f[2] and f[5] > 1.5 * f[4] + 1.0]
    print(
        f"{len(found)} statements; {sum(1 for f in found if f[2])} settled on a generic plan; "
        f"{len(worse)} of those slower after the switch (median > 1.5x the first five + 1 ms)"
    )
    return 1 if worse and args.strict else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", choices=sorted(datagen.SCALES), default="tiny")
    p.add_argument("--database-url", default=None)
    p.add_argument("--reads", type=baseline._reads, default=list(READS))
    p.add_argument("--repeat", type=int, default=25, help="requests per read (>= 6)")
    p.add_argument("--callers", type=int, default=6)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--strict", action="store_true", help="exit 1 when a generic plan is slower")
    return p


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
