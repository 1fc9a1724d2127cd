"""Worklist latency at the HTTP level, for village, township and county callers.

    python -m bench.worklist --scale tiny           # CI smoke: a few thousand rows, < 1 minute
    python -m bench.worklist --scale full           # 1,000,000 children, ~10,000,000 visits
    python -m bench.worklist --scale full --reuse   # measure again on the dataset already built
    python -m bench.worklist --scale full --reuse --with-duties   # only children with open duties

Builds the dataset with bench/datagen.py in a fresh database (default `bench_province` for
`full`, `bench_<scale>` otherwise, on postgresql://postgres@127.0.0.1:5432), starts the real
API (uvicorn, one worker) on 127.0.0.1, mints tokens for callers in different villages,
townships and counties, and times sequential GET /api/v1/worklist requests with an async httpx
client after a warm-up. Prints p50/p95/p99 in milliseconds per kind of caller and the targets
(village p95 <= 20 ms, township <= 50 ms, county <= 200 ms)."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO

import httpx

from bench import datagen
from bench.pgcluster import free_port as _free_port
from childprotect_api.config import Settings

TARGET_P95_MS = {"village_director": 20.0, "township_supervisor": 50.0, "county_officer": 200.0}
LEVEL = {
    "village_director": "village",
    "township_supervisor": "township",
    "county_officer": "county",
}


@dataclass
class Result:
    role: str
    callers: int
    samples: list[float]
    items: float
    overdue: float
    duties: float  # risk duties shown per page (the care-work part of each item)

    def pct(self, p: int) -> float:
        return statistics.quantiles(self.samples, n=100, method="inclusive")[p - 1]


def start_server(
    url: str,
    port: int,
    env_extra: dict[str, str],
    *,
    workers: int = 1,
    output: IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """The real API under uvicorn (`workers` processes), its output to `output` (default:
    ours)."""
    env = dict(os.environ, DATABASE_URL=url, CHILDPROTECT_ENV="local", **env_extra)
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "childprotect_api.main:app_factory",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        cmd, env=env, stdout=output, stderr=output
    )


async def wait_ready(base: str, proc: subprocess.Popen[bytes], within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the API exited with {proc.returncode}")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the API did not become ready")


# Query parameters of every timed request (`--with-duties`: only children with open duties).
PARAMS: dict[str, str] = {}


async def one(client: httpx.AsyncClient, role: str, caller: datagen.Caller) -> tuple[float, dict]:
    started = time.perf_counter()
    r = await client.get(
        "/api/v1/worklist",
        params=PARAMS,
        headers={"Authorization": f"Bearer {caller.token}"},
    )
    elapsed = (time.perf_counter() - started) * 1000
    if r.status_code != 200:
        raise RuntimeError(f"{role} {caller.area_code}: {r.status_code} {r.text[:300]}")
    return elapsed, r.json()


async def warm_up(
    client: httpx.AsyncClient, callers: dict[str, list[datagen.Caller]], rounds: int
) -> None:
    """Every caller a few times, before any timing: the steady state is what is measured."""
    for _ in range(rounds):
        for role, role_callers in callers.items():
            for caller in role_callers:
                await one(client, role, caller)


async def measure(
    client: httpx.AsyncClient, role: str, callers: list[datagen.Caller], requests: int
) -> Result:
    samples, items, overdue, duties = [], 0, 0, 0
    for i in range(requests):
        ms, body = await one(client, role, callers[i % len(callers)])
        samples.append(ms)
        items += len(body["items"])
        overdue += body["counts"]["overdue"]
        duties += sum(len(item["duties"]) for item in body["items"])
    n = requests
    return Result(role, len(callers), samples, items / n, overdue / n, duties / n)


def report(results: list[Result], dataset: datagen.Dataset, load: tuple[float, float]) -> bool:
    print()
    print(
        f"worklist latency, scale={dataset.scale.name}: {dataset.children:,} children, "
        f"{dataset.visits:,} visits, {len(dataset.villages):,} villages, "
        f"{len(dataset.townships):,} townships, {len(dataset.counties):,} counties"
        + (" (with_duties=true)" if PARAMS else "")
    )
    # The machine's other work shows in the figures: say how busy it was.
    print(f"load average (1 min) before {load[0]:.2f}, after {load[1]:.2f}; {os.cpu_count()} CPUs")
    print(
        f"{'caller':<10} {'callers':>7} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'items':>6} {'duties':>6} {'overdue':>8}  target p95"
    )
    ok = True
    for r in results:
        target = TARGET_P95_MS[r.role]
        met = r.pct(95) <= target
        ok = ok and met
        print(
            f"{LEVEL[r.role]:<10} {r.callers:>7} {len(r.samples):>8} {r.pct(50):>8.1f} "
            f"{r.pct(95):>8.1f} {r.pct(99):>8.1f} {max(r.samples):>8.1f} {r.items:>6.1f} "
            f"{r.duties:>6.1f} "
            f"{r.overdue:>8.0f}  <= {target:.0f} {'ok' if met else 'MISSED'}"
        )
    return ok


async def run(args: argparse.Namespace) -> int:
    scale = datagen.SCALES[args.scale]
    PARAMS.clear()
    if args.with_duties:
        PARAMS["with_duties"] = "true"
    url = args.database_url or datagen.with_database(
        datagen.DEFAULT_SERVER, "bench_province" if scale.name == "full" else f"bench_{scale.name}"
    )
    dataset = await datagen.existing(url, scale) if args.reuse else None
    if dataset is None:
        datagen.log(f"building the {scale.name} dataset in {datagen.database_name(url)}")
        url = await datagen.fresh_database(url, datagen.database_name(url))
        await asyncio.to_thread(datagen.migrate, url)  # Alembic runs its own event loop
        dataset = await datagen.generate(url, scale)
        datagen.log(
            f"built {dataset.children:,} children and {dataset.visits:,} visits "
            f"in {dataset.seconds:.0f} s"
        )
    else:
        datagen.log(f"reusing the {scale.name} dataset in {datagen.database_name(url)}")

    env_extra = {"CHILDPROTECT_ACCESS_TOKEN_MINUTES": "240"}
    settings = Settings(env="local", DATABASE_URL=url, access_token_minutes=240)
    rng = random.Random(args.seed)
    n = args.callers
    areas = {
        "village_director": rng.sample(dataset.villages, min(n, len(dataset.villages))),
        "township_supervisor": rng.sample(dataset.townships, min(n, len(dataset.townships))),
        "county_officer": rng.sample(dataset.counties, min(n, len(dataset.counties))),
    }
    callers = {
        role: await datagen.make_callers(url, settings, role, codes)
        for role, codes in areas.items()
    }
    load_before = os.getloadavg()[0]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(url, port, env_extra)
    try:
        await wait_ready(base, proc)
        datagen.log(f"API ready on {base}")
        results = []
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            requests = args.requests or (100 if scale.name == "tiny" else 300)
            await warm_up(client, callers, args.warmup)
            for role, role_callers in callers.items():
                results.append(await measure(client, role, role_callers, requests))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    ok = report(results, dataset, (load_before, os.getloadavg()[0]))
    if args.drop:
        await datagen.drop_database(url)
    return 0 if ok or not args.strict else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", choices=sorted(datagen.SCALES), default="tiny")
    p.add_argument("--database-url", default=None, help="the database to (re)build and use")
    p.add_argument("--reuse", action="store_true", help="keep a dataset of this scale if present")
    p.add_argument(
        "--requests",
        type=int,
        default=None,
        help="timed requests per kind of caller (300; 100 at the tiny scale)",
    )
    p.add_argument("--warmup", type=int, default=3, help="untimed rounds over every caller")
    p.add_argument("--callers", type=int, default=20, help="areas per kind of caller")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--with-duties",
        action="store_true",
        help="time the worklist filtered to children with open risk duties (with_duties=true)",
    )
    p.add_argument("--drop", action="store_true", help="drop the database afterwards")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
