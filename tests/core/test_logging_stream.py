"""The log handler follows `sys.stderr`: a set-up made while stderr was replaced (the CLI run
under a test's capture) never writes to that stream once it is closed."""

from __future__ import annotations

import io
import logging
import sys

from childprotect_api.core.observability import configure_logging


def test_handler_writes_to_the_current_stderr(monkeypatch):
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    errors: list[BaseException] = []
    monkeypatch.setattr(logging, "raiseExceptions", True)
    monkeypatch.setattr(
        logging.Handler, "handleError", lambda self, record: errors.append(sys.exc_info()[1])
    )
    captured = io.StringIO()
    try:
        monkeypatch.setattr(sys, "stderr", captured)
        configure_logging("json")
        logging.getLogger("t").warning("first")
        assert "first" in captured.getvalue()
        captured.close()  # the capture ends
        later = io.StringIO()
        monkeypatch.setattr(sys, "stderr", later)
        logging.getLogger("t").warning("second")
        assert errors == []
        assert "second" in later.getvalue()
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved:
            root.addHandler(h)
        root.setLevel(level)
