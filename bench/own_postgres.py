"""A throwaway PostgreSQL server of our own (the `pgserver` package's binaries), listening on
127.0.0.1 at a free port, that a fault test may stop and start at will: the shared server on
127.0.0.1:5432 is never restarted (other work uses it).

    pg = OwnPostgres(Path(tmp))
    pg.start()                  # initdb on first use; answers the server URL
    pg.stop("fast")             # or "immediate" (a crash: recovery at the next start)
    pg.start()                  # same data, same port
    pg.destroy()                # stop and delete the data folder

Run as root, the server runs as the system user `pgserver` (PostgreSQL refuses root), as the
embedded mode of db.EmbeddedPostgres does."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any, Literal

from bench.pgcluster import free_port  # one helper for every benchmark

StopMode = Literal["smart", "fast", "immediate"]


class OwnPostgres:
    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        self.base_dir = base_dir
        self.pgdata = base_dir / "pgdata"
        self.socket_dir = base_dir / "sock"
        self.logfile = base_dir / "postgres.log"
        self.port = port or free_port()
        self._user: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _bin(self, name: str) -> str:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pgserver asks platformdirs for a runtime dir
            from pgserver._commands import POSTGRES_BIN_PATH
        return str(POSTGRES_BIN_PATH / name)

    def _run(self, *args: str, timeout: float = 60) -> None:
        kwargs: dict[str, Any] = {"user": self._user} if self._user else {}
        subprocess.run(  # noqa: S603 (the package's own binaries, our own arguments)
            args,
            check=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **kwargs,
        )

    def _prepare(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            import pwd
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from pgserver._commands import POSTGRES_BIN_PATH
                from pgserver.utils import (
                    ensure_folder_permissions,
                    ensure_prefix_permissions,
                    ensure_user_exists,
                )

            self._user = "pgserver"
            ensure_user_exists(self._user)
            ensure_prefix_permissions(self.base_dir)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
            entry = pwd.getpwnam(self._user)
            for path in (self.base_dir, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            if self.pgdata.exists():
                os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def start(self) -> str:
        """Start the server (initialising the data folder the first time); answers its URL."""
        self._prepare()
        if not (self.pgdata / "PG_VERSION").exists():
            self._run(
                self._bin("initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=utf8",
                "--no-sync",
            )
        options = (
            f"-p {self.port} -h 127.0.0.1 -k {self.socket_dir} "
            # A throwaway server: durability against an OS crash is not what is tested (no
            # fsync). Commits stay synchronous: an immediate stop (a crash of PostgreSQL, not
            # of the OS) must lose nothing that was acknowledged.
            "-c fsync=off -c full_page_writes=off "
            "-c max_connections=200 -c shared_buffers=64MB"
        )
        self._run(
            self._bin("pg_ctl"),
            "-D",
            str(self.pgdata),
            "-l",
            str(self.logfile),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        return self.url

    def stop(self, mode: StopMode = "fast") -> None:
        self._run(self._bin("pg_ctl"), "-D", str(self.pgdata), "-m", mode, "-w", "stop")

    def _pids(self) -> list[int]:
        """The postmaster and its children (backends, checkpointer...), children first."""
        postmaster = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [*children, postmaster]

    def freeze(self) -> None:
        """SIGSTOP every process of this server: it accepts TCP connections (the kernel does)
        but answers nothing, like a server stuck on a dead disk or a hung VM."""
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in reversed(self._pids()):
            os.kill(pid, signal.SIGCONT)

    def running(self) -> bool:
        with socket.socket() as s:
            s.settimeout(1)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def destroy(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.base_dir, ignore_errors=True)
