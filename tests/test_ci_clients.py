""".ci/clients.py reads the demo logins that `childprotect-api serve --demo` prints: a change to
that printout fails here, not only in the CI step that needs the passwords."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from childprotect_api.cli import _print_logins

ROOT = Path(__file__).resolve().parents[1]


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_clients", ROOT / ".ci" / "clients.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ci_clients"] = module
    spec.loader.exec_module(module)
    return module


ci_clients = _module()


def test_the_demo_logins_printed_by_serve_are_read(capsys):
    logins = [
        ("demo_admin", "Demo-AbC123xyZ0", "admin", "62"),
        ("demo_director", "Demo-9zZ8yY7xX6", "village_director", "620722100001"),
        ("demo_township", "Demo-q1W2e3R4t5", "township_supervisor", "620722100"),
    ]
    _print_logins(logins)
    printed = capsys.readouterr().err.splitlines()
    found = {m[1]: m[2] for m in map(ci_clients.LOGIN.match, printed) if m}
    assert found == {user: password for user, password, _, _ in logins}


def test_the_demo_areas_are_the_ones_the_script_uses():
    from childprotect_api.services.demo.county import DEMO_AREAS, DEMO_COUNTY, DEMO_VILLAGE

    parents = {code: parent for code, _, parent in DEMO_AREAS}
    assert ci_clients.DEMO_COUNTY == DEMO_COUNTY and ci_clients.DEMO_VILLAGE == DEMO_VILLAGE
    # The supervisor moves a child to another village of the same township.
    assert parents[ci_clients.DEMO_OTHER_VILLAGE] == parents[DEMO_VILLAGE]
    assert ci_clients.DEMO_OTHER_VILLAGE != DEMO_VILLAGE
