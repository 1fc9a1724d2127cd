"""`childprotect-api backup FILE` and `restore FILE`: a logical copy of the whole database
(every table, attachments included: they are stored in it) with the PostgreSQL client tools
the `pgserver` package ships (pg_dump / pg_restore, custom format).

ID numbers stay encrypted in the copy: a restore serves them only with the same
CHILDPROTECT_DATA_KEY (keep the key with, but apart from, the backups). For a PostgreSQL
server deployment see docs/operations.md (pg_dump of the server's own version, base backups
with WAL archiving, point-in-time recovery)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(RuntimeError):
    pass


def tool(name: str) -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    path = Path(POSTGRES_BIN_PATH) / name
    if not path.exists():
        raise BackupError(f"{name} not found in the pgserver package ({path})")
    return path


def libpq_url(url: str) -> str:
    """A URL the PostgreSQL tools read (no SQLAlchemy driver suffix)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        # pg_restore/pg_dump messages name objects, never row values.
        raise BackupError(done.stderr.strip()[-2000:] or f"{args[0]} failed")


def backup(url: str, file: Path) -> None:
    """Dump the database to `file` (custom format, compressed; owners and grants left out so
    it restores into any server)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    _run(
        [
            str(tool("pg_dump")),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={partial}",
            libpq_url(url),
        ]
    )
    partial.replace(file)  # a failed dump never leaves a file that looks complete


def restore(url: str, file: Path, *, replace: bool = False) -> None:
    """Load a backup into the database, in one transaction (all or nothing). `replace` drops
    what the database holds first; without it the database must be empty."""
    if not file.is_file():
        raise BackupError(f"no such file: {file}")
    args = [
        str(tool("pg_restore")),
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={libpq_url(url)}",
    ]
    if replace:
        args += ["--clean", "--if-exists"]
    _run([*args, str(file)])


def has_schema(url: str) -> bool:
    """Whether the database already holds this application's tables."""
    done = subprocess.run(  # noqa: S603
        [
            str(tool("psql")),
            "--no-psqlrc",
            "--tuples-only",
            "--no-align",
            "--command=SELECT to_regclass('public.alembic_version') IS NOT NULL",
            libpq_url(url),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(done.stderr.strip()[-2000:] or "psql failed")
    return done.stdout.strip() == "t"
