"""`childprotect-api serve` stopped by SIGTERM (what systemd, Docker and Kubernetes send) or
SIGINT: the request in flight is answered, then the embedded PostgreSQL is stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.core.test_serve_workers import _free_port

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="finds processes through /proc (Linux)"
)


def _postgres_of(pgdata: Path) -> list[int]:
    """Pids of the postgres processes serving this data folder."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "postgres" in cmdline and str(pgdata) in cmdline:
            found.append(int(entry.name))
    return found


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        CHILDPROTECT_ENV="local",
        CHILDPROTECT_DATA_DIR=str(data_dir),
        CHILDPROTECT_SHUTDOWN_GRACE_SECONDS="15",
    )
    cmd = [sys.executable, "-m", "childprotect_api.cli", "serve", "--port", str(port)]
    return subprocess.Popen(  # noqa: S603 (our own module)
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


async def _slow_body(started: asyncio.Event) -> AsyncIterator[bytes]:
    """A request body sent over about 3 s: the request is in flight while the signal lands."""
    yield b'{"name": '
    started.set()
    for _ in range(6):
        await asyncio.sleep(0.5)
        yield b" "
    yield b'"x"}'


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_drains_the_request_and_stops_the_embedded_postgres(tmp_path, sig):
    port = _free_port()
    proc = _serve(tmp_path, port)
    pgdata = tmp_path / "pgdata"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the server did not become ready"
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.5)
            assert _postgres_of(pgdata), "the embedded PostgreSQL should be running"

            started = asyncio.Event()
            slow = asyncio.create_task(
                client.post(
                    "/api/v1/children",
                    content=_slow_body(started),
                    headers={"content-type": "application/json"},
                )
            )
            await started.wait()
            await asyncio.sleep(0.3)
            proc.send_signal(sig)
            answer = await slow
        # The request in flight (its whole body is read before the token is checked) got its
        # whole answer, not a reset connection.
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert proc.wait(timeout=60) == 0
        stderr = proc.stderr.read().decode()  # type: ignore[union-attr]
        assert "Stopping the embedded PostgreSQL" in stderr, stderr[-2000:]
        for _ in range(50):  # pg_ctl stop waits for it; allow the last process to go
            if not _postgres_of(pgdata):
                break
            await asyncio.sleep(0.2)
        assert _postgres_of(pgdata) == [], "the embedded PostgreSQL is still running"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)
