"""`childprotect-api serve --workers N` runs N worker processes that all serve the API."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="counts processes through /proc (Linux)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose parent is `pid`."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append((int(entry.name), cmdline))
    return out


def _serve(database_url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        CHILDPROTECT_ENV="local",
        CHILDPROTECT_JOBS_ENABLED="false",
    )
    cmd = [sys.executable, "-m", "childprotect_api.cli", "serve", "--workers", str(workers)]
    return subprocess.Popen(  # noqa: S603 (our own module)
        [*cmd, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


async def test_serve_runs_the_workers_asked_for(database_url):
    port = _free_port()
    proc = _serve(database_url, port, 2)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            workers: list[tuple[int, str]] = []
            while time.monotonic() < deadline:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
                workers = [c for c in _children(proc.pid) if "spawn_main" in c[1]]
                try:
                    if len(workers) == 2 and (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.3)
            assert len(workers) == 2, workers
            # Both workers up: a burst of concurrent requests is all answered.
            answers = await asyncio.gather(*(client.get("/readyz") for _ in range(40)))
            assert {r.status_code for r in answers} == {200}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
