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

from bench import baseline, datagen, worklist


def _local_server() -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", 5432)) == 0


def main() -> int:
    embedded = None
    if _local_server():
        server = datagen.DEFAULT_SERVER
    else:
        from childprotect_api.db import EmbeddedPostgres

        embedded = EmbeddedPostgres(Path(tempfile.gettempdir()) / "childprotect-bench-pg")
        server = embedded.start()
    try:
        url = datagen.with_database(server, f"bench_smoke_{os.getpid()}")
        try:
            code = worklist.main(["--scale", "tiny", "--database-url", url, "--requests", "60"])
            # The API against the bare baseline on the same dataset: 2 s per phase.
            quick = ["--seconds", "2", "--warmup", "1", "--rounds", "1", "--connections", "4"]
            code |= baseline.main(
                ["--scale", "tiny", "--database-url", url, "--callers", "5", *quick]
            )
        finally:
            asyncio.run(datagen.drop_database(url))
        return code
    finally:
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    sys.exit(main())
