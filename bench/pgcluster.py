"""Private PostgreSQL clusters for tests and benchmarks: find the server binaries, make a
cluster with initdb in a folder of ours on a free port, start and stop it.

The binaries come from CHILDPROTECT_TEST_PG_BINDIR, `pg_config --bindir`,
/usr/lib/postgresql/*/bin or the `pgserver` package (the embedded server's own binaries).
initdb refuses to run as root: as root, clusters run as the `postgres` (or `pgserver`) system
user. tests/core/replica.py builds a primary and its streaming replica with it; bench/writes.py a
cluster whose WAL only its own workload writes."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

REQUIRED = ("initdb", "pg_ctl", "pg_basebackup", "postgres")


# --- finding the binaries -----------------------------------------------------------------


def candidate_bindirs() -> list[Path]:
    found: list[Path] = []
    env = os.environ.get("CHILDPROTECT_TEST_PG_BINDIR")
    if env:
        found.append(Path(env))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(  # noqa: S603 (pg_config from PATH, no input)
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            found.append(Path(out.stdout.strip()))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    found += sorted(
        (Path(p) for p in versions),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    with contextlib.suppress(ImportError), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pgserver asks platformdirs for a runtime dir
        import pgserver  # the embedded server's package bundles a full installation

        assert pgserver.__file__ is not None
        found.append(Path(pgserver.__file__).parent / "pginstall" / "bin")
    return found


def find_pg_bindir() -> tuple[Path | None, str]:
    """The first folder holding every binary a replica needs, or None and why not."""
    candidates = candidate_bindirs()
    for bindir in candidates:
        if all(os.access(bindir / exe, os.X_OK) for exe in REQUIRED):
            return bindir, ""
    looked = ", ".join(str(c) for c in candidates) or "nowhere (no pg_config, no pgserver)"
    return None, (
        f"no PostgreSQL server binaries ({', '.join(REQUIRED)}) found for a streaming "
        f"replica; looked in {looked}. Set CHILDPROTECT_TEST_PG_BINDIR to run these tests."
    )


def run_as_user() -> tuple[str | None, str]:
    """The system user to run the clusters as (None: ourselves), or a reason to skip."""
    if os.geteuid() != 0:
        return None, ""
    for name in ("postgres", "pgserver"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name, ""
    return None, (
        "running as root: initdb refuses root and there is no 'postgres' or 'pgserver' "
        "system user to run the test clusters as"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- one cluster ----------------------------------------------------------------------------


@dataclass
class Cluster:
    name: str
    base: Path  # <tmp>/<name>: data/, log, socket
    bindir: Path
    port: int
    user: str | None

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def logfile(self) -> Path:
        return self.base / "server.log"

    def url(self, database: str, password: str | None = None) -> str:
        auth = f"postgres:{password}" if password else "postgres"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return self.url(database)

    def run(self, exe: str, *args: str) -> None:
        try:
            subprocess.run(  # noqa: S603 (the PostgreSQL binaries, arguments of our making)
                [str(self.bindir / exe), *args],
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
                user=self.user,
                cwd=self.base,
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"{exe} failed for the {self.name} test cluster ({exc.returncode}):\n"
                f"{exc.stdout}\n{exc.stderr}\n{self.log_tail()}"
            ) from exc

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def initdb(self, conf: str = "") -> None:
        """A new cluster: superuser postgres, trust on localhost (replication too), `conf`
        appended to postgresql.conf."""
        self.run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as f:
            f.write(conf)
        (self.data / "pg_hba.conf").write_text(HBA)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
        self.run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60",
            "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


def make_base(root: Path, name: str, user: str | None) -> Path:
    base = root / name
    base.mkdir(mode=0o700)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    return base


HBA = """
local all all trust
host all all 127.0.0.1/32 trust
local replication all trust
host replication all 127.0.0.1/32 trust
"""
