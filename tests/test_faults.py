"""The fault scenarios of bench/faults.py at their quick size, as a marked group:

    TEST_DATABASE_URL=... pytest -m faults -n 0

Each starts real API servers (uvicorn subprocesses) and kills them (SIGKILL) mid-work, or
stops and starts a PostgreSQL of its own under them; the script checks the invariants in the
database and exits 1 on any failure. The push scenario passes as skipped while the endpoint
does not exist. `push_lost` terminates a push's database connection mid-batch, `push_concurrent` pushes from
two phones crosswise. The shared server is used for all but db_restart (a database of their own,
dropped afterwards) and only when TEST_DATABASE_URL names it."""

from __future__ import annotations

import os

import pytest
from bench import faults

pytestmark = pytest.mark.faults


def _database_url(name: str) -> list[str]:
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        pytest.skip("needs TEST_DATABASE_URL (a PostgreSQL server the scenarios may use)")
    from bench import datagen

    return ["--database-url", datagen.with_database(server, f"cp_faults_{name}_{os.getpid()}")]


@pytest.mark.parametrize(
    "scenario", ["attachment", "import", "push", "push_lost", "push_concurrent"]
)
def test_sigkill_scenarios(scenario: str) -> None:
    argv = ["--quick", "--runs", "2", "--scenario", scenario, *_database_url(scenario)]
    assert faults.main(argv) == 0


def test_database_restart_under_a_running_api() -> None:
    assert faults.main(["--quick", "--runs", "4", "--scenario", "db_restart"]) == 0
