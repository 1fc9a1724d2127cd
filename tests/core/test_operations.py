"""Operations: GET /metrics (Prometheus text, behind its own token, off the public API) and
JSON log lines for requests and job runs (no names, no ID numbers, no phones)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from childprotect_api.core.observability import JOB_RUNS, JsonFormatter
from childprotect_api.main import create_app
from childprotect_api.models.base import utcnow
from childprotect_api.models.report import Report
from childprotect_api.services.periodic import PeriodicJob, run_and_record
from tests.conftest import VILLAGE
from tests.reports.report_support import file

METRICS_TOKEN = "metrics-token-for-tests-0123456789"
NAME = "王小明"
PHONE = "13812345678"


def _value(text: str, name: str, **labels: str) -> float:
    """The sample `name{labels}` of a Prometheus text page (labels may be a subset)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r"^([a-z_]+)(\{.*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    raise AssertionError(f"no sample {name}{labels} in:\n{text[:3000]}")


@pytest.fixture
async def metrics_client(settings, db):  # type: ignore[no-untyped-def]
    import httpx

    app = create_app(settings.model_copy(update={"metrics_token": METRICS_TOKEN}), db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_metrics_need_their_own_token(client, metrics_client, world):
    # Not configured: the path does not exist.
    assert (await client.get("/metrics")).status_code == 404
    good = {"authorization": f"Bearer {METRICS_TOKEN}"}
    assert (await client.get("/metrics", headers=good)).status_code == 404
    # Configured: no token, a wrong one, or a user's access token (even an admin's) -> 404.
    for headers in (
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": METRICS_TOKEN},
        world["admin"].headers,
    ):
        r = await metrics_client.get("/metrics", headers=headers)
        assert r.status_code == 404, headers
        assert r.headers["content-type"].startswith("application/problem+json")
    # Off the public API: not in the OpenAPI document.
    assert "/metrics" not in (await metrics_client.get("/openapi.json")).json()["paths"]


async def test_metrics_report_requests_pool_queue_overdue_and_lag(metrics_client, world, session):
    director = world["director"].headers
    report = await file(metrics_client, world)
    await session.execute(
        update(Report)
        .where(Report.id == report["id"])  # type: ignore[arg-type]
        .values(accept_deadline=utcnow() - timedelta(hours=1))
    )
    await session.commit()
    child = await metrics_client.get(f"/api/v1/children/{report['id']}", headers=director)
    assert child.status_code == 404
    r = await metrics_client.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    # Requests by route TEMPLATE and status: the id in the path is not a label.
    assert report["id"] not in text
    assert (
        _value(
            text,
            "childprotect_http_requests_total",
            method="GET",
            route="/api/v1/children/{child_id}",
            status="404",
        )
        >= 1
    )
    assert (
        _value(
            text,
            "childprotect_http_request_duration_seconds_count",
            method="GET",
            route="/api/v1/children/{child_id}",
        )
        >= 1
    )
    assert _value(text, "childprotect_db_pool_capacity") == 10
    assert _value(text, "childprotect_db_pool_in_use") >= 0
    assert _value(text, "childprotect_database_up") == 1
    assert _value(text, "childprotect_reports_overdue") == 1
    assert _value(text, "childprotect_webhook_queue_depth") == 0
    assert _value(text, "childprotect_webhook_oldest_due_seconds") == 0
    assert _value(text, "childprotect_sync_feed_lag_seconds") >= 0
    assert "childprotect_db_pool_timeouts_total" in text


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the process writes with CHILDPROTECT_LOG_FORMAT=json."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _parsed(out: io.StringIO) -> list[dict[str, object]]:
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]  # each line is one JSON object


async def test_json_request_lines(client, world, json_lines):
    from tests.children.child_payloads import new_child

    director = world["director"]
    body = new_child(VILLAGE, name=NAME, pairing_helper_phone=PHONE)
    created = await client.post("/api/v1/children", json=body, headers=director.headers)
    assert created.status_code == 201, created.text
    child_id = created.json()["id"]
    search = await client.get("/api/v1/children", params={"q": NAME}, headers=director.headers)
    assert search.status_code == 200
    bad = await client.post("/api/v1/children", json={"name": NAME}, headers=director.headers)
    assert bad.status_code == 422

    lines = _parsed(json_lines)
    requests = [line for line in lines if line.get("event") == "request"]
    assert len(requests) == 3
    create, read, refused = requests
    assert create["route"] == "/api/v1/children" and create["status"] == 201
    assert create["method"] == "POST"
    assert create["request_id"] == created.headers["x-request-id"]
    assert create["actor_type"] == "user" and create["actor_id"] == str(director.id)
    assert isinstance(create["duration_ms"], float)
    assert read["status"] == 200 and refused["status"] == 422
    for line in lines:
        assert {"ts", "level", "logger", "msg"} <= line.keys()
    everything = json_lines.getvalue()
    for secret in (NAME, PHONE, body["id_number"], json.dumps(NAME)[1:-1]):
        assert secret not in everything
    assert child_id not in json.dumps(requests)  # the route template, never the path


async def test_json_job_lines_and_job_metrics(db, json_lines):
    async def works(session, now):  # type: ignore[no-untyped-def]
        return 3

    async def breaks(session, now):  # type: ignore[no-untyped-def]
        raise ValueError(f"row for {NAME} {PHONE}")

    ok_before = JOB_RUNS.labels("ops_test_ok", "ok")._value.get()
    failed_before = JOB_RUNS.labels("ops_test_broken", "failed")._value.get()
    await run_and_record(db, PeriodicJob("ops_test_ok", 60, works))
    await run_and_record(db, PeriodicJob("ops_test_broken", 60, breaks))
    assert JOB_RUNS.labels("ops_test_ok", "ok")._value.get() == ok_before + 1
    assert JOB_RUNS.labels("ops_test_broken", "failed")._value.get() == failed_before + 1

    jobs = [line for line in _parsed(json_lines) if line.get("event") == "job"]
    assert [(j["job"], j["outcome"]) for j in jobs] == [
        ("ops_test_ok", "ok"),
        ("ops_test_broken", "failed"),
    ]
    assert jobs[0]["done"] == 3 and isinstance(jobs[0]["duration_ms"], float)
    assert jobs[1]["error_type"] == "ValueError" and jobs[1]["level"] == "error"
    assert NAME not in json_lines.getvalue() and PHONE not in json_lines.getvalue()


def test_json_formatter_keeps_only_known_fields():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    record.fields = {"request_id": "r1", "name": NAME}
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "r1" and "name" not in line and NAME not in json.dumps(line)
