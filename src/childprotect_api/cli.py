"""The childprotect-api command: serve, worker, migrate, create-user, import-areas, backup,
restore, openapi."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from childprotect_api.config import ConfigError, Settings, get_settings

log = logging.getLogger("childprotect_api")


def _database_url(settings: Settings, args: argparse.Namespace) -> tuple[str, object | None]:
    """The server to use: DATABASE_URL, or an embedded PostgreSQL in the data folder."""
    if settings.database_url:
        return settings.database_url, None
    from childprotect_api.core.db import EmbeddedPostgres

    embedded = EmbeddedPostgres(settings.data_dir)
    print(f"Starting the embedded PostgreSQL in {embedded.pgdata} ...", file=sys.stderr)
    return embedded.start(), embedded


class Stopped(Exception):
    """SIGTERM or SIGINT reached `serve` after uvicorn's own shutdown had finished."""


def _stop_on_signal(signum: int, frame: object) -> None:
    raise Stopped(signum)


def cmd_serve(args: argparse.Namespace) -> int:
    import signal

    import uvicorn

    settings = get_settings()
    if args.demo and settings.env != "local":
        print(
            "error: --demo loads made-up data and is for CHILDPROTECT_ENV=local only",
            file=sys.stderr,
        )
        return 2
    url, embedded = _database_url(settings, args)
    previous: dict[int, object] = {}
    try:
        from childprotect_api.core.migrate import upgrade

        upgrade(url)
        if args.demo:
            from childprotect_api.services.demo.loader import load_demo

            logins = asyncio.run(load_demo(url))
            _print_logins(logins)
        # Workers (and the app in this process) read the URL from the environment.
        os.environ["DATABASE_URL"] = url
        os.environ["CHILDPROTECT_LOG_FORMAT"] = settings.log_format
        get_settings.cache_clear()
        print(f"API on http://{args.host}:{args.port}  (docs: /docs)", file=sys.stderr)
        # uvicorn handles SIGTERM/SIGINT while it serves (stop accepting, drain the requests
        # in flight for at most `shutdown_grace_seconds`, run the lifespan's shutdown: the
        # background jobs stop and mark their jobs interrupted), then restores the handlers
        # it found and raises the signal again. These handlers turn that into an exception,
        # so the `finally` below stops the embedded PostgreSQL (the default SIGTERM action
        # would end the process at once and leave it running).
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _stop_on_signal)
        uvicorn.run(
            "childprotect_api.main:app_factory",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level="info",
            # Our middleware writes the access log, without query strings (personal data).
            access_log=False,
            proxy_headers=True,
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
            # Our own logging set-up (plain or JSON lines) stays in force.
            log_config=None,
        )
    except (Stopped, KeyboardInterrupt):
        pass
    finally:
        if embedded is not None:
            print("Stopping the embedded PostgreSQL ...", file=sys.stderr)
            embedded.stop()  # type: ignore[attr-defined]
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
    print("stopped", file=sys.stderr)
    return 0


def _print_logins(logins: list[tuple[str, str, str, str]]) -> None:
    print("\nDemo logins (username / password / role / area):", file=sys.stderr)
    for username, password, role, area in logins:
        print(f"  {username:<22} {password:<16} {role:<20} {area}", file=sys.stderr)
    print("", file=sys.stderr)


def cmd_worker(args: argparse.Namespace) -> int:
    """Deliver webhooks without serving the API (any number of these may run)."""
    from childprotect_api.services.integrations.worker import run_worker

    settings = get_settings()
    url, embedded = _database_url(settings, args)
    try:
        stats = asyncio.run(run_worker(url, settings, once=args.once))
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
    if stats is not None:
        print(
            f"fanned out {stats.fanned_out}, delivered {stats.delivered}, "
            f"failed {stats.failed}, dead {stats.dead}",
            file=sys.stderr,
        )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from childprotect_api.core.migrate import upgrade

    settings = get_settings()
    url, embedded = _database_url(settings, args)
    try:
        upgrade(url)
        print("migrated to head", file=sys.stderr)
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    from childprotect_api.services.bootstrap import create_user_cli

    settings = get_settings()
    url, embedded = _database_url(settings, args)
    try:
        from childprotect_api.core.migrate import upgrade

        upgrade(url)
        problem = asyncio.run(
            create_user_cli(
                url,
                username=args.username,
                password=args.password,
                role=args.role,
                area=args.area,
                display_name=args.display_name or args.username,
                phone=args.phone,
            )
        )
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    print(f"created user {args.username} ({args.role})", file=sys.stderr)
    return 0


def cmd_import_areas(args: argparse.Namespace) -> int:
    from childprotect_api.services.bootstrap import import_areas_cli

    path = Path(args.file)
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    settings = get_settings()
    url, embedded = _database_url(settings, args)
    try:
        from childprotect_api.core.migrate import upgrade

        upgrade(url)
        report = asyncio.run(import_areas_cli(url, path.read_text(encoding="utf-8-sig")))
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
    for row in report.rows:
        if row.status == "invalid":
            print(f"line {row.line}: {row.code}: {'; '.join(row.errors)}", file=sys.stderr)
    print(
        f"{'applied' if report.applied else 'NOT applied'}: created {report.created}, "
        f"updated {report.updated}, invalid {report.invalid}",
        file=sys.stderr,
    )
    return 0 if report.applied else 2


def cmd_backup(args: argparse.Namespace) -> int:
    """Dump the database (the embedded one in the data folder, or DATABASE_URL) to FILE."""
    from childprotect_api.core.backup import BackupError, backup

    settings = get_settings()
    url, embedded = _database_url(settings, args)
    try:
        backup(url, Path(args.file))
    except BackupError as e:
        print(f"error: backup failed: {e}", file=sys.stderr)
        return 1
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
    print(f"wrote {args.file}", file=sys.stderr)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Load FILE (made by `backup`) into the database; an empty one unless --replace."""
    from childprotect_api.core.backup import BackupError, has_schema, restore

    path = Path(args.file)
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    settings = get_settings()
    url, embedded = _database_url(settings, args)
    try:
        if has_schema(url) and not args.replace:
            print(
                "error: the database already holds data; restore into a new data folder "
                "(CHILDPROTECT_DATA_DIR) or pass --replace to drop it first",
                file=sys.stderr,
            )
            return 2
        restore(url, path, replace=args.replace)
    except BackupError as e:
        print(f"error: restore failed (nothing was changed): {e}", file=sys.stderr)
        return 1
    finally:
        if embedded is not None:
            embedded.stop()  # type: ignore[attr-defined]
    print(f"restored {path}", file=sys.stderr)
    return 0


def openapi_document() -> dict[str, object]:
    from childprotect_api.main import create_app

    app = create_app(Settings(env="local", DATABASE_URL="postgresql://openapi/none"))
    return app.openapi()


def openapi_text() -> str:
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def cmd_openapi(args: argparse.Namespace) -> int:
    text = openapi_text()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="childprotect-api", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser(
        "serve", help="migrate, then serve the API (embedded PostgreSQL when DATABASE_URL is unset)"
    )
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--demo", action="store_true", help="load the demo county and print logins")
    s.set_defaults(func=cmd_serve)

    w = sub.add_parser("worker", help="deliver webhooks from the outbox (also runs inside `serve`)")
    w.add_argument("--once", action="store_true", help="one pass, then exit")
    w.set_defaults(func=cmd_worker)

    m = sub.add_parser("migrate", help="apply the database migrations and exit")
    m.set_defaults(func=cmd_migrate)

    u = sub.add_parser("create-user", help="create a user (how the first admin is made)")
    u.add_argument(
        "--role",
        required=True,
        choices=[
            "village_director",
            "township_supervisor",
            "county_officer",
            "reporter",
            "auditor",
            "admin",
        ],
    )
    u.add_argument("--area", default=None, help="area code (omit for a system-wide admin)")
    u.add_argument("--username", required=True)
    u.add_argument("--password", required=True)
    u.add_argument("--display-name", default=None)
    u.add_argument("--phone", default=None)
    u.set_defaults(func=cmd_create_user)

    i = sub.add_parser("import-areas", help="import areas from a CSV file code,name,parent_code")
    i.add_argument("file")
    i.set_defaults(func=cmd_import_areas)

    b = sub.add_parser("backup", help="dump the database (attachments included) to FILE")
    b.add_argument("file")
    b.set_defaults(func=cmd_backup)

    r = sub.add_parser("restore", help="load a backup FILE into the database")
    r.add_argument("file")
    r.add_argument("--replace", action="store_true", help="drop what the database holds first")
    r.set_defaults(func=cmd_restore)

    o = sub.add_parser("openapi", help="print or write the OpenAPI document")
    o.add_argument("--out", default=None)
    o.set_defaults(func=cmd_openapi)
    return p


def main(argv: list[str] | None = None) -> int:
    from childprotect_api.core.observability import configure_logging

    configure_logging(os.environ.get("CHILDPROTECT_LOG_FORMAT", "text"))
    args = build_parser().parse_args(argv)
    if args.command == "serve" and not (1 <= args.workers <= 64):
        print("error: --workers must be between 1 and 64", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
