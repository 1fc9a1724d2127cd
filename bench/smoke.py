"""CI smoke run of the benchmarks at their smallest size: proves they still run, prints the
figures, asserts nothing about time. Uses the PostgreSQL on 127.0.0.1:5432 when one answers,
else an embedded one in a temporary folder."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from pathlib import Path

from bench import (
    baseline,
    datagen,
    footprint,
    load,
    profile_reads,
    registers,
    stats,
    sync,
    sync_push,
    worklist,
    writes,
)


def _local_server() -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", 5432)) == 0


def main() -> int:
    embedded = None
    if _local_server():
        server = datagen.DEFAULT_SERVER
    else:
        from childprotect_api.core.db import EmbeddedPostgres

        embedded = EmbeddedPostgres(Path(tempfile.gettempdir()) / "childprotect-bench-pg")
        server = embedded.start()
    try:
        url = datagen.with_database(server, f"bench_smoke_{os.getpid()}")
        rc = 0
        try:
            rc |= worklist.main(["--scale", "tiny", "--database-url", url, "--requests", "60"])
            # The load test on the same tiny dataset: 20 phones for about 10 seconds.
            load_args = ["--scale", "tiny", "--database-url", url, "--reuse", "--phones", "20"]
            load_args += ["--duration", "10", "--warmup", "2", "--think", "1", "--workers", "1"]
            rc |= load.main(load_args)
            # The API against the bare baselines (the API's statements, and one statement per
            # request: issue #23) on the same dataset: 2 s per phase.
            quick = ["--seconds", "2", "--warmup", "1", "--rounds", "1", "--connections", "4"]
            # With BENCH_PGBOUNCER_URL (.ci/run's PgBouncer leg, in front of the same local
            # server) the API also runs through PgBouncer: the cost of transaction pooling.
            pgbouncer = os.environ.get("BENCH_PGBOUNCER_URL") if _local_server() else None
            if pgbouncer:
                quick += ["--pgbouncer-url", pgbouncer]
            rc |= baseline.main(
                ["--scale", "tiny", "--database-url", url, "--callers", "5", *quick]
            )
            # The statements one child read sends on the wire (no py-spy in CI).
            rc |= profile_reads.main(
                ["--scale", "tiny", "--database-url", url, "--callers", "5", "--no-py-spy"]
            )
            rc |= footprint.main(
                ["--database-url", url, "--samples", "5", "--pgbench-seconds", "2",
                 "--pgbench-clients", "1"]
            )  # fmt: skip
            # The same tiny dataset, with the statistics extras added.
            args = ["--scale", "tiny", "--database-url", url, "--reuse"]
            rc |= stats.main([*args, "--requests", "10", "--warmup", "1"])
        finally:
            asyncio.run(datagen.drop_database(url))
        sync_url = datagen.with_database(server, f"bench_smoke_sync_{os.getpid()}")
        rc |= sync.main(["--scale", "tiny", "--database-url", sync_url, "--rounds", "2", "--drop"])
        # A private cluster of its own (skipped, saying why, without server binaries).
        rc |= writes.main(["--scale", "tiny", "--requests", "20", "--villages", "5"])
        push_url = datagen.with_database(server, f"bench_smoke_push_{os.getpid()}")
        rc |= sync_push.main(
            ["--database-url", push_url, "--operations", "20", "--rounds", "1", "--drop"]
        )
        registers_url = datagen.with_database(server, f"bench_smoke_registers_{os.getpid()}")
        rc |= registers.main(["--scale", "tiny", "--database-url", registers_url, "--drop"])
        return rc
    finally:
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    sys.exit(main())
