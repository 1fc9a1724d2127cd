"""Operations: JSON log lines and the Prometheus metrics this process keeps.

Log lines (CHILDPROTECT_LOG_FORMAT=json): one JSON object per line with `ts`, `level`,
`logger`, `msg` and, for requests and job runs, the structured fields the caller passed in
`extra={"fields": {...}}` (request id, route template, status, duration, actor id). Names, ID
numbers and phones are never among them: the route is the template (`/api/v1/children/{id}`),
never the path, and the actor is a UUID.

Metrics live in one registry per process (REGISTRY); GET /metrics renders it together with
the figures read from the database at scrape time (routers/metrics.py)."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "childprotect_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "childprotect_http_request_duration_seconds",
    "HTTP request duration, by method and route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
DB_POOL_TIMEOUTS = Counter(
    "childprotect_db_pool_timeouts",
    "Requests that waited the whole db_pool_timeout_seconds for a pooled connection (503)",
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "childprotect_job_runs",
    "Background job runs, by job and outcome (ok, failed)",
    ["job", "outcome"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "childprotect_job_duration_seconds",
    "Background job run duration, by job",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300),
    registry=REGISTRY,
)
JOB_LAST_SUCCESS = Gauge(
    "childprotect_job_last_success_timestamp_seconds",
    "When each background job last finished without error (Unix time)",
    ["job"],
    registry=REGISTRY,
)
UNMATCHED_ROUTE = "<unmatched>"


def route_template(scope: Mapping[str, Any]) -> str:
    """The matched route's path template, never the request's path (which can carry ids)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)


def observe_job(name: str, ok: bool, seconds: float) -> None:
    JOB_RUNS.labels(name, "ok" if ok else "failed").inc()
    JOB_DURATION.labels(name).observe(seconds)
    if ok:
        JOB_LAST_SUCCESS.labels(name).set(time.time())


# Fields a structured log line may carry; anything else passed in `fields` is dropped, so a
# careless caller cannot put a name into the JSON.
ALLOWED_FIELDS = frozenset(
    {
        "event",
        "request_id",
        "method",
        "route",
        "status",
        "duration_ms",
        "actor_type",
        "actor_id",
        "job",
        "outcome",
        "done",
        "error_type",
    }
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({k: v for k, v in fields.items() if k in ALLOWED_FIELDS})
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: messages and tracebacks can quote row values.
            line["error_type"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=False, default=str)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a line is logged, not to the stream it was at
    set-up: a handler bound to a replaced stderr (a test's captured one, since closed) would
    fail every later line with "I/O operation on closed file"."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(log_format: str = "text") -> None:
    """The process's log set-up (the CLI's and each uvicorn worker's): plain lines or JSON."""
    root = logging.getLogger()
    handler = StderrHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    # uvicorn's loggers propagate to ours (its own handlers off), so they share the format.
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
