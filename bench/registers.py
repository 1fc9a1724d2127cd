"""Registers (台账) of one county: the children register (every active child, ID numbers in
full for a stated purpose, so each is decrypted) and the visits register of the last year,
as XLSX and CSV, through the same code the endpoint runs (services/registers/export.py:
plan, snapshot and count, cursor batches, the streaming writers). Prints per export the
rows, the file size, the time, the peak of Python's heap during the export (tracemalloc, a
second run: tracing slows Python down) and the process's peak RSS so far.

Constant memory shows as the same heap peak at `tiny` (3,000 children) and `county`
(50,000 children, about 175,000 visits in the year).

    python -m bench.registers --scale county     # a 50,000-child county (a few minutes)
    python -m bench.registers --scale tiny       # CI (bench/smoke.py)
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from datetime import timedelta

from bench import datagen
from childprotect_api.config import Settings
from childprotect_api.core.db import Database
from childprotect_api.security.scope import Scope
from childprotect_api.services.children import id_numbers
from childprotect_api.services.children.rules import today
from childprotect_api.services.registers import export as registers

SCALES = {
    "tiny": datagen.SCALES["tiny"],
    # One county of 50,000 children in 15 townships and 250 villages.
    "county": datagen.Scale("county", 1, 1, 15, 250, 50_000, 10),
}
SETTINGS_KEY = Settings(env="local").data_key


@dataclass
class Result:
    kind: str
    fmt: str
    rows: int
    size: int
    seconds: float
    heap_peak: int
    rss_peak: int


async def _id_numbers(url: str) -> None:
    """ID numbers for every child (datagen leaves them out), encrypted with the data key."""
    conn = await datagen.connect(url)
    try:
        rows = await conn.fetch("SELECT id, county_code, birth_date, gender FROM children")
        records = []
        for i, r in enumerate(rows):
            # 500 distinct numbers per region code and birth date: a region code per 500.
            region = f"{r['county_code'][:2]}{i // 500 % 10_000:04d}"
            number = id_numbers.make(region, r["birth_date"], i % 500, r["gender"])
            p = id_numbers.protect(SETTINGS_KEY, number)
            records.append((r["id"], p.encrypted, p.hash, p.masked))
        async with conn.transaction():
            await conn.execute(
                "CREATE TEMP TABLE ids (id uuid, enc bytea, hash text, masked text) ON COMMIT DROP"
            )
            await conn.copy_records_to_table("ids", records=records)
            await conn.execute(
                "UPDATE children c SET id_number_enc = ids.enc, id_number_hash = ids.hash, "
                "id_number_masked = ids.masked FROM ids WHERE ids.id = c.id"
            )
        await conn.execute("ANALYZE children")
    finally:
        await conn.close()


async def _one(db: Database, scope: Scope, kind: str, fmt: str, traced: bool) -> Result:
    end = today()
    start = end - timedelta(days=364) if kind == "visits" else None
    purpose = "核对花名册（bench）" if kind == "children" else None
    async with db.sessionmaker() as session:
        p = await registers.plan(
            session, scope, kind, scope.area_code, start, end if start else None, None, purpose
        )
    if traced:
        tracemalloc.start()
    began = time.perf_counter()
    export = await registers.open_export(db, p, SETTINGS_KEY)
    chunks = export.xlsx_chunks() if fmt == "xlsx" else export.csv_chunks()
    size = 0
    async for chunk in chunks:
        size += len(chunk)
    seconds = time.perf_counter() - began
    heap = 0
    if traced:
        heap = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return Result(kind, fmt, export.count, size, seconds, heap, rss)


async def run(args: argparse.Namespace) -> int:
    scale = SCALES[args.scale]
    url = args.database_url or datagen.with_database(
        datagen.DEFAULT_SERVER, f"bench_registers_{scale.name}"
    )
    data = await datagen.existing(url, scale) if args.reuse else None
    if data is None:
        url = await datagen.fresh_database(url, datagen.database_name(url))
        await asyncio.to_thread(datagen.migrate, url)
        data = await datagen.generate(url, scale)
        datagen.log("ID numbers for every child")
        await _id_numbers(url)
    county = data.counties[0]
    db = Database.create(url, command_timeout=None)
    scope = Scope("user", uuid.uuid4(), "county_officer", county)
    mb = 1024 * 1024
    print(f"\nregisters of county {county} ({scale.name}: {data.children:,} children)")
    print(
        f"{'register':<10} {'fmt':<5} {'rows':>8} {'MB':>7} {'s':>7} {'heap MB':>8} {'RSS MB':>7}"
    )
    try:
        for kind in ("children", "visits"):
            for fmt in ("csv", "xlsx"):
                r = await _one(db, scope, kind, fmt, traced=False)
                traced = await _one(db, scope, kind, fmt, traced=True)
                print(
                    f"{r.kind:<10} {r.fmt:<5} {r.rows:>8,} {r.size / mb:>7.1f} "
                    f"{r.seconds:>7.1f} {traced.heap_peak / mb:>8.1f} {r.rss_peak / mb:>7.0f}",
                    flush=True,
                )
    finally:
        await db.dispose()
        if args.drop:
            await datagen.drop_database(url)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", choices=sorted(SCALES), default="tiny")
    p.add_argument("--database-url", default=None, help="the database to (re)build and use")
    p.add_argument("--reuse", action="store_true", help="keep a dataset of this scale if present")
    p.add_argument("--drop", action="store_true", help="drop the database afterwards")
    return p


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
