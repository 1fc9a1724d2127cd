"""Where the time of one hot read goes, in the API (or a baseline): issue #23's profile.

    python -m bench.profile_reads --scale tiny                      # the child read, the API
    python -m bench.profile_reads --scale tiny --read worklist --server one
    python -m bench.profile_reads --scale tiny --no-py-spy          # the wire count only

Two measurements on the dataset bench/baseline.py uses (built when missing):

1. **On the wire**: the API in-process, one request of the read after warm-up, every
   statement its pooled asyncpg connections send (asyncpg's query logger: BEGIN, COMMIT and
   pool resets included): the round trips of one request.
2. **py-spy** (when installed: `pip install py-spy`): the server as a uvicorn subprocess
   (one worker) under wrk (or the asyncio driver), sampled while it runs (idle time, the
   event loop waiting in epoll, is not sampled); each sample is charged to the innermost
   frame of a known package and printed as shares of the CPU samples, with the CPU time per
   request (samples / rate / throughput).

Figures from a loaded machine are shares, not speeds: they say where a request's CPU goes."""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from bench import baseline, datagen
from childprotect_api.config import Settings

# (category, substrings of a frame "function (file:line)"), first match from the innermost
# frame outwards wins.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("asyncpg (driver, protocol)", ("asyncpg/",)),
    ("SQLAlchemy (session, pool, transaction)", ("sqlalchemy/",)),
    ("pydantic (validation, serialisation)", ("pydantic/", "pydantic_core/")),
    ("JWT (python-jose)", ("jose/",)),
    ("JSON (stdlib json)", ("json/",)),
    ("middleware (the API's)", ("childprotect_api/core/middleware", "input_guard")),
    ("app: security/scope (token, session check)", ("childprotect_api/security/",)),
    ("app: core (db, audit, rawsql, errors)", ("childprotect_api/core/",)),
    ("app: routers and services", ("childprotect_api/",)),
    ("FastAPI (routing, dependencies, params)", ("fastapi/",)),
    ("Starlette (routing, middleware stack)", ("starlette/",)),
    ("HTTP server (uvicorn, httptools, h11)", ("uvicorn/", "httptools", "h11/")),
    ("baseline app", ("bench/baseline",)),
    ("event loop (uvloop in C under asyncio.run: callbacks, sockets)", ("asyncio/runners",)),
    ("asyncio (tasks, contextlib)", ("asyncio/", "contextlib")),
]


def categorise(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, needles in CATEGORIES:
            if any(n in frame for n in needles):
                return name
    return "other"


def summarise(raw: str) -> list[tuple[str, int]]:
    """py-spy's --raw output (collapsed stacks: `a;b;c count`) as samples per category."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        counts[categorise(stack.split(";"))] += int(n)
    return counts.most_common()


async def wire(url: str, settings: Settings, path: str, token: str) -> list[str]:
    """The statements one request of the API sends, after three warm-up requests."""
    from childprotect_api.main import create_app

    app = create_app(settings)
    sent: list[str] = []
    async with app.router.lifespan_context(app):
        engine = app.state.db.engine.sync_engine

        def connected(dbapi_conn: Any, record: Any) -> None:
            dbapi_conn.driver_connection.add_query_logger(lambda q: sent.append(q.query))

        event.listen(engine, "connect", connected)
        # Connections opened before the listener: none yet (the pool opens on first use).
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            for _ in range(3):
                r = await c.get(path, headers=headers)
                r.raise_for_status()
            await asyncio.sleep(0.5)  # what runs after the answer (the COMMIT) is sent too
            sent.clear()
            (await c.get(path, headers=headers)).raise_for_status()
            await asyncio.sleep(0.5)
    return [" ".join(s.split()) for s in sent]


def py_spy_record(pid: int, seconds: float, rate: int) -> str:
    with tempfile.NamedTemporaryFile(suffix=".txt", delete=False) as f:
        out = f.name
    try:
        spy = _py_spy() or "py-spy"
        cmd = [spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
        # Without --idle: only samples where the thread runs (uvloop waiting in epoll is left
        # out), so the shares are of CPU time.
        cmd += ["--rate", str(rate), "--format", "raw", "--output", out, "--nonblocking"]
        subprocess.run(  # noqa: S603 (py-spy, found on PATH or beside the interpreter)
            cmd,
            check=True,
            capture_output=True,
        )
        with open(out, encoding="utf-8") as f:
            return f.read()
    finally:
        os.unlink(out)


def _py_spy() -> str | None:
    beside = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return beside if os.path.exists(beside) else shutil.which("py-spy")


async def profile(args: argparse.Namespace, url: str, targets: list[baseline.Target]) -> None:
    requests = baseline.requests_for(args.read, targets, random.Random(args.seed))
    apps = {
        "api": "childprotect_api.main:app_factory",
        "one": "bench.baseline:one_statement_factory",
        "baseline": "bench.baseline:app_factory",
    }
    server = baseline.start(args.server, apps[args.server], url, 1, args.pool_size)
    driver = "wrk" if shutil.which("wrk") else "asyncio"
    try:
        await baseline.wait_ready(server)
        await baseline.drive(driver, server, args.read, requests, args.connections, 3)
        load = asyncio.create_task(
            baseline.drive(driver, server, args.read, requests, args.connections, args.seconds + 2)
        )
        await asyncio.sleep(1)
        raw = await asyncio.to_thread(py_spy_record, server.proc.pid, args.seconds, args.rate)
        phase = await load
    finally:
        baseline.stop(server)
    if args.keep_raw:
        await asyncio.to_thread(Path(args.keep_raw).write_text, raw, "utf-8")
    rows = summarise(raw)
    busy = sum(n for _, n in rows) or 1
    on_cpu = busy / (args.rate * args.seconds)
    print(
        f"\npy-spy, {args.server} {args.read}: {phase.rps:.0f} req/s, p50 {phase.p50:.2f} ms, "
        f"p95 {phase.p95:.2f} ms under {driver} ({args.connections} connections); {busy} "
        f"samples on CPU at {args.rate} Hz: the worker ran {100 * on_cpu:.0f}% of the time"
    )
    for name, n in rows:
        print(f"  {100 * n / busy:5.1f}%  {name}")
    if phase.rps:
        print(f"  CPU per request: about {1000 * on_cpu / phase.rps:.2f} ms")


async def run(args: argparse.Namespace) -> int:
    scale = datagen.SCALES[args.scale]
    url, dataset = await datagen.dataset_at(args.database_url, scale)
    settings = Settings(env="local", DATABASE_URL=url, access_token_minutes=240, jobs_enabled=False)
    rng = random.Random(args.seed)
    villages = rng.sample(dataset.villages, min(args.callers, len(dataset.villages)))
    await baseline.remove_targets(url)
    targets = await baseline.make_targets(url, settings, villages)
    try:
        path, token = baseline.requests_for(args.read, targets, rng)[0]
        statements = await wire(url, settings, path, token)
        print(f"\nAPI {args.read} ({path}): {len(statements)} statements on the wire per request")
        for s in statements:
            print(f"  {s[:110]}")
        if args.py_spy:
            if _py_spy() is None:
                print("py-spy is not installed (pip install py-spy): no profile")
            else:
                await profile(args, url, targets)
    finally:
        await baseline.remove_targets(url)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", choices=sorted(datagen.SCALES), default="tiny")
    p.add_argument("--database-url", default=None)
    p.add_argument("--read", choices=baseline.ONE_READS, default="child")
    p.add_argument("--server", choices=("api", "one", "baseline"), default="api")
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--callers", type=int, default=20)
    p.add_argument("--pool-size", type=int, default=10)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--no-py-spy", dest="py_spy", action="store_false")
    p.add_argument("--keep-raw", default=None, help="write py-spy's collapsed stacks here")
    return p


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
