"""The layout's import contract (pyproject.toml, [tool.importlinter]): domains depend one way,
core imports no service. Run here so the README's test command checks it; the two tests below
show that the contract really fails on the breaks it is there to catch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "childprotect_api"


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command as c; c()",
            "--no-cache",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy_with(tmp_path: Path, module: str, line: str) -> Path:
    src = tmp_path / "src"
    shutil.copytree(PACKAGE, src / "childprotect_api", ignore=shutil.ignore_patterns("__pycache__"))
    target = src / "childprotect_api" / module
    target.write_text(target.read_text() + f"\n{line}\n")
    return src


def test_the_import_contract_holds() -> None:
    result = _lint(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_a_cycle_between_domains_breaks_it(tmp_path: Path) -> None:
    # children must never import visits (visits build on children).
    src = _copy_with(
        tmp_path,
        "services/children/registry.py",
        "import childprotect_api.services.visits.service  # noqa",
    )
    result = _lint(src)
    assert result.returncode != 0
    assert "- .children -> .visits (1 import)" in result.stdout


def test_core_importing_a_service_breaks_it(tmp_path: Path) -> None:
    src = _copy_with(tmp_path, "core/db.py", "import childprotect_api.services.audit  # noqa")
    result = _lint(src)
    assert result.returncode != 0
    assert (
        "childprotect_api.core is not allowed to import childprotect_api.services" in result.stdout
    )
