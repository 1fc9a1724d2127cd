"""Batch push latency at the HTTP level: a village director's phone sends the visits it logged
offline in one POST /api/v1/sync/push, then sends the same batch again (its answer was lost):
the second push must apply nothing and answer every item `unchanged`.

    python -m bench.sync_push                        # 200 visits, 5 rounds (target <= 1 s)
    python -m bench.sync_push --operations 20 --rounds 1 --drop     # the CI smoke size
    python -m bench.sync_push --reuse                # measure again on the dataset built

Builds (bench/datagen.py) a database of its own, `bench_push` on
postgresql://postgres@127.0.0.1:5432 by default: one village of 300 children with about two
years of visits. Starts the real API (uvicorn, one worker) on 127.0.0.1, mints a token for a
director of the village, warms up with one small push, then for each round times a push of
`--operations` new visits (distinct children where the village has enough) and the same push
sent again. Prints the times per round, their median, and the load average."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench import datagen
from bench.worklist import _free_port, start_server, wait_ready
from childprotect_api.config import Settings
from childprotect_api.schemas.visit import CHECKLIST_ITEMS

SCALE = datagen.Scale("push", 1, 1, 1, 1, 300, 8)
TARGET_MS = 1000.0
_CHECKLIST = {item: {"rating": "good"} for item in CHECKLIST_ITEMS}


def visit_op(child_id: uuid.UUID, rng: random.Random) -> dict[str, Any]:
    # Done in the last three days: newer than most children's last visit, so each moves its
    # child's last visit and due date too, as new offline work does.
    visited = datetime.now(UTC) - timedelta(minutes=rng.randint(5, 60 * 24 * 3))
    return {
        "op": "create_visit",
        "client_id": str(uuid.uuid4()),
        "id": str(uuid.uuid4()),
        "data": {
            "child_id": str(child_id),
            "visited_at": visited.isoformat(),
            "kind": "home",
            "latitude": 38.43,
            "longitude": 100.81,
            "accuracy_m": 12.5,
            "checklist": _CHECKLIST,
            "notes": "孩子在家写作业，奶奶身体尚可。",
            "suggested_risk_level": "blue",
            "follow_up_actions": [],
        },
    }


async def active_children(url: str, village: str) -> list[uuid.UUID]:
    conn = await datagen.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT id FROM children WHERE county_code = $1 AND area_code = $2 "
            # Not those about to turn 18: the server's start-up job closes their records.
            "AND status = 'active' AND birth_date > current_date - interval '17 years' "
            "ORDER BY id",
            village[:6],
            village,
        )
    finally:
        await conn.close()
    return [r["id"] for r in rows]


async def timed_push(
    client: httpx.AsyncClient, token: str, ops: list[dict[str, Any]], expect: str
) -> float:
    started = time.perf_counter()
    r = await client.post(
        "/api/v1/sync/push",
        json={"operations": ops},
        headers={"Authorization": f"Bearer {token}"},
    )
    elapsed = (time.perf_counter() - started) * 1000
    if r.status_code != 200:
        raise RuntimeError(f"push answered {r.status_code}: {r.text[:300]}")
    statuses = {x["status"] for x in r.json()["results"]}
    if statuses != {expect}:
        problems = {x["problem"]["code"] for x in r.json()["results"] if x["problem"]}
        raise RuntimeError(f"expected every item {expect}, got {sorted(statuses)}: {problems}")
    return elapsed


async def run(args: argparse.Namespace) -> int:
    url = args.database_url or datagen.with_database(datagen.DEFAULT_SERVER, "bench_push")
    dataset = await datagen.existing(url, SCALE) if args.reuse else None
    if dataset is None:
        datagen.log(
            f"building a village of {SCALE.children} children in {datagen.database_name(url)}"
        )
        url = await datagen.fresh_database(url, datagen.database_name(url))
        await asyncio.to_thread(datagen.migrate, url)  # Alembic runs its own event loop
        dataset = await datagen.generate(url, SCALE)
        datagen.log(f"built {dataset.children:,} children and {dataset.visits:,} visits")
    village = dataset.villages[0]
    settings = Settings(env="local", DATABASE_URL=url, access_token_minutes=240)
    [director] = await datagen.make_callers(url, settings, "village_director", [village])
    children = await active_children(url, village)
    rng = random.Random(args.seed)

    def batch(n: int) -> list[dict[str, Any]]:
        picked = rng.sample(children, n) if n <= len(children) else rng.choices(children, k=n)
        return [visit_op(c, rng) for c in picked]

    load_before = os.getloadavg()[0]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(url, port, {"CHILDPROTECT_ACCESS_TOKEN_MINUTES": "240"})
    first, second = [], []
    try:
        await wait_ready(base, proc)
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            await timed_push(client, director.token, batch(10), "created")  # warm-up
            for _ in range(args.rounds):
                ops = batch(args.operations)
                first.append(await timed_push(client, director.token, ops, "created"))
                second.append(await timed_push(client, director.token, ops, "unchanged"))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    ok = report(args.operations, first, second, dataset, (load_before, os.getloadavg()[0]))
    if args.drop:
        await datagen.drop_database(url)
    return 0 if ok or not args.strict else 1


def report(
    n: int,
    first: list[float],
    second: list[float],
    dataset: datagen.Dataset,
    load: tuple[float, float],
) -> bool:
    print()
    print(
        f"sync push of {n} visits: one village of {dataset.children:,} children "
        f"({dataset.visits:,} visits before), {len(first)} rounds"
    )
    print(f"load average (1 min) before {load[0]:.2f}, after {load[1]:.2f}; {os.cpu_count()} CPUs")
    print(f"{'push':<24} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'per item ms':>12}")
    for name, samples in (("new visits (created)", first), ("sent again (unchanged)", second)):
        median = statistics.median(samples)
        print(
            f"{name:<24} {median:>10.0f} {min(samples):>8.0f} {max(samples):>8.0f} "
            f"{median / max(n, 1):>12.2f}"
        )
    if n != 200:
        print(f"(the target, <= {TARGET_MS:.0f} ms, is for a push of 200 visits)")
        return True
    met = statistics.median(first) <= TARGET_MS
    print(f"target: a push of 200 visits <= {TARGET_MS:.0f} ms: {'ok' if met else 'MISSED'}")
    return met


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--database-url", default=None, help="the database to (re)build and use")
    p.add_argument("--reuse", action="store_true", help="keep the dataset if already built")
    p.add_argument("--operations", type=int, default=200, help="visits per push")
    p.add_argument("--rounds", type=int, default=5, help="timed pushes (each sent twice)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--drop", action="store_true", help="drop the database afterwards")
    p.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    return p


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
