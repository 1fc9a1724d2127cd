"""Generated clients, as the phone app and the integrators make them, tried against the spec and
a live server (run by .ci/clients, which installs openapi-generator-cli first).

Steps, each reported PASS or FAIL in the summary at the end (exit 1 if any failed):

1. openapi-generator (kotlin, dart, typescript-fetch): no renamed, inline-named or empty
   models (.ci/check_generated.py).
2. @hey-api/openapi-ts: a TypeScript client (types, SDK, zod response validators) from
   openapi/openapi.json, installed with `npm ci` from .ci/clients-work/package-lock.json.
3. tsc --strict: the client and .ci/clients-work/run.ts compile.
4. contract types: .ci/clients-work/contract.ts, DESIGN.md's contract as types of the client
   (discriminated sync items, binary downloads, one type per figure and money field).
5. live run: `childprotect-api serve --demo` on a free port with a fresh CHILDPROTECT_DATA_DIR
   (or, with TEST_DATABASE_URL or DATABASE_URL, a fresh database on that server), then
   `node run.js` (logins, the whole sync feed with tombstones, a pushed batch, an attachment
   download, statistics).
6. Redocly lint (redocly.yaml at the repository root): 0 errors.

The Python client (openapi-python-client) is checked by tests/test_generated_client.py in the
test suite."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".ci" / "clients-work"
SPEC = ROOT / "openapi" / "openapi.json"
VENV_BIN = Path(sys.executable).parent
NPX = ["npx", "--no", "--"]  # the packages of package-lock.json only: never a prompt to install

DEMO_COUNTY = "620722"
DEMO_VILLAGE = "620722100001"
DEMO_OTHER_VILLAGE = "620722100002"  # same township: the supervisor may move a child there


@dataclass
class Result:
    name: str
    ok: bool
    seconds: float
    detail: str


RESULTS: list[Result] = []


def run_step(name: str, fn, *args) -> bool:  # type: ignore[no-untyped-def]
    print(f"\n== clients: {name}", flush=True)
    start = time.monotonic()
    try:
        ok, detail = fn(*args)
    except Exception as exc:  # a step that crashes is a failed step, not a crashed run
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    RESULTS.append(Result(name, ok, time.monotonic() - start, detail))
    print(f"   {'PASS' if ok else 'FAIL'}: {detail}", flush=True)
    return ok


def sh(cmd: list[str], cwd: Path = WORK, timeout: float = 600, **kw) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run(  # noqa: S603
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, **kw
    )


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# 1 ---------------------------------------------------------------------------------------


def openapi_generator() -> tuple[bool, str]:
    if shutil.which("java") is None:
        return False, "java is not installed (openapi-generator needs Java 17)"
    done = sh([sys.executable, str(ROOT / ".ci" / "check_generated.py"), "--spec", str(SPEC)])
    print(done.stdout + done.stderr, end="")
    first = (done.stdout.strip().splitlines() or ["(no output)"])[0]
    return done.returncode == 0, first


# 2 ---------------------------------------------------------------------------------------


def npm_install() -> tuple[bool, str]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return False, "node and npm are not installed"
    done = sh(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], timeout=300)
    if done.returncode != 0:
        return False, "npm ci failed (no network to the npm registry?):\n" + tail(done.stderr)
    return True, "npm ci from package-lock.json"


def hey_api() -> tuple[bool, str]:
    shutil.rmtree(WORK / "out", ignore_errors=True)
    env = dict(os.environ, OPENAPI_SPEC=str(SPEC))
    cmd = [*NPX, "openapi-ts", "-f", "openapi-ts.config.mjs", "--no-log-file"]
    done = sh(cmd, env=env)
    print(tail(done.stdout + done.stderr, 5))
    ok = done.returncode == 0 and (WORK / "out" / "client" / "sdk.gen.ts").exists()
    return ok, "out/client generated" if ok else "openapi-ts failed:\n" + tail(done.stderr)


# 3, 4 ------------------------------------------------------------------------------------

TSC_ERROR = re.compile(r"^(?P<file>[^(\s]+)\((?P<line>\d+),\d+\): error (?P<msg>.*)$")


def tsc() -> tuple[list[str], list[str]]:
    """One strict compile of the client, run.ts and contract.ts (emitting out/js); answers the
    errors outside contract.ts and the contract's assertions that do not hold."""
    done = sh([*NPX, "tsc", "--strict", "-p", "tsconfig.json"])
    contract_src = (WORK / "contract.ts").read_text().splitlines()
    errors, broken = [], []
    for line in done.stdout.splitlines():
        m = TSC_ERROR.match(line.strip())
        if m is None:
            continue
        if Path(m["file"]).name == "contract.ts":
            upto = "\n".join(contract_src[: int(m["line"])])
            names = re.findall(r"export type (\w+)", upto)
            broken.append(names[-1] if names else line.strip())
        else:
            errors.append(line.strip())
    if done.returncode != 0 and not errors and not broken:
        errors.append(tail(done.stdout + done.stderr))
    return errors, sorted(set(broken))


TSC_STATE: dict[str, list[str]] = {}


def compile_client() -> tuple[bool, str]:
    errors, broken = tsc()
    TSC_STATE["broken"] = broken
    if errors:
        return False, f"{len(errors)} errors:\n" + "\n".join(errors[:20])
    return True, "the client and run.ts compile under --strict"


def contract_types() -> tuple[bool, str]:
    broken = TSC_STATE.get("broken")
    if broken is None:
        return False, "not compiled"
    if broken:
        return False, "does not hold: " + ", ".join(broken)
    return True, "every assertion of contract.ts holds"


# 5 ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def fresh_database() -> Iterator[dict[str, str]]:
    """Environment for `serve`: a new database on TEST_DATABASE_URL's (or DATABASE_URL's)
    server, dropped afterwards; else a new embedded PostgreSQL in a temporary data folder."""
    server = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not server:
        with tempfile.TemporaryDirectory(prefix="childprotect-clients-") as data:
            yield {"CHILDPROTECT_DATA_DIR": data}
        return
    import asyncio

    import asyncpg  # type: ignore[import-untyped]

    name = f"clients_ci_{uuid.uuid4().hex[:12]}"
    admin_url = re.sub(r"^postgresql\+\w+://", "postgresql://", server)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        base, _, _query = admin_url.partition("?")
        yield {"DATABASE_URL": base.rsplit("/", 1)[0] + "/" + name}
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


LOGIN = re.compile(r"^\s+(demo_\w+)\s+(\S+)\s+(\w+)\s+(\S+)\s*$")


def live_run() -> tuple[bool, str]:
    js = WORK / "out" / "js" / "run.js"
    if not js.exists():
        return False, "run.ts was not compiled"
    (WORK / "out" / "js" / "package.json").write_text('{"type": "commonjs"}\n')
    port = free_port()
    with fresh_database() as db_env, tempfile.TemporaryFile("w+") as log:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "DATABASE_REPLICA_URL")
            and not k.startswith("CHILDPROTECT_")
        }
        env.update(db_env, CHILDPROTECT_ENV="local", CHILDPROTECT_JOBS_ENABLED="false")
        cmd = [str(VENV_BIN / "childprotect-api"), "serve", "--demo", "--port", str(port)]
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)  # noqa: S603
        try:
            base = f"http://127.0.0.1:{port}"
            if not wait_ready(base, server, 180):
                log.seek(0)
                return False, "the server did not become ready:\n" + tail(log.read())
            log.seek(0)
            logins = {m[1]: m[2] for m in map(LOGIN.match, log.read().splitlines()) if m}
            needed = ("demo_director", "demo_township", "demo_admin")
            if not all(u in logins for u in needed):
                return False, f"the demo logins were not printed (found {sorted(logins)})"
            run_env = dict(
                os.environ,
                CP_BASE_URL=base,
                CP_VILLAGE=DEMO_VILLAGE,
                CP_OTHER_VILLAGE=DEMO_OTHER_VILLAGE,
                CP_COUNTY=DEMO_COUNTY,
                CP_DIRECTOR_USER="demo_director",
                CP_DIRECTOR_PASSWORD=logins["demo_director"],
                CP_TOWNSHIP_USER="demo_township",
                CP_TOWNSHIP_PASSWORD=logins["demo_township"],
                CP_ADMIN_USER="demo_admin",
                CP_ADMIN_PASSWORD=logins["demo_admin"],
            )
            done = sh(["node", str(js)], env=run_env, timeout=300)
            print(done.stdout + done.stderr, end="")
            last = (done.stdout + done.stderr).strip().splitlines() or ["(no output)"]
            return done.returncode == 0, last[-1]
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def wait_ready(base: str, server: subprocess.Popen, seconds: float) -> bool:  # type: ignore[type-arg]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as r:  # noqa: S310
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


# 6 ---------------------------------------------------------------------------------------


def redocly() -> tuple[bool, str]:
    cmd = [*NPX, "redocly", "lint", str(SPEC), "--config", str(ROOT / "redocly.yaml")]
    cmd += ["--format", "json", "--max-problems", "100000"]
    done = sh(
        cmd, env=dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true")
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        return False, "redocly did not run:\n" + tail(done.stdout + done.stderr)
    problems = report.get("problems", [])
    errors = [p for p in problems if p.get("severity") == "error"]
    warnings = [p for p in problems if p.get("severity") == "warn"]
    by_rule: dict[str, int] = {}
    for p in errors:
        by_rule[p["ruleId"]] = by_rule.get(p["ruleId"], 0) + 1
    shown: dict[str, int] = {}
    for p in errors:  # the first three of each rule
        shown[p["ruleId"]] = shown.get(p["ruleId"], 0) + 1
        if shown[p["ruleId"]] <= 3:
            where = (p.get("location") or [{}])[0].get("pointer", "")
            print(f"   error {p['ruleId']}: {p['message']} ({where})")
    rules = ", ".join(f"{r} x{n}" for r, n in sorted(by_rule.items()))
    detail = f"{len(errors)} errors, {len(warnings)} warnings" + (f" ({rules})" if rules else "")
    return not errors, detail


def main(argv: list[str]) -> int:
    """`.ci/clients [generator] [ts] [redocly]`: those parts only (all by default)."""
    parts = set(argv) or {"generator", "ts", "redocly"}
    start = time.monotonic()
    if "generator" in parts:
        run_step("openapi-generator: kotlin, dart, typescript-fetch", openapi_generator)
    if parts & {"ts", "redocly"} and run_step("npm ci", npm_install):
        if "ts" in parts and run_step(
            "@hey-api/openapi-ts: generate the TypeScript client", hey_api
        ):
            run_step("tsc --strict: the client and run.ts", compile_client)
            run_step("contract types (contract.ts)", contract_types)
            run_step("live run: node run.js against serve --demo", live_run)
        if "redocly" in parts:
            run_step("Redocly lint (redocly.yaml)", redocly)

    print(f"\n== clients: summary ({time.monotonic() - start:.0f} s)")
    for r in RESULTS:
        first = r.detail.splitlines()[0] if r.detail else ""
        print(f"  {'PASS' if r.ok else 'FAIL'}  {r.name} ({r.seconds:.0f} s): {first}")
    failed = [r for r in RESULTS if not r.ok]
    passed = len(RESULTS) - len(failed)
    print("  (openapi-python-client: tests/test_generated_client.py, in the test suite)")
    print(f"clients summary: {passed} of {len(RESULTS)} steps held")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
