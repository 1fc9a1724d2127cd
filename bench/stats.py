"""Statistics summary latency at the HTTP level: a village, a township, a county of 50,000
children and the province.

    python -m bench.stats --scale tiny             # CI smoke: a few thousand rows
    python -m bench.stats --scale full --reuse     # the province dataset (bench_province)

Uses the datagen dataset of the scale (`bench_province` at full scale, which it waits for
while it is being built; a fresh `bench_stats_<scale>` otherwise) with the statistics extras
added (bench/datagen_stats.py: a county of 50,000 children, agreements, reports, directors and
supervisors, the visit rollups, a year of care activities, about 20 per village, and sites)
and the county snapshots and period entries refreshed (as the API's periodic job
does; city and province figures read them). Starts the real API (uvicorn, one worker,
background jobs off) on 127.0.0.1, mints tokens, and times sequential GET
/api/v1/stats/summary requests (default period: the year so far) after a warm-up:
- village: directors of 20 villages of the 50k county;
- township: supervisors of its townships;
- county: officers of the 50k county;
- province: admins of province 62 (1,000,000 children at full scale);
- auditor village: an auditor of the 50k county asking for village summaries (small-figure
  suppression over the whole county).
Prints p50/p95/p99 in milliseconds, the load average, and the targets (county p95 <= 200 ms,
province <= 2 s)."""

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

import httpx

from bench import datagen
from bench.datagen_stats import EXTRAS, StatsExtras, refresh_periods, refresh_snapshots
from bench.worklist import _free_port, start_server
from childprotect_api.config import Settings

TARGET_P95_MS = {"county": 200.0, "province": 2000.0}


@dataclass
class Kind:
    name: str
    role: str
    callers: list[datagen.Caller]
    areas: list[str]  # the area each request asks for, round robin
    requests: int


@dataclass
class Result:
    kind: str
    samples: list[float]
    children: float

    def pct(self, p: int) -> float:
        return statistics.quantiles(self.samples, n=100, method="inclusive")[p - 1]


async def wait_up(base: str, proc: subprocess.Popen[bytes], within_s: float = 90) -> None:
    """/healthz: the province dataset keeps its own alembic revision, so /readyz (migrations
    at head) would not answer 200 there."""
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the API exited with {proc.returncode}")
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the API did not come up")


async def one(client: httpx.AsyncClient, caller: datagen.Caller, area: str) -> tuple[float, int]:
    started = time.perf_counter()
    r = await client.get(
        "/api/v1/stats/summary",
        params={"area": area},
        headers={"Authorization": f"Bearer {caller.token}"},
    )
    elapsed = (time.perf_counter() - started) * 1000
    if r.status_code != 200:
        raise RuntimeError(f"{caller.role} {area}: {r.status_code} {r.text[:300]}")
    active = r.json()["children"]["active"]
    return elapsed, active if isinstance(active, int) else 0


async def measure(client: httpx.AsyncClient, kind: Kind, warmup: int) -> Result:
    pairs = [
        (kind.callers[i % len(kind.callers)], kind.areas[i % len(kind.areas)])
        for i in range(kind.requests)
    ]
    for caller, area in pairs[: max(warmup, 1)]:
        await one(client, caller, area)
    samples, children = [], 0
    for caller, area in pairs:
        ms, active = await one(client, caller, area)
        samples.append(ms)
        children += active
    return Result(kind.name, samples, children / len(pairs))


def report(results: list[Result], scale: str, load: tuple[float, float]) -> bool:
    print()
    print(f"statistics summary latency, scale={scale} (default period: the year so far)")
    print(f"load average (1 min) before {load[0]:.2f}, after {load[1]:.2f}; {os.cpu_count()} CPUs")
    print(
        f"{'caller':<15} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'children':>9}  target p95"
    )
    ok = True
    for r in results:
        target = TARGET_P95_MS.get(r.kind)
        met = target is None or r.pct(95) <= target
        ok = ok and met
        goal = f"<= {target:.0f} {'ok' if met else 'MISSED'}" if target else "-"
        print(
            f"{r.kind:<15} {len(r.samples):>8} {r.pct(50):>8.1f} {r.pct(95):>8.1f} "
            f"{r.pct(99):>8.1f} {max(r.samples):>8.1f} {r.children:>9.0f}  {goal}"
        )
    return ok


async def _dataset(args: argparse.Namespace) -> tuple[str, datagen.Scale]:
    scale = datagen.SCALES[args.scale]
    name = "bench_province" if scale.name == "full" else f"bench_stats_{scale.name}"
    url = args.database_url or datagen.with_database(datagen.DEFAULT_SERVER, name)
    if scale.name == "full":
        # Built by the lead (bench/worklist.py --scale full): wait for it, never rebuild it.
        while await datagen.existing(url, scale) is None:
            datagen.log(f"waiting for the {scale.name} dataset in {datagen.database_name(url)}")
            await asyncio.sleep(30)
    elif not (args.reuse and await datagen.existing(url, scale)):
        datagen.log(f"building the {scale.name} dataset in {datagen.database_name(url)}")
        url = await datagen.fresh_database(url, datagen.database_name(url))
        await asyncio.to_thread(datagen.migrate, url)
        await datagen.generate(url, scale)
    return url, scale


async def _kinds(url: str, x: StatsExtras, args: argparse.Namespace) -> list[Kind]:
    settings = Settings(env="local", DATABASE_URL=url, access_token_minutes=240)
    rng = random.Random(args.seed)
    townships = [f"{x.county}{100 + t:03d}" for t in range(x.townships)]
    villages = [f"{t}{v + 1:03d}" for t in townships for v in range(x.villages_per_township)]
    villages = rng.sample(villages, min(20, len(villages)))
    n = args.requests
    make = datagen.make_callers
    directors = await make(url, settings, "village_director", villages)
    supervisors = await make(url, settings, "township_supervisor", townships[:20])
    officers = await make(url, settings, "county_officer", [x.county] * 3)
    admins = await make(url, settings, "admin", [datagen.PROVINCE] * 3)
    auditors = await make(url, settings, "auditor", [x.county] * 2)
    return [
        Kind("village", "village_director", directors, [c.area_code for c in directors], n),
        Kind("township", "township_supervisor", supervisors, townships[:20], n),
        Kind("county", "county_officer", officers, [x.county], n),
        Kind("province", "admin", admins, [datagen.PROVINCE], max(10, n // 5)),
        Kind("auditor village", "auditor", auditors, villages, max(10, n // 5)),
    ]


async def run(args: argparse.Namespace) -> int:
    url, scale = await _dataset(args)
    x = await datagen.ensure_stats_extras(url, scale)
    assert isinstance(x, StatsExtras)
    started = time.perf_counter()
    counties = await refresh_snapshots(url)
    datagen.log(f"{counties} county snapshots in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    entries = await refresh_periods(url)
    datagen.log(f"{entries} county period entries in {time.perf_counter() - started:.1f} s")
    kinds = await _kinds(url, x, args)
    if args.kinds:
        wanted = {k.strip() for k in args.kinds.split(",")}
        kinds = [k for k in kinds if k.name in wanted or k.name == "county"]
    env = {
        "CHILDPROTECT_ACCESS_TOKEN_MINUTES": "240",
        "CHILDPROTECT_JOBS_ENABLED": "false",  # the shared dataset must not change
        "CHILDPROTECT_RATE_LIMITS": '{"default": 100000, "stats": 100000, "export": 100000}',
    }
    load_before = os.getloadavg()[0]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(url, port, env)
    results = []
    try:
        await wait_up(base, proc)
        datagen.log(f"API up on {base}")
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            for kind in kinds:
                results.append(await measure(client, kind, args.warmup))
            county = next(k for k in kinds if k.name == "county")
            r = await client.get(
                "/api/v1/stats/summary",
                params={"area": x.county},
                headers={"Authorization": f"Bearer {county.callers[0].token}"},
            )
            activities = r.json()["activities"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    ok = report(results, scale.name, (load_before, os.getloadavg()[0]))
    print(
        f"county {x.county} activities this year: {activities['sessions']} sessions, "
        f"{activities['participants']} participants, {activities['children_served']} children "
        f"served, {activities['children_reached']} children reached, "
        f"training rate {activities['training_rate']}, {activities['sites_open']} open sites"
    )
    if args.drop and scale.name != "full":
        await datagen.drop_database(url)
    return 0 if ok or not args.strict else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", choices=sorted(EXTRAS), default="tiny")
    p.add_argument("--database-url", default=None, help="the database to (re)build and use")
    p.add_argument("--reuse", action="store_true", help="keep a dataset of this scale if present")
    p.add_argument("--requests", type=int, default=100, help="timed requests per caller kind")
    p.add_argument("--warmup", type=int, default=10, help="untimed requests per caller kind")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--kinds",
        default=None,
        help="the caller kinds to time, comma-separated (village,township,county,province,"
        "auditor village); the county is always timed",
    )
    p.add_argument("--drop", action="store_true", help="drop the database afterwards")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
