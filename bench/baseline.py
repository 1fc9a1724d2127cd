"""The API against two bare-minimum baselines serving the same reads, in one run.

    python -m bench.baseline --scale tiny                    # CI smoke size
    python -m bench.baseline --scale full                    # the province dataset (reused)
    python -m bench.baseline --scale full --workers 1,2      # and how all scale to 2 workers
    python -m bench.baseline --scale tiny --pgbouncer-url postgresql://postgres@127.0.0.1:6432/postgres
                                  # and the API through PgBouncer (transaction mode) too
    python -m bench.baseline --scale full --workers 1,2 --reads health
                                  # the same without the database: what a 2nd worker adds

The same-statements baseline (`baseline_app()`, "same-stmt") is a plain Starlette app on an
asyncpg pool: per request it verifies the JWT (python-jose, the same key, issuer and
algorithm list as the API), checks the login session, runs the read and writes the audit row,
in one transaction (the child read, the worklist and the children page: one statement alone,
as the API runs them since #23), with
exactly the SQL statements the API issues (the constants below;
tests/test_bench_baseline.py checks them against the statements the API runs, and the
baseline's JSON against the API's), and answers the same JSON. It only serves a village
director: the three reads the app makes on its first screens. It shows what the framework
costs around the API's own statements, not what the statements cost.

The one-statement baseline (`one_statement_app()`, "one-stmt", issue #23) does the same
mandated work in ONE statement per request, sent in autocommit (no BEGIN/COMMIT): the token
verified by the API's own decode_access_token, then a CTE whose parts check the session
(active account, session not revoked), run the scoped read (the scope: security/scope.py's
scope_filter) and INSERT the audit row(s), both only when the session holds. It serves village
directors, township supervisors and county officers; tests/test_bench_baseline.py checks that
it answers the API's JSON and audit rows for each, and that one statement goes over the wire
per request. It is the floor the API's hot reads are measured against (targets: API /
one-stmt throughput >= 0.6, p95 <= 1.5; the visit PUT's throughput >= 0.5).

It also serves the offline app's two hot paths, each in one statement: GET /sync/changes (the
initial load's pages, with the horizon taken from the statement's own snapshot, and the
changes after a cursor: the log rows, each record's current state or its tombstone, the audit
rows of what is served, the same cursor, the same JSON with its `kind` discriminator; children
and visits rendered as the API renders them, pairings, alerts, sites, activities and category
applications from their rows by the API's own schemas; agreements, reports and cases not
rendered: `_Unsupported`), and PUT /visits/{id} (one CTE chain: the retry answered from the
stored visit when the content is the same, else the child locked FOR UPDATE, the visit row,
the child's last visit and due date, the audit row, the outbox event; the change-log rows come
from the tables' triggers, as for the API; the body validated and hashed by the API's own
VisitCreate and content_hash). The same-statements baseline does not serve them ("—").

    child              GET /api/v1/children/{id}     (village director)
    worklist           GET /api/v1/worklist          (village director)
    worklist_township  GET /api/v1/worklist          (township supervisor; one-stmt only)
    worklist_county    GET /api/v1/worklist          (county officer; one-stmt only)
    children           GET /api/v1/children          (the default page: 50 children)
    sync_changes       GET /api/v1/sync/changes      (the first page: 200 records; one-stmt only)
    sync_changes_after GET /api/v1/sync/changes?cursor=  (a changes page after a cursor: 200
                       log rows, seeded into each caller's village once; one-stmt only)
    visit_put          PUT /api/v1/visits/{id}       (a new id per request, one in ten a retry
                       answered 200; always on the asyncio client; one-stmt only)

The servers run at once as uvicorn subprocesses with the same worker count and pool size;
the load generator (wrk when installed, else a raw asyncio HTTP/1.1 client: httpx itself
would need more CPU than the servers) drives one server at a time with N keep-alive
connections, alternating the servers phase by phase (`--rounds`), so all see the same
machine. Before timing, each server must answer 200 to the first request of each read and the
one-stmt baseline the API's very JSON. It prints throughput and p50/p95/p99 per read for each,
and the ratios API / baseline (throughput, target >= 0.6; p95, target <= 1.5).

The machine has 2 cores, and the load generator and PostgreSQL need CPU too: with 2 workers
the servers compete with them for the same cores (the output says so; the load average
before and after is printed: figures from a loaded machine are not the targets' figures).
Callers are users made for the run (bench_baseline_*) and removed afterwards; the reads write
their audit rows, as the API does for every read of personal data (the audit log is
append-only: they stay), and the visits they log stay with them (deactivated, not removed)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, get_args

import asyncpg
from jose import JWTError, jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench import datagen
from bench.pgcluster import free_port as _free_port
from childprotect_api.config import Settings
from childprotect_api.core import client_ids
from childprotect_api.core.errors import Unprocessable
from childprotect_api.core.pagination import encode_cursor
from childprotect_api.models.base import CLOCK_SKEW
from childprotect_api.models.visit import Visit
from childprotect_api.models.visit_policy import DEFAULT_INTERVAL_DAYS
from childprotect_api.schemas import sync as sync_schemas
from childprotect_api.schemas.activity import ActivityRead, SiteRead
from childprotect_api.schemas.benefit import CategoryApplicationRead
from childprotect_api.schemas.care import AlertRead, PairingRead
from childprotect_api.schemas.visit import VisitCreate, VisitRead
from childprotect_api.security.scope import Scope, scope_filter
from childprotect_api.security.tokens import (
    AccessClaims,
    InvalidToken,
    create_access_token,
    decode_access_token,
)
from childprotect_api.services.sync import feed as sync_feed
from childprotect_api.services.visits import service as visit_service

# --- the SQL: what the API runs for a village director (its scope: county = and area =) ----

SESSION_CHECK = (
    "SELECT users.is_active, users.role, users.area_code, token_families.revoked_at "
    "FROM users JOIN token_families ON token_families.user_id = users.id "
    "WHERE users.id = $1::UUID AND token_families.id = $2::UUID"
)
CHILD_COLUMNS = (
    "children.id, children.county_code, children.area_code, children.name, children.gender, "
    "children.ethnicity, children.birth_date, children.id_number_enc, children.id_number_hash, "
    "children.id_number_masked, children.household_registration, children.residence, "
    "children.address, children.categories, children.family_situation, "
    "children.main_income_source, children.father, children.mother, children.school, "
    "children.grade, children.enrolment_status, children.boarding, children.dropout_risk, "
    "children.dropout_reported_on, children.health_notes, children.disability_notes, "
    "children.subsidies, children.assigned_director_id, children.pairing_helper_name, "
    "children.pairing_helper_phone, children.risk_level, children.risk_reason, "
    "children.risk_set_by, children.risk_set_at, children.status, children.closed_reason, "
    "children.closed_at, children.anonymised_at, children.last_visit_at, "
    "children.next_visit_due, children.stats_visited_at, children.version, "
    "children.created_at, children.updated_at, "
    "children.created_by, children.updated_by, children.create_fingerprint"
)
AUDIT_ONE = (
    "INSERT INTO audit_log (actor_id, actor_role, client_id, action, resource_type, "
    "resource_id, county_code, area_code, request_id, row_count, purpose) VALUES ($1::UUID, "
    "$2::VARCHAR, $3::UUID, $4::VARCHAR, $5::VARCHAR, $6::UUID, $7::VARCHAR, $8::VARCHAR, "
    "$9::VARCHAR, $10::INTEGER, $11::VARCHAR)"
)
SUMMARY_COLUMNS = (
    "children.county_code, children.id, children.area_code, children.name, children.gender, "
    "children.birth_date, children.id_number_masked, children.categories, children.school, "
    "children.assigned_director_id, children.risk_level, children.status, "
    "children.last_visit_at, children.next_visit_due, children.version, children.updated_at"
)
# The child read is one statement in autocommit since #23 (services/children/registry.py:
# the session check, the read and its audit row; $1 user, $2 role, $3 'child.read',
# $4 'child', $5 and $6 6, $7 request id, $8 child id, $9 county, $10 area, $11 area,
# $12 session).
_CHILD_NAMES = [c.split(".")[1] for c in CHILD_COLUMNS.split(", ")]
CHILD_AT_ONCE = (
    "WITH session_check AS (SELECT users.is_active AND token_families.revoked_at IS NULL AS "
    "session_live, users.role = $2::VARCHAR AND coalesce(users.area_code, '') = $11::VARCHAR "
    "AS session_fits, users.role AS session_role, users.area_code AS session_area FROM users "
    "JOIN token_families ON token_families.user_id = users.id WHERE users.id = $1::UUID AND "
    "token_families.id = $12::UUID), child AS (SELECT "
    + ", ".join(f"children.{c} AS {c}" for c in _CHILD_NAMES)
    + " FROM children WHERE children.id = $8::UUID AND children.county_code = $9::VARCHAR AND "
    "children.area_code = $10::VARCHAR AND (EXISTS (SELECT 1 FROM session_check WHERE "
    "session_check.session_live AND session_check.session_fits))), audited AS (INSERT INTO "
    "audit_log (actor_id, actor_role, client_id, action, resource_type, resource_id, "
    "county_code, area_code, request_id) SELECT $1 AS anon_1, $2 AS anon_2, NULL AS anon_3, "
    "$3::VARCHAR AS anon_4, $4::VARCHAR AS anon_5, child.id AS id, CASE WHEN "
    "(length(child.area_code) >= $5::INTEGER) THEN left(child.area_code, $6::INTEGER) END AS "
    "anon_6, child.area_code AS area_code, $7::VARCHAR AS anon_7 FROM child) SELECT "
    "session_check.session_live, session_check.session_fits, session_check.session_role, "
    "session_check.session_area, "
    + ", ".join(f"child.{c}" for c in _CHILD_NAMES)
    + " FROM (SELECT 1 AS one) AS one LEFT OUTER JOIN session_check ON true LEFT OUTER JOIN "
    "child ON true"
)

# The worklist and the children page likewise since #23 (services/visits/worklist.py:
# worklist_at_once; services/children/listing.py: list_children_at_once), compiled from the
# API's own Core statements for a village director's scope. The worklist: $1 user, $2 role,
# $3 'list', $4 'worklist', $5 the audit row's area, $6 and $7 6, $8 request id, $9 area,
# $10 session, $11 visitor (the user), $12 county, $13 area, $14 returned limit, $15 now,
# $16 horizon, $17 page limit, $18 1. The page: $1 user, $2 role, $3 'child.list', $4 'child',
# $5 and $6 6, $7 request id, $8 county, $9 area, $10 area, $11 session, $12 page limit.
WORKLIST_AT_ONCE = (
    "WITH session_check AS (SELECT users.is_active AND token_families.revoked_at IS NULL "
    "AS session_live, users.role = $2::VARCHAR AND coalesce(users.area_code, '') = "
    "$9::VARCHAR AS session_fits, users.role AS session_role, users.area_code AS "
    "session_area FROM users JOIN token_families ON token_families.user_id = users.id "
    "WHERE users.id = $1::UUID AND token_families.id = $10::UUID), audited AS (INSERT INTO "
    "audit_log (actor_id, actor_role, client_id, action, resource_type, resource_id, "
    "county_code, area_code, request_id) SELECT $1 AS anon_1, $2 AS anon_2, NULL AS "
    "anon_3, $3::VARCHAR AS anon_4, $4::VARCHAR AS anon_5, NULL AS anon__1, CASE WHEN "
    "(length($5::VARCHAR) >= $6::INTEGER) THEN left($5::VARCHAR, $7::INTEGER) END AS "
    "anon_6, $5::VARCHAR AS anon_7, $8::VARCHAR AS anon_8 WHERE EXISTS (SELECT 1 FROM "
    "session_check WHERE session_check.session_live AND session_check.session_fits)), "
    "returned AS (SELECT visits.id AS id, visits.child_id AS child_id, children.name AS "
    "name, visits.visited_at AS visited_at, visits.review_comment AS review_comment, "
    "visits.reviewed_by AS reviewed_by, visits.reviewed_at AS reviewed_at, visits.version "
    "AS version FROM visits JOIN children ON children.id = visits.child_id WHERE "
    "visits.visitor_id = $11::UUID AND visits.status = 'returned' AND visits.is_current "
    "AND children.county_code = $12::VARCHAR AND children.area_code = $13::VARCHAR AND "
    "(EXISTS (SELECT 1 FROM session_check WHERE session_check.session_live AND "
    "session_check.session_fits)) ORDER BY visits.reviewed_at DESC LIMIT $14::INTEGER), "
    "counts AS (SELECT count(*) FILTER (WHERE children.next_visit_due < $15::TIMESTAMP "
    "WITH TIME ZONE) AS overdue, count(*) FILTER (WHERE children.next_visit_due >= "
    "$15::TIMESTAMP WITH TIME ZONE) AS due_soon FROM children WHERE children.county_code = "
    "$12::VARCHAR AND children.area_code = $13::VARCHAR AND children.status = 'active' AND "
    "children.next_visit_due <= $16::TIMESTAMP WITH TIME ZONE AND (EXISTS (SELECT 1 FROM "
    "session_check WHERE session_check.session_live AND session_check.session_fits))) "
    "SELECT counts.overdue, counts.due_soon, child.id, child.county_code, child.name, "
    "child.area_code, child.risk_level, child.categories, child.next_visit_due, "
    "child.last_visit_at, latest.id AS latest_visit_id, latest.follow_up_actions, "
    "open_duties.duties, (SELECT array_agg((returned.id, returned.child_id, returned.name, "
    "returned.visited_at, returned.review_comment, returned.reviewed_by, "
    "returned.reviewed_at, returned.version) ORDER BY returned.reviewed_at DESC) AS "
    "array_agg_1 FROM returned) AS returned, session_check.session_live, "
    "session_check.session_fits, session_check.session_role, session_check.session_area "
    "FROM (SELECT 1 AS one) AS one LEFT OUTER JOIN session_check ON true LEFT OUTER JOIN "
    "counts ON true LEFT OUTER JOIN ((SELECT children.id AS id, children.county_code AS "
    "county_code, children.next_visit_due AS next_visit_due FROM children WHERE "
    "children.county_code = $12::VARCHAR AND children.area_code = $13::VARCHAR AND "
    "children.status = 'active' AND children.next_visit_due <= $16::TIMESTAMP WITH TIME "
    "ZONE AND (EXISTS (SELECT 1 FROM session_check WHERE session_check.session_live AND "
    "session_check.session_fits)) ORDER BY children.next_visit_due, children.id LIMIT "
    "$17::INTEGER) AS page JOIN children AS child ON child.id = page.id AND "
    "child.county_code = page.county_code LEFT OUTER JOIN LATERAL (SELECT visits.id AS id, "
    "visits.follow_up_actions AS follow_up_actions FROM visits WHERE visits.county_code = "
    "page.county_code AND visits.child_id = page.id AND visits.is_current ORDER BY "
    "visits.visited_at DESC, visits.id DESC LIMIT $18::INTEGER) AS latest ON true LEFT "
    "OUTER JOIN LATERAL (SELECT array_agg((child_duties.kind, child_duties.due_at, "
    "child_duties.case_id) ORDER BY child_duties.due_at, child_duties.id) AS duties FROM "
    "child_duties WHERE child_duties.child_id = page.id AND child_duties.met_at IS NULL) "
    "AS open_duties ON true) ON true ORDER BY page.next_visit_due, page.id"
)
CHILDREN_AT_ONCE = (
    "WITH session_check AS (SELECT users.is_active AND token_families.revoked_at IS NULL "
    "AS session_live, users.role = $2::VARCHAR AND coalesce(users.area_code, '') = "
    "$10::VARCHAR AS session_fits, users.role AS session_role, users.area_code AS "
    "session_area FROM users JOIN token_families ON token_families.user_id = users.id "
    "WHERE users.id = $1::UUID AND token_families.id = $11::UUID), page AS (SELECT "
    "children.county_code AS county_code, children.id AS id, children.area_code AS "
    "area_code, children.name AS name, children.gender AS gender, children.birth_date AS "
    "birth_date, children.id_number_masked AS id_number_masked, children.categories AS "
    "categories, children.school AS school, children.assigned_director_id AS "
    "assigned_director_id, children.risk_level AS risk_level, children.status AS status, "
    "children.last_visit_at AS last_visit_at, children.next_visit_due AS next_visit_due, "
    "children.version AS version, children.updated_at AS updated_at FROM children WHERE "
    "children.county_code = $8::VARCHAR AND children.area_code = $9::VARCHAR AND (EXISTS "
    "(SELECT 1 FROM session_check WHERE session_check.session_live AND "
    "session_check.session_fits)) ORDER BY children.county_code, children.area_code, "
    "children.id LIMIT $12::INTEGER), audited AS (INSERT INTO audit_log (actor_id, "
    "actor_role, client_id, action, resource_type, resource_id, county_code, area_code, "
    "request_id) SELECT $1 AS anon_1, $2 AS anon_2, NULL AS anon_3, $3::VARCHAR AS anon_4, "
    "$4::VARCHAR AS anon_5, page.id AS id, CASE WHEN (length(page.area_code) >= "
    "$5::INTEGER) THEN left(page.area_code, $6::INTEGER) END AS anon_6, page.area_code AS "
    "area_code, $7::VARCHAR AS anon_7 FROM page ORDER BY page.county_code, page.area_code, "
    "page.id) SELECT session_check.session_live, session_check.session_fits, "
    "session_check.session_role, session_check.session_area, page.county_code, page.id, "
    "page.area_code, page.name, page.gender, page.birth_date, page.id_number_masked, "
    "page.categories, page.school, page.assigned_director_id, page.risk_level, "
    "page.status, page.last_visit_at, page.next_visit_due, page.version, page.updated_at "
    "FROM (SELECT 1 AS one) AS one LEFT OUTER JOIN session_check ON true LEFT OUTER JOIN "
    "page ON true ORDER BY page.county_code, page.area_code, page.id"
)

# The statements of each read, in order (the drift test compares them with the API's).
STATEMENTS: dict[str, list[str]] = {
    "child": [CHILD_AT_ONCE],
    "worklist": [WORKLIST_AT_ONCE],
    "children": [CHILDREN_AT_ONCE],
}
READS = ("child", "worklist", "children")
# The one-statement baseline (issue #23) serves these: the three reads of a village director,
# and the worklist of a township supervisor and of a county officer (the same path).
ONE_READS = (
    "child", "worklist", "worklist_township", "worklist_county", "children",
    "sync_changes", "sync_changes_after", "visit_put",
)  # fmt: skip
ROLE_OF_READ = {
    "worklist_township": "township_supervisor",
    "worklist_county": "county_officer",
}
# Not one of the three reads (no target): GET /healthz, no database and no token, the cost of
# the process itself. With the database out of the way it shows what a second worker adds
# where the machine has a core to give it (`--reads health --workers 1,2`).
EXTRA_READS = ("health",)
PAGE_LIMIT = 50
RETURNED_LIMIT = 50
CHINA_TZ = timezone(timedelta(hours=8))
_DAY = 86400

# The JSON the API answers, field by field (schemas/child.py, schemas/worklist.py).
SUMMARY_FIELDS = (
    "id", "area_code", "name", "gender", "birth_date", "age", "id_number", "categories",
    "school", "assigned_director_id", "risk_level", "status", "last_visit_at",
    "next_visit_due", "version", "updated_at",
)  # fmt: skip
READ_FIELDS = (
    *SUMMARY_FIELDS, "ethnicity", "household_registration", "residence", "address",
    "family_situation", "main_income_source", "father", "mother", "grade",
    "enrolment_status", "boarding", "dropout_risk", "dropout_reported_on", "health_notes",
    "disability_notes", "subsidies", "pairing_helper_name", "pairing_helper_phone",
    "risk_reason", "risk_set_by", "risk_set_at", "closed_reason", "closed_at", "created_at",
    "created_by", "updated_by",
)  # fmt: skip
PARENT_FIELDS = ("situation", "work_place", "away_since", "note")


# --- the baseline server ---------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, (date, uuid.UUID)):
        return str(value)
    raise TypeError(type(value).__name__)


def dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=_default).encode()


def _json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status, headers, media_type="application/json")


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _parent(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else {k: value.get(k) for k in PARENT_FIELDS}


def _money(value: Any) -> str | None:
    """Money as the API writes it: a decimal string with two places ("380.00")."""
    return None if value is None else f"{Decimal(str(value)):.2f}"


def _subsidy(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": value.get("kind"),
        "monthly_amount": _money(value.get("monthly_amount")),
        "from": value.get("from"),
        "to": value.get("to"),
    }


def _child(row: asyncpg.Record, fields: tuple[str, ...], today: date) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in fields:
        if name == "age":
            out[name] = _age(row["birth_date"], today)
        elif name == "id_number":
            out[name] = row["id_number_masked"]
        elif name in ("father", "mother"):
            out[name] = _parent(row[name])
        elif name == "subsidies":
            out[name] = [_subsidy(s) for s in row[name]]
        else:
            out[name] = row[name]
    return out


class _Unauthorized(Exception):
    pass


@dataclass
class Caller:
    user_id: uuid.UUID
    role: str
    area: str
    request_id: str


class Baseline:
    """The state of one baseline process: settings and the pool."""

    def __init__(self, url: str, settings: Settings, pool_size: int) -> None:
        self.dsn = datagen.dsn(url)
        self.key = settings.signing_keys[0]
        self.issuer = settings.jwt_issuer
        self.pool_size = pool_size
        self.pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        async def init(conn: asyncpg.Connection) -> None:
            # As SQLAlchemy's asyncpg dialect does: json and jsonb decoded to Python values.
            for name in ("json", "jsonb"):
                await conn.set_type_codec(
                    name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
                )

        self.pool = await asyncpg.create_pool(
            self.dsn,
            min_size=self.pool_size,
            max_size=self.pool_size,
            init=init,
            server_settings={"jit": "off", "application_name": "childprotect-baseline"},
        )

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    def token(self, request: Request) -> tuple[uuid.UUID, uuid.UUID, str, str]:
        """The caller's user id, session, role and area from the verified token."""
        try:
            user_id, session_id = self.claims(request)
            data = jwt.get_unverified_claims(request.headers["authorization"][7:])
            return user_id, session_id, str(data["role"]), str(data.get("area") or "")
        except KeyError as e:
            raise _Unauthorized from e

    async def alone(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """One statement on its own (no BEGIN): the rows when the session holds."""
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(sql, *args)
        if not rows or not rows[0]["session_live"] or not rows[0]["session_fits"]:
            raise _Unauthorized
        return rows

    async def child_alone(self, request: Request) -> Response:
        """GET /children/{id} as the API runs it since #23: CHILD_AT_ONCE alone, no BEGIN."""
        try:
            user_id, session_id, role, area = self.token(request)
        except _Unauthorized:
            return _json_response({"status": 401, "code": "unauthorized"}, 401)
        try:
            child_id = uuid.UUID(request.path_params["child_id"])
        except ValueError:
            return _json_response({"status": 422, "code": "validation_error"}, 422)
        rid = secrets.token_hex(8)
        args = (user_id, role, "child.read", "child", 6, 6, rid, child_id, area[:6], area, area)
        try:
            row = (await self.alone(CHILD_AT_ONCE, *args, session_id))[0]
        except _Unauthorized:
            return _json_response({"status": 401, "code": "unauthorized"}, 401)
        if row["id"] is None:
            return _json_response({"status": 404, "code": "not_found"}, 404)
        body = _child(row, READ_FIELDS, datetime.now(UTC).astimezone(CHINA_TZ).date())
        return _json_response(body, headers={"ETag": f'"{row["version"]}"'})

    async def worklist_alone(self, request: Request) -> Response:
        """GET /worklist as the API runs it since #23: WORKLIST_AT_ONCE alone, no BEGIN."""
        now = datetime.now(UTC)
        try:
            user_id, session_id, role, area = self.token(request)
            rows = await self.alone(
                WORKLIST_AT_ONCE, user_id, role, "list", "worklist", area or None, 6, 6,
                secrets.token_hex(8), area, session_id, user_id, area[:6], area,
                RETURNED_LIMIT, now, now + timedelta(days=7), PAGE_LIMIT, 1,
            )  # fmt: skip
        except _Unauthorized:
            return _json_response({"status": 401, "code": "unauthorized"}, 401)
        duties = {
            r["id"]: [
                {"kind": kind, "due_at": due, "overdue": due <= now, "case_id": case}
                for kind, due, case in r["duties"] or ()
            ]
            for r in rows
            if r["id"] is not None
        }
        return _json_response(_worklist_body(rows, duties, rows[0]["returned"] or [], now))

    async def children_alone(self, request: Request) -> Response:
        """GET /children as the API runs it since #23: CHILDREN_AT_ONCE alone, no BEGIN."""
        try:
            user_id, session_id, role, area = self.token(request)
            rows = await self.alone(
                CHILDREN_AT_ONCE, user_id, role, "child.list", "child", 6, 6,
                secrets.token_hex(8), area[:6], area, area, session_id, PAGE_LIMIT,
            )  # fmt: skip
        except _Unauthorized:
            return _json_response({"status": 401, "code": "unauthorized"}, 401)
        rows = [r for r in rows if r["id"] is not None]
        today = datetime.now(UTC).astimezone(CHINA_TZ).date()
        next_cursor = None
        if len(rows) == PAGE_LIMIT:
            last = rows[-1]
            next_cursor = encode_cursor([last["county_code"], last["area_code"], str(last["id"])])
        return _json_response(
            {"items": [_child(r, SUMMARY_FIELDS, today) for r in rows], "next_cursor": next_cursor}
        )

    def claims(self, request: Request) -> tuple[uuid.UUID, uuid.UUID]:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            raise _Unauthorized
        try:
            data = jwt.decode(
                auth[7:],
                self.key,
                algorithms=["HS256"],
                issuer=self.issuer,
                options={"require_exp": True, "require_iat": True, "require_sub": True},
            )
            return uuid.UUID(data["sub"]), uuid.UUID(data["sid"])
        except (JWTError, KeyError, ValueError) as e:
            raise _Unauthorized from e

    async def caller(self, conn: asyncpg.Connection, request: Request) -> Caller:
        user_id, session_id = self.claims(request)
        row = await conn.fetchrow(SESSION_CHECK, user_id, session_id)
        if row is None or not row["is_active"] or row["revoked_at"] is not None:
            raise _Unauthorized
        if row["role"] != "village_director":
            raise _Unauthorized  # the baseline serves village directors only
        return Caller(user_id, row["role"], row["area_code"], secrets.token_hex(8))

    async def serve(
        self,
        request: Request,
        read: Callable[[asyncpg.Connection, Caller, Request], Awaitable[Response]],
    ) -> Response:
        assert self.pool is not None
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                caller = await self.caller(conn, request)
                return await read(conn, caller, request)
        except _Unauthorized:
            return _json_response({"status": 401, "code": "unauthorized"}, 401)


def _worklist_body(
    rows: list[Any], duties: dict[Any, list[dict[str, Any]]], returned: list[Any], now: datetime
) -> dict[str, Any]:
    """The Worklist JSON (schemas/worklist.py) from the page rows, their open duties and the
    returned visits (tuples in WORKLIST_RETURNED's column order)."""
    items = []
    for r in rows:
        if r["id"] is None:
            continue
        late = (now - r["next_visit_due"]).total_seconds()
        items.append(
            {
                "child": {
                    "id": r["id"],
                    "name": r["name"],
                    "area_code": r["area_code"],
                    "risk_level": r["risk_level"],
                    "categories": r["categories"],
                },
                "next_visit_due": r["next_visit_due"],
                "last_visit_at": r["last_visit_at"],
                "overdue": late > 0,
                "days_overdue": int(late // _DAY) if late > 0 else 0,
                "open_follow_ups": [
                    {"action": a["action"], "due_on": a["due_on"], "done": a.get("done", False)}
                    for a in r["follow_up_actions"] or ()
                    if not a.get("done")
                ],
                "latest_visit_id": r["latest_visit_id"],
                "duties": duties[r["id"]],
            }
        )
    next_cursor = None
    if len(items) == PAGE_LIMIT:
        last = items[-1]
        next_cursor = encode_cursor([last["next_visit_due"].isoformat(), str(last["child"]["id"])])
    # Red and orange children with open duties first among equally overdue (a stable sort).
    items.sort(
        key=lambda i: (
            -i["days_overdue"],
            0 if i["child"]["risk_level"] in ("red", "orange") and i["duties"] else 1,
        )
    )
    return {
        "items": items,
        "next_cursor": next_cursor,
        "counts": {"overdue": rows[0]["overdue"], "due_soon": rows[0]["due_soon"]},
        "returned_visits": [
            {
                "id": v[0],
                "child_id": v[1],
                "child_name": v[2],
                "visited_at": v[3],
                "review_comment": v[4],
                "reviewed_by": v[5],
                "reviewed_at": v[6],
                "version": v[7],
            }
            for v in returned
        ],
        "as_of": now,
        "within_days": 7,
        "agreement_follow_ups": None,
    }


def baseline_app(url: str | None = None, settings: Settings | None = None) -> Starlette:
    """The baseline ASGI app (DATABASE_URL and the API's settings from the environment)."""
    settings = settings or Settings()
    url = url or settings.database_url
    assert url, "DATABASE_URL is not set"
    state = Baseline(url, settings, pool_size=settings.db_pool_size)

    async def child(request: Request) -> Response:
        return await state.child_alone(request)

    async def worklist(request: Request) -> Response:
        return await state.worklist_alone(request)

    async def children(request: Request) -> Response:
        return await state.children_alone(request)

    async def ready(request: Request) -> Response:
        return Response(b'{"status":"ready"}', media_type="application/json")

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = Starlette(
        routes=[
            Route("/healthz", ready),
            Route("/api/v1/worklist", worklist),
            Route("/api/v1/children", children),
            Route("/api/v1/children/{child_id}", child),
        ],
        lifespan=lifespan,
    )
    app.state.baseline = state
    return app


def app_factory() -> Starlette:
    """Entry point for uvicorn (`--factory`)."""
    return baseline_app()


# --- the one-statement baseline --------------------------------------------------------------
#
# The same mandated work per request, in ONE statement sent in autocommit (no BEGIN/COMMIT):
# the token verified as the API does (its own decode_access_token: key, issuer, algorithm
# list and its cache of verified tokens), then one statement whose CTEs check the login
# session (active account, session not revoked, role and area still those of the token), run
# the scoped read only when the session holds, and INSERT the audit row(s) only when it
# holds (a data-modifying CTE always runs, and the statement is atomic: the read and its
# audit row stand or fall together). The scope is the API's own definition (scope_filter's
# terms). When the account's role or area changed since the token was issued the statement
# reads nothing and the request is answered by a second statement scoped by the row, as the
# API scopes by the row (rare: at most two statements then). This is what the API would cost
# at one round trip per read: issue #23.

ONE_ROLES = ("village_director", "township_supervisor", "county_officer")
_AUDIT_COLUMNS = (
    "actor_id, actor_role, client_id, action, resource_type, resource_id, county_code, "
    "area_code, request_id"
)
# @user @session @role @area @rid: the caller, from the token; @county: the audit row's.
ONE_SESSION = (
    "s AS (SELECT users.is_active AND token_families.revoked_at IS NULL AS live, "
    "users.role AS caller_role, users.area_code AS caller_area, "
    "users.role = @role::VARCHAR AND coalesce(users.area_code, '') = @area::VARCHAR AS fits "
    "FROM users JOIN token_families ON token_families.user_id = users.id "
    "WHERE users.id = @user::UUID AND token_families.id = @session::UUID), "
    "ok AS (SELECT 1 FROM s WHERE s.live AND s.fits)"
)
ONE_HEAD = "SELECT s.live, s.fits, s.caller_role, s.caller_area"
ONE_CHILD = (
    f"WITH {ONE_SESSION}, "
    f"c AS (SELECT {CHILD_COLUMNS} FROM children WHERE children.id = @child::UUID "
    "AND {scope} AND EXISTS (SELECT 1 FROM ok)), "
    f"a AS (INSERT INTO audit_log ({_AUDIT_COLUMNS}) SELECT @user::UUID, @role::VARCHAR, NULL, "
    "'child.read', 'child', c.id, left(c.area_code, 6), c.area_code, @rid::VARCHAR FROM c) "
    f"{ONE_HEAD}, c.* FROM (SELECT 1) AS one LEFT JOIN s ON true LEFT JOIN c ON true"
)
ONE_CHILDREN = (
    f"WITH {ONE_SESSION}, "
    f"p AS (SELECT {SUMMARY_COLUMNS} FROM children WHERE {{scope}} AND EXISTS (SELECT 1 FROM ok) "
    "ORDER BY children.county_code, children.area_code, children.id LIMIT @limit::INTEGER), "
    f"a AS (INSERT INTO audit_log ({_AUDIT_COLUMNS}) SELECT @user::UUID, @role::VARCHAR, NULL, "
    "'child.list', 'child', p.id, left(p.area_code, 6), p.area_code, @rid::VARCHAR FROM p "
    "ORDER BY p.county_code, p.area_code, p.id) "
    f"{ONE_HEAD}, p.* FROM (SELECT 1) AS one LEFT JOIN s ON true LEFT JOIN p ON true "
    "ORDER BY p.county_code, p.area_code, p.id"
)
_ONE_DUE = (
    "{scope} AND children.status = 'active' AND children.next_visit_due <= "
    "@horizon::TIMESTAMP WITH TIME ZONE AND EXISTS (SELECT 1 FROM ok)"
)
ONE_WORKLIST = (
    f"WITH {ONE_SESSION}, "
    "counts AS (SELECT count(*) FILTER (WHERE children.next_visit_due < "
    "@now::TIMESTAMP WITH TIME ZONE) AS overdue, count(*) FILTER (WHERE "
    "children.next_visit_due >= @now::TIMESTAMP WITH TIME ZONE) AS due_soon FROM children "
    f"WHERE {_ONE_DUE}), "
    "p AS (SELECT counts.overdue, counts.due_soon, child.id, child.county_code, child.name, "
    "child.area_code, child.risk_level, child.categories, child.next_visit_due, "
    "child.last_visit_at, latest.id AS latest_visit_id, latest.follow_up_actions "
    "FROM counts LEFT OUTER JOIN ((SELECT children.id AS id, children.county_code AS "
    "county_code, children.next_visit_due AS next_visit_due FROM children WHERE "
    f"{_ONE_DUE} ORDER BY children.next_visit_due, children.id LIMIT @limit::INTEGER) AS page "
    "JOIN children AS child ON child.id = page.id AND child.county_code = page.county_code "
    "LEFT OUTER JOIN LATERAL (SELECT visits.id AS id, visits.follow_up_actions AS "
    "follow_up_actions FROM visits WHERE visits.county_code = page.county_code AND "
    "visits.child_id = page.id AND visits.is_current ORDER BY visits.visited_at DESC, "
    "visits.id DESC LIMIT 1) AS latest ON true) ON true), "
    "d AS (SELECT child_duties.child_id, array_agg(ROW(child_duties.kind, child_duties.due_at, "
    "child_duties.case_id) ORDER BY child_duties.due_at, child_duties.id) AS duties "
    "FROM child_duties WHERE child_duties.child_id IN (SELECT p.id FROM p WHERE p.id IS NOT NULL) "
    "AND child_duties.met_at IS NULL GROUP BY child_duties.child_id), "
    "r AS (SELECT visits.id, visits.child_id, children.name, visits.visited_at, "
    "visits.review_comment, visits.reviewed_by, visits.reviewed_at, visits.version "
    "FROM visits JOIN children ON children.id = visits.child_id "
    "WHERE visits.visitor_id = @user::UUID AND visits.status = 'returned' AND visits.is_current "
    "AND {scope} AND EXISTS (SELECT 1 FROM ok) ORDER BY visits.reviewed_at DESC "
    "LIMIT @returned::INTEGER), "
    f"a AS (INSERT INTO audit_log ({_AUDIT_COLUMNS}) SELECT @user::UUID, @role::VARCHAR, NULL, "
    "'list', 'worklist', NULL, @county::VARCHAR, @area::VARCHAR, @rid::VARCHAR FROM ok) "
    f"{ONE_HEAD}, (SELECT array_agg(ROW(r.*) ORDER BY r.reviewed_at DESC) FROM r) AS returned, "
    "p.*, d.duties FROM (SELECT 1) AS one LEFT JOIN s ON true "
    "LEFT JOIN (p LEFT JOIN d ON d.child_id = p.id) ON true ORDER BY p.next_visit_due, p.id"
)
ONE_STATEMENTS = {"child": ONE_CHILD, "children": ONE_CHILDREN, "worklist": ONE_WORKLIST}


def _scope_sql(role: str, area: str, user_id: uuid.UUID) -> tuple[str, list[str]]:
    """The API's scope (security/scope.py: scope_filter) as SQL text over `children` with
    @scope0.. parameters, and their values."""
    flt = scope_filter(Scope("user", user_id, role, area), "area", "county")
    parts, values = [], []
    for i, (column, op, _name, value) in enumerate(flt.terms):
        sql_op = "=" if op == "==" else op
        parts.append(f"children.{column}_code {sql_op} @scope{i}::VARCHAR")
        values.append(value)
    return " AND ".join(parts) or "true", values


@functools.lru_cache(maxsize=64)
def one_statement(read: str, scope_sql: str, n_scope: int) -> tuple[str, tuple[str, ...]]:
    """The statement of `read` for one shape of scope, numbered for asyncpg ($1, $2, ...),
    and its parameter names in order."""
    text = ONE_STATEMENTS[read].replace("{scope}", scope_sql)
    # {scope:TABLE}: the same terms over another table's county and area columns.
    text = re.sub(
        r"\{scope:([a-z_]+)\}", lambda m: scope_sql.replace("children.", m[1] + "."), text
    )
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return re.sub(r"@([a-z]+[0-9]*)", number, text), tuple(names)


class OneStatement:
    """The state of one one-statement baseline process: settings and the pool. With
    `log_statements`, every statement its connections send is appended to `statements`
    (asyncpg's own query logger: what goes over the wire, BEGIN and COMMIT included)."""

    def __init__(self, url: str, settings: Settings, pool_size: int) -> None:
        self.dsn = datagen.dsn(url)
        self.settings = settings
        self.pool_size = pool_size
        self.pool: asyncpg.Pool | None = None
        self.log_statements = False
        self.statements: list[str] = []

    async def start(self) -> None:
        async def init(conn: asyncpg.Connection) -> None:
            for name in ("json", "jsonb"):
                await conn.set_type_codec(
                    name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
                )
            if self.log_statements:
                conn.add_query_logger(lambda q: self.statements.append(q.query))

        self.pool = await asyncpg.create_pool(
            self.dsn,
            min_size=self.pool_size,
            max_size=self.pool_size,
            init=init,
            # Nothing is left on a connection to reset (no advisory locks, cursors, LISTEN or
            # SET): asyncpg's default reset would be a second round trip per request.
            reset=_keep,
            server_settings={"jit": "off", "application_name": "childprotect-onestatement"},
        )

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    def claims(self, request: Request) -> AccessClaims:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            raise _Unauthorized
        try:
            claims = decode_access_token(self.settings, auth[7:])
        except InvalidToken as e:
            raise _Unauthorized from e
        if claims.kind != "user" or claims.session_id is None:
            raise _Unauthorized  # the baseline serves users, not integration clients
        return claims

    async def run(
        self, read: str, claims: AccessClaims, params: dict[str, Any]
    ) -> tuple[list[asyncpg.Record], str]:
        """The rows of the read's one statement (the session holds), and the caller's role."""
        assert self.pool is not None
        role, area = claims.role, claims.area
        for _ in range(2):
            if role not in ONE_ROLES:
                raise _Forbidden
            scope_sql, scope_values = _scope_sql(role, area, claims.subject)
            sql, names = one_statement(read, scope_sql, len(scope_values))
            values = {
                **params,
                "user": claims.subject,
                "session": claims.session_id,
                "role": role,
                "area": area,
                "county": area[:6] if len(area) >= 6 else None,
                "rid": secrets.token_hex(8),
                **{f"scope{i}": v for i, v in enumerate(scope_values)},
            }
            async with self.pool.acquire() as conn:
                rows = await conn.fetch(sql, *(values[n] for n in names))
            head = rows[0]
            if not head["live"]:
                raise _Unauthorized
            if head["fits"]:
                return rows, role
            # Role or area changed since the token: scope by the row, as the API does.
            role, area = head["caller_role"], head["caller_area"] or ""
        raise _Unauthorized

    async def serve(
        self, request: Request, read: Callable[[OneStatement, Request], Awaitable[Response]]
    ) -> Response:
        try:
            return await read(self, request)
        except _Unauthorized:
            return _json_response({"status": 401, "code": "unauthorized"}, 401)
        except _Forbidden:
            return _json_response({"status": 403, "code": "role_forbidden"}, 403)


class _Forbidden(Exception):
    pass


async def _keep(conn: asyncpg.Connection) -> None:
    """A pool's reset that sends nothing."""


def _today() -> date:
    return datetime.now(UTC).astimezone(CHINA_TZ).date()


async def _one_child(state: OneStatement, request: Request) -> Response:
    claims = state.claims(request)
    try:
        child_id = uuid.UUID(request.path_params["child_id"])
    except ValueError:
        return _json_response({"status": 422, "code": "validation_error"}, 422)
    rows, _ = await state.run("child", claims, {"child": child_id})
    row = rows[0]
    if row["id"] is None:
        return _json_response({"status": 404, "code": "not_found"}, 404)
    body = _child(row, READ_FIELDS, _today())
    return _json_response(body, headers={"ETag": f'"{row["version"]}"'})


async def _one_children(state: OneStatement, request: Request) -> Response:
    claims = state.claims(request)
    rows, _ = await state.run("children", claims, {"limit": PAGE_LIMIT})
    rows = [r for r in rows if r["id"] is not None]
    today = _today()
    next_cursor = None
    if len(rows) == PAGE_LIMIT:
        last = rows[-1]
        next_cursor = encode_cursor([last["county_code"], last["area_code"], str(last["id"])])
    return _json_response(
        {"items": [_child(r, SUMMARY_FIELDS, today) for r in rows], "next_cursor": next_cursor}
    )


async def _one_worklist(state: OneStatement, request: Request) -> Response:
    claims = state.claims(request)
    now = datetime.now(UTC)
    params = {
        "now": now,
        "horizon": now + timedelta(days=7),
        "limit": PAGE_LIMIT,
        "returned": RETURNED_LIMIT,
    }
    rows, _ = await state.run("worklist", claims, params)
    duties: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        if r["id"] is not None:
            duties[r["id"]] = [
                {"kind": kind, "due_at": due, "overdue": due <= now, "case_id": case}
                for kind, due, case in r["duties"] or ()
            ]
    return _json_response(_worklist_body(rows, duties, rows[0]["returned"] or [], now))


def one_statement_app(url: str | None = None, settings: Settings | None = None) -> Starlette:
    """The one-statement baseline ASGI app (DATABASE_URL and settings from the environment)."""
    settings = settings or Settings()
    url = url or settings.database_url
    assert url, "DATABASE_URL is not set"
    state = OneStatement(url, settings, pool_size=settings.db_pool_size)

    async def child(request: Request) -> Response:
        return await state.serve(request, _one_child)

    async def worklist(request: Request) -> Response:
        return await state.serve(request, _one_worklist)

    async def children(request: Request) -> Response:
        return await state.serve(request, _one_children)

    async def sync(request: Request) -> Response:
        return await state.serve(request, _one_sync)

    async def visit_put(request: Request) -> Response:
        return await state.serve(request, _one_visit_put)

    async def ready(request: Request) -> Response:
        return Response(b'{"status":"ready"}', media_type="application/json")

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = Starlette(
        routes=[
            Route("/healthz", ready),
            Route("/api/v1/worklist", worklist),
            Route("/api/v1/children", children),
            Route("/api/v1/children/{child_id}", child),
            Route("/api/v1/sync/changes", sync),
            Route("/api/v1/visits/{visit_id}", visit_put, methods=["PUT"]),
        ],
        lifespan=lifespan,
    )
    app.state.one_statement = state
    return app


def one_statement_factory() -> Starlette:
    """Entry point for uvicorn (`--factory`)."""
    return one_statement_app()


# --- the one-statement baseline: the sync changes page and the visit PUT (issue #23) ---------
#
# The same mandated work as the API's GET /sync/changes and PUT /visits/{id}, each in ONE
# statement in autocommit: the login-session check gates everything, as for the reads above.
# `{scope:TABLE}` is the API's scope over TABLE's own county and area columns.

# The visit as VisitRead answers it, rendered by PostgreSQL as the API's feed renders it
# (services/sync/feed.py: visit_upsert_json): timestamps in UTC with "Z", microseconds unless
# zero. Built from the schema's fields, so it follows VisitRead.
_TIME = '\'YYYY-MM-DD"T"HH24:MI:SS"Z"\''
_TIME_US = '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\''


def _visit_json_sql(table: str) -> str:
    parts = []
    for name, fld in VisitRead.model_fields.items():
        c = f"{table}.{name}"
        if fld.annotation is datetime or datetime in get_args(fld.annotation):
            c = (
                f"to_char(timezone('UTC', {c}), CASE WHEN date_trunc('second', {c}) = {c} "
                f"THEN {_TIME} ELSE {_TIME_US} END)"
            )
        parts.append(f"'{name}', {c}")
    data = "json_build_object(" + ", ".join(parts) + ")"
    return (
        f"CAST(json_build_object('kind', 'visit', 'type', 'visit', 'id', {table}.id, "
        f"'op', 'upsert', 'version', {table}.version, 'data', {data}) AS TEXT)"
    )


VISIT_ITEM_SQL = _visit_json_sql("visits")
# A child the phones keep (feed.py: _child_kept), over the child joined as `k`.
_KEPT = (
    "k.anonymised_at IS NULL AND (k.status <> 'closed' OR k.closed_at IS NULL "
    "OR k.closed_at >= @cutoff::TIMESTAMP WITH TIME ZONE)"
)
# Why a child (or a record of a child), joined as `k`, is no longer kept; NULL: it is.
_GONE = (
    "CASE WHEN k.anonymised_at IS NOT NULL THEN 'anonymised' WHEN k.status = 'closed' AND "
    "k.closed_at IS NOT NULL AND k.closed_at < @cutoff::TIMESTAMP WITH TIME ZONE "
    "THEN 'closed' END"
)
_HORIZON_SQL = " ".join(sync_feed.HORIZON_SQL.split())
_OK = "EXISTS (SELECT 1 FROM ok)"


def _load_branch(kind: int, table: str, keyset: str, *, child: bool, scoped: str) -> str:
    """The initial load's rows of one type (feed.py: _initial_rows), after the cursor's
    keyset when the cursor is at this type, none when it is past it."""
    join = f" JOIN children AS k ON k.id = {table}.child_id" if child else ""
    kept = f" AND {_KEPT}" if child else ""
    at = f"{table}.visited_at" if table == "visits" else "NULL::TIMESTAMP WITH TIME ZONE"
    item = VISIT_ITEM_SQL if table == "visits" else f"CAST(to_jsonb({table}.*) AS TEXT)"
    item = "NULL::TEXT" if table == "children" else item
    order = f"{table}.visited_at, {table}.id" if table == "visits" else f"{table}.id"
    current = " AND visits.is_current" if table == "visits" else ""
    return (
        f"(SELECT {kind} AS k, {table}.id AS id, {at} AS at, {table}.area_code AS area, "
        f"{item} AS item FROM {table}{join} WHERE {scoped}{current}{kept} "
        f"AND @kind::INTEGER <= {kind} AND (@kind::INTEGER < {kind} OR @afterid::UUID IS NULL "
        f"OR {keyset}) AND {_OK} ORDER BY {order} LIMIT @limit::INTEGER)"
    )


_LOAD_BRANCHES = [
    _load_branch(
        0, "children", "children.id > @afterid::UUID", child=False, scoped="{scope} AND "
        + _KEPT.replace("k.", "children."),
    ),
    _load_branch(
        1, "agreements", "agreements.id > @afterid::UUID", child=True,
        scoped="{scope:agreements}",
    ),
    _load_branch(
        2, "visits",
        "(visits.visited_at, visits.id) > (@afterat::TIMESTAMP WITH TIME ZONE, @afterid::UUID)",
        child=True, scoped="{scope:visits}",
    ),
    _load_branch(
        3, "reports", "reports.id > @afterid::UUID", child=False,
        scoped="reports.reporter_user_id = @user::UUID",
    ),
    _load_branch(
        4, "pairings", "pairings.id > @afterid::UUID", child=True, scoped="{scope:pairings}"
    ),
    _load_branch(5, "cases", "cases.id > @afterid::UUID", child=True, scoped="{scope:cases}"),
    _load_branch(
        6, "alerts", "alerts.id > @afterid::UUID", child=False,
        scoped="alerts.recipient_id = @user::UUID",
    ),
    _load_branch(7, "sites", "sites.id > @afterid::UUID", child=False, scoped="{scope:sites}"),
    _load_branch(
        8, "activities", "activities.id > @afterid::UUID", child=False,
        scoped="{scope:activities}",
    ),
    _load_branch(
        9, "category_applications", "category_applications.id > @afterid::UUID", child=False,
        scoped="{scope:category_applications}",
    ),
]  # fmt: skip
# The audit rows of a page (feed.py: _Shaper.audit): each child, agreement, pairing and case
# served, in that order and in page order; one row for the visits of the page.
_SYNC_AUDIT = (
    f"a AS (INSERT INTO audit_log ({_AUDIT_COLUMNS}) SELECT @user::UUID, @role::VARCHAR, NULL, "
    "'sync', x.rtype, x.rid, left(x.area, 6), x.area, @rid::VARCHAR FROM ("
    "SELECT served.ord, served.n, served.rtype, served.rid, served.area FROM served "
    "UNION ALL SELECT 9, 0, 'visit', NULL, @area::VARCHAR FROM (SELECT 1) AS one "
    "WHERE EXISTS (SELECT 1 FROM served_visits)) AS x ORDER BY x.ord, x.n)"
)
_AUDITED_TYPES = "CASE {t} WHEN 'child' THEN 0 WHEN 'agreement' THEN 1 WHEN 'pairing' THEN 2 " \
    "WHEN 'case' THEN 3 END"  # fmt: skip
_TYPE_OF_KIND = "(ARRAY[" + ", ".join(f"'{e}'" for e in sync_feed.ENTITIES) + "])[p.k + 1]"
# The initial load (no cursor, or a cursor of its phase): the horizon (first page only, from
# the statement's own snapshot), then up to @limit records across types in the feed's order
# (a UNION ALL under one LIMIT: PostgreSQL's Append runs its branches in order and stops at
# the limit), the audit rows of the @room served, the children's columns for rendering.
ONE_SYNC_LOAD = (
    f"WITH {ONE_SESSION}, "
    f"h AS (SELECT * FROM ({_HORIZON_SQL}) AS h WHERE @first::BOOLEAN), "
    "p AS (SELECT u.*, row_number() OVER () AS n FROM (SELECT * FROM ("
    + " UNION ALL ".join(_LOAD_BRANCHES)
    + ") AS b LIMIT @limit::INTEGER) AS u), "
    f"served AS (SELECT {_AUDITED_TYPES.format(t=_TYPE_OF_KIND)} AS ord, p.n, "
    f"{_TYPE_OF_KIND} AS rtype, p.id AS rid, p.area FROM p WHERE p.n <= @room::INTEGER "
    "AND p.k IN (0, 1, 4, 5)), "
    "served_visits AS (SELECT 1 FROM p WHERE p.k = 2 AND p.n <= @room::INTEGER), "
    f"{_SYNC_AUDIT} "
    f"{ONE_HEAD}, h.xmin::TEXT AS horizon, h.at AS horizon_at, p.k, p.n, p.id AS pid, p.at, "
    "p.item, "
    + ", ".join(f"c.{c}" for c in _CHILD_NAMES)
    + " FROM (SELECT 1) AS one LEFT JOIN s ON true LEFT JOIN h ON true "
    "LEFT JOIN (p LEFT JOIN children AS c ON p.k = 0 AND c.id = p.id) ON true ORDER BY p.n"
)
_LOG_COLUMNS = (
    "sync_changes.txid, sync_changes.seq, sync_changes.entity_type, sync_changes.entity_id, "
    "sync_changes.op, sync_changes.reason, sync_changes.changed_at"
)
_LOG_AFTER = (
    "(sync_changes.txid, sync_changes.seq) > (CAST(@aftertxid::VARCHAR AS XID8), "
    "@afterseq::INTEGER) AND sync_changes.txid < (SELECT h.xmin FROM h)"
)
# Records of other types (not children, not visits) found in scope (an upsert, unless the
# child's record is gone) or not (a tombstone), each as its row in JSON (rendered by the API's
# schema: _other_upsert).
_OTHER_FOUND = " UNION ALL ".join(
    f"SELECT '{e}'::VARCHAR AS t, {table}.id, {table}.area_code AS area, "
    f"CAST(to_jsonb({table}.*) AS TEXT) AS doc, {_GONE if child else 'NULL'} AS gone "
    f"FROM {table}{f' JOIN children AS k ON k.id = {table}.child_id' if child else ''} "
    f"WHERE {table}.id IN (SELECT e.entity_id FROM e WHERE e.entity_type = '{e}') AND {scoped}"
    for e, table, scoped, child in (
        ("agreement", "agreements", "{scope:agreements}", True),
        ("report", "reports", "reports.reporter_user_id = @user::UUID", False),
        ("pairing", "pairings", "{scope:pairings}", True),
        ("case", "cases", "{scope:cases}", True),
        ("alert", "alerts", "alerts.recipient_id = @user::UUID", False),
        ("site", "sites", "{scope:sites}", False),
        ("activity", "activities", "{scope:activities}", False),
        ("category_application", "category_applications", "{scope:category_applications}", False),
    )
)
# The changes phase (feed.py: changes_page): the horizon and up to @limit log rows after the
# cursor below it (area rows and the caller's own rows: two index range scans merged), the
# page's entities (each once: its last position, its latest tombstone reason), their current
# state (children and visits in scope, kept or why not; the others found or not), the audit
# rows of what is served.
ONE_SYNC_CHANGES = (
    f"WITH {ONE_SESSION}, h AS ({_HORIZON_SQL}), "
    "l AS (SELECT u.*, row_number() OVER (ORDER BY u.txid, u.seq) AS n FROM (SELECT * FROM ("
    f"(SELECT {_LOG_COLUMNS} FROM sync_changes WHERE {{scope:sync_changes}} AND "
    f"sync_changes.entity_type NOT IN ('report', 'alert') AND {_LOG_AFTER} AND {_OK} "
    "ORDER BY sync_changes.txid, sync_changes.seq LIMIT @limit::INTEGER) UNION ALL "
    f"(SELECT {_LOG_COLUMNS} FROM sync_changes WHERE sync_changes.filer_id = @user::UUID AND "
    f"sync_changes.entity_type IN ('report', 'alert') AND {_LOG_AFTER} AND {_OK} "
    "ORDER BY sync_changes.txid, sync_changes.seq LIMIT @limit::INTEGER)) AS b "
    "ORDER BY b.txid, b.seq LIMIT @limit::INTEGER) AS u), "
    "e AS (SELECT l.entity_type, l.entity_id, max(l.n) AS last, (array_agg(l.reason ORDER BY "
    "l.n DESC) FILTER (WHERE l.op = 'T'))[1] AS reason FROM l WHERE l.n <= @room::INTEGER "
    "GROUP BY l.entity_type, l.entity_id), "
    # Each entity's current state, looked up by its key (a child in scope, kept or why not;
    # a visit in scope, rendered, kept or why not), once: the audit and the answer read it.
    f"cur AS (SELECT e.entity_type, e.entity_id, e.last, e.reason, {CHILD_COLUMNS}, "
    f"CASE WHEN children.id IS NOT NULL THEN {_GONE.replace('k.', 'children.')} END "
    "AS child_gone, v.item, v.gone AS visit_gone FROM e LEFT JOIN children ON "
    "e.entity_type = 'child' AND children.id = e.entity_id AND {scope} "
    f"LEFT JOIN LATERAL (SELECT {VISIT_ITEM_SQL} AS item, coalesce({_GONE}, CASE WHEN NOT "
    "visits.is_current THEN 'superseded' END) AS gone FROM visits JOIN children AS k "
    "ON k.id = visits.child_id WHERE e.entity_type = 'visit' AND visits.id = e.entity_id "
    "AND {scope:visits}) AS v ON true), "
    f"os AS ({_OTHER_FOUND}), "
    "served AS (SELECT 0 AS ord, cur.last AS n, 'child' AS rtype, cur.id AS rid, "
    "cur.area_code AS area FROM cur WHERE cur.id IS NOT NULL AND cur.child_gone IS NULL "
    "UNION ALL SELECT CASE os.t WHEN 'agreement' THEN 1 WHEN 'pairing' "
    "THEN 2 ELSE 3 END, e.last, os.t, os.id, os.area FROM os JOIN e ON e.entity_type = os.t "
    "AND e.entity_id = os.id WHERE os.gone IS NULL AND os.t IN ('agreement', 'pairing', "
    "'case')), "
    "served_visits AS (SELECT 1 FROM cur WHERE cur.item IS NOT NULL AND cur.visit_gone IS NULL), "
    f"{_SYNC_AUDIT} "
    f"{ONE_HEAD}, h.xmin::TEXT AS horizon, h.at AS horizon_at, "
    "(SELECT count(*) FROM l) AS fetched, (SELECT ROW(l.txid::TEXT, l.seq, l.changed_at) "
    "FROM l WHERE l.n <= @room::INTEGER ORDER BY l.n DESC LIMIT 1) AS last_row, "
    "cur.*, os.doc, os.gone AS other_gone "
    "FROM (SELECT 1) AS one LEFT JOIN s ON true LEFT JOIN h ON true LEFT JOIN (cur "
    "LEFT JOIN os ON os.t = cur.entity_type AND os.id = cur.entity_id) ON true "
    "ORDER BY cur.last"
)

_VISIT_COLUMNS = ", ".join(f"visits.{c.name}" for c in Visit.__table__.columns)  # type: ignore[attr-defined]
_INTERVAL_OF = (
    "CASE {level} WHEN 'blue' THEN {blue} WHEN 'yellow' THEN {yellow} WHEN 'orange' "
    "THEN {orange} ELSE {red} END"
)
_DUE_DAYS = (
    "coalesce((SELECT "
    + _INTERVAL_OF.format(
        level="go.risk_level",
        blue="vp.blue_days",
        yellow="vp.yellow_days",
        orange="vp.orange_days",
        red="vp.red_days",
    )
    + " FROM visit_policies AS vp WHERE vp.county_code = go.county_code), "
    + _INTERVAL_OF.format(level="go.risk_level", **DEFAULT_INTERVAL_DAYS)
    + ")"
)
# PUT /visits/{id}, the phone's offline-first create (services/visits/service.py:
# create_visit), as one CTE chain: the visit under this id in scope (a retry: answered when the
# content is the same, audited as a read, else 409); else the child in scope, locked (FOR
# UPDATE) until the statement ends; the id taken out of scope (409); the child active and the
# visit neither in the future nor before the registration (else 409/422, nothing written);
# then the visit row, the child's last visit and due date (a later visit only; the county's
# intervals, else the defaults), the audit row and the outbox event. The change-log rows come
# from the tables' triggers, as for the API.
ONE_VISIT_PUT = (
    f"WITH {ONE_SESSION}, "
    f"e AS (SELECT {_VISIT_COLUMNS} FROM visits WHERE visits.id = @visit::UUID AND "
    f"{{scope:visits}} AND {_OK}), "
    "c AS (SELECT children.id, children.county_code, children.area_code, children.status, "
    "children.created_at, children.risk_level, children.last_visit_at FROM children "
    f"WHERE children.id = @child::UUID AND {{scope}} AND {_OK} AND NOT EXISTS "
    "(SELECT 1 FROM e) FOR UPDATE), "
    "t AS (SELECT 1 FROM visits WHERE visits.id = @visit::UUID AND EXISTS (SELECT 1 FROM c)), "
    "go AS (SELECT c.* FROM c WHERE c.status = 'active' AND NOT EXISTS (SELECT 1 FROM t) AND "
    "@visited::TIMESTAMP WITH TIME ZONE <= @latest::TIMESTAMP WITH TIME ZONE AND "
    "(c.created_at IS NULL OR @visited::TIMESTAMP WITH TIME ZONE >= c.created_at)), "
    "v AS (INSERT INTO visits (id, original_id, revision, is_current, child_id, county_code, "
    "area_code, visitor_id, visited_at, kind, latitude, longitude, accuracy_m, checklist, notes, "
    "suggested_risk_level, follow_up_actions, status, content_hash, version) SELECT "
    "@visit::UUID, @visit::UUID, 1, true, go.id, go.county_code, go.area_code, @user::UUID, "
    "@visited::TIMESTAMP WITH TIME ZONE, @kind::VARCHAR, @lat::FLOAT, @lon::FLOAT, "
    "@acc::FLOAT, @checklist::JSONB, @notes::VARCHAR, @suggested::VARCHAR, @actions::JSONB, "
    f"'submitted', @digest::VARCHAR, 1 FROM go RETURNING {_VISIT_COLUMNS}), "
    "u AS (UPDATE children SET last_visit_at = v.visited_at, next_visit_due = v.visited_at + "
    f"make_interval(days => {_DUE_DAYS}), version = children.version + 1, "
    "updated_at = @now::TIMESTAMP WITH TIME ZONE, updated_by = @user::UUID FROM v, go "
    "WHERE children.id = go.id AND children.county_code = go.county_code AND "
    "(go.last_visit_at IS NULL OR v.visited_at > go.last_visit_at) RETURNING children.id), "
    f"a AS (INSERT INTO audit_log ({_AUDIT_COLUMNS}) SELECT @user::UUID, @role::VARCHAR, "
    "NULL::UUID, 'create', 'visit', v.id, left(v.area_code, 6), v.area_code, @rid::VARCHAR FROM v "
    "UNION ALL SELECT @user::UUID, @role::VARCHAR, NULL::UUID, 'read', 'visit', e.id, "
    "left(e.area_code, 6), e.area_code, @rid::VARCHAR FROM e "
    "WHERE e.content_hash = @digest::VARCHAR), "
    "o AS (INSERT INTO outbox_events (event_type, county_code, area_code, resource_type, "
    "resource_id, payload) SELECT 'visit.created', left(v.area_code, 6), v.area_code, 'visit', "
    "v.id, jsonb_build_object('child_id', v.child_id::TEXT) FROM v), "
    "w AS (SELECT true AS created, v.* FROM v UNION ALL SELECT false, e.* FROM e "
    "WHERE e.content_hash = @digest::VARCHAR) "
    f"{ONE_HEAD}, EXISTS (SELECT 1 FROM e) AS existed, EXISTS (SELECT 1 FROM c) AS child_found, "
    "(SELECT c.status FROM c) AS child_status, EXISTS (SELECT 1 FROM t) AS taken, "
    "(SELECT count(*) FROM u) AS child_moved, w.* "
    "FROM (SELECT 1) AS one LEFT JOIN s ON true LEFT JOIN w ON true"
)
ONE_STATEMENTS.update(
    {"sync_load": ONE_SYNC_LOAD, "sync_changes": ONE_SYNC_CHANGES, "visit_put": ONE_VISIT_PUT}
)
VISIT_FIELDS = tuple(VisitRead.model_fields)


async def _villages_with_unrendered(url: str) -> set[str]:
    """The villages holding a record type the one-statement sync page does not render."""
    conn = await datagen.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT area_code FROM agreements UNION SELECT area_code FROM reports "
            "UNION SELECT area_code FROM cases"
        )
    finally:
        await conn.close()
    return {r["area_code"] for r in rows}


class _Unsupported(Exception):
    """A record type the baseline does not render (only children and visits: the types of
    the benchmark's datasets)."""


# The rarer records, rendered from their rows by the API's own schemas (as feed.py's
# _Shaper does): pairings, alerts, sites, activities, category applications. Agreements,
# reports and cases (their answers are assembled from more than their row) are not.
_OTHER_SCHEMAS: dict[str, tuple[Any, Any]] = {
    "pairing": (sync_schemas.PairingUpsert, PairingRead),
    "alert": (sync_schemas.AlertUpsert, AlertRead),
    "site": (sync_schemas.SiteUpsert, SiteRead),
    "activity": (sync_schemas.ActivityUpsert, ActivityRead),
    "category_application": (sync_schemas.CategoryApplicationUpsert, CategoryApplicationRead),
}


def _other_upsert(entity: str, doc: str) -> str:
    if entity not in _OTHER_SCHEMAS:
        raise _Unsupported(entity)
    upsert, read = _OTHER_SCHEMAS[entity]
    row = json.loads(doc)
    item = upsert(id=row["id"], version=row["version"], data=read.model_validate(row))
    text: str = item.model_dump_json()
    return text


def _problem(status: int, code: str) -> Response:
    return _json_response({"status": status, "code": code}, status)


def _child_upsert(row: asyncpg.Record, today: date) -> str:
    data = _child(row, READ_FIELDS, today)
    item = {"id": row["id"], "op": "upsert", "version": row["version"]}
    return dumps({**item, "kind": "child", "type": "child", "data": data}).decode()


def _tombstone(entity: str, rid: uuid.UUID, reason: str) -> str:
    item = {"kind": "tombstone", "type": entity, "id": rid, "op": "delete", "reason": reason}
    return dumps(item).decode()


def _sync_page(items: list[str], cursor: sync_feed.SyncCursor, has_more: bool) -> Response:
    body = (
        '{"items":['
        + ",".join(items)
        + f'],"next_cursor":"{cursor.encode()}","has_more":{"true" if has_more else "false"}}}'
    )
    return Response(body.encode(), 200, media_type="application/json")


def _sync_limit(request: Request) -> int | None:
    raw = request.query_params.get("limit")
    if raw is None:
        return sync_feed.DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        return None
    return limit if 1 <= limit <= sync_feed.MAX_LIMIT else None


async def _one_sync(state: OneStatement, request: Request) -> Response:
    """GET /sync/changes (services/sync/feed.py: list_changes) in one statement."""
    claims = state.claims(request)
    limit = _sync_limit(request)
    if limit is None:
        return _problem(422, "validation_error")
    now = datetime.now(UTC)
    settings = state.settings
    cursor = None
    if raw := request.query_params.get("cursor"):
        try:
            cursor = sync_feed.SyncCursor.decode(raw)
        except Unprocessable:
            return _problem(422, "invalid_cursor")
        if (cursor.user_id, cursor.role, cursor.area) != (claims.subject, claims.role, claims.area):
            return _problem(410, "sync_cursor_expired")
        if cursor.floor < now - timedelta(days=settings.sync_log_days):
            return _problem(410, "sync_cursor_expired")
    cutoff = now - timedelta(days=settings.sync_keep_closed_days)
    common = {"limit": limit + 1, "room": limit, "cutoff": cutoff}
    if cursor is not None and cursor.phase == "c":
        rows, _ = await state.run(
            "sync_changes",
            claims,
            {**common, "aftertxid": str(cursor.txid), "afterseq": cursor.seq},
        )
        return _sync_changes_page(rows, cursor, limit)
    after = cursor.after if cursor is not None else None
    params = {
        **common,
        "first": cursor is None,
        "kind": cursor.kind if cursor is not None else 0,
        "afterid": uuid.UUID(after[-1]) if after else None,
        "afterat": datetime.fromisoformat(after[0]) if after and len(after) == 2 else None,
    }
    rows, _ = await state.run("sync_load", claims, params)
    return _sync_load_page(rows, cursor, claims, limit)


def _sync_load_page(
    rows: list[asyncpg.Record],
    cursor: sync_feed.SyncCursor | None,
    claims: AccessClaims,
    limit: int,
) -> Response:
    if cursor is None:
        head = rows[0]
        cursor = sync_feed.SyncCursor(
            "i",
            claims.subject,
            claims.role,
            claims.area,
            int(head["horizon"]),
            0,
            head["horizon_at"] - 2 * sync_feed.LONGEST_TRANSACTION,
        )
    found = [r for r in rows if r["k"] is not None]
    page = found[:limit]
    today = _today()
    items = []
    for r in page:
        if r["k"] == 0:
            items.append(_child_upsert(r, today))
        elif r["k"] == 2:
            items.append(r["item"])
        else:
            items.append(_other_upsert(sync_feed.ENTITIES[r["k"]], r["item"]))
    keep = (cursor.user_id, cursor.role, cursor.area, cursor.txid, 0, cursor.floor)
    last_kind = page[-1]["k"] if page else cursor.kind
    if len(found) > limit and found[limit]["k"] == last_kind:
        last = page[-1]
        key = (last["at"].isoformat(), str(last["pid"])) if last_kind == 2 else (str(last["pid"]),)
        return _sync_page(items, sync_feed.SyncCursor("i", *keep, last_kind, key), True)
    if len(page) == limit and last_kind + 1 < len(sync_feed.ENTITIES):
        # The page filled up at the end of a type: the next one starts there.
        return _sync_page(items, sync_feed.SyncCursor("i", *keep, last_kind + 1), True)
    return _sync_page(items, sync_feed.SyncCursor("c", *keep), True)


def _sync_changes_page(
    rows: list[asyncpg.Record], cursor: sync_feed.SyncCursor, limit: int
) -> Response:
    head = rows[0]
    today = _today()
    rank = {t: i for i, t in enumerate(sync_feed.ENTITIES)}
    entities = [r for r in rows if r["entity_type"] is not None]
    upserts: dict[uuid.UUID, str] = {}
    gone: dict[uuid.UUID, str] = {}
    for r in entities:
        kind, rid = r["entity_type"], r["entity_id"]
        if kind == "child" and r["id"] is not None:
            if r["child_gone"] is None:
                upserts[rid] = _child_upsert(r, today)
            else:
                gone[rid] = r["child_gone"]
        elif kind == "visit" and r["item"] is not None:
            if r["visit_gone"] is None:
                upserts[rid] = r["item"]
            else:
                gone[rid] = r["visit_gone"]
        elif r["doc"] is not None:
            if r["other_gone"] is None:
                upserts[rid] = _other_upsert(kind, r["doc"])
            else:
                gone[rid] = r["other_gone"]
    ordered = sorted(entities, key=lambda e: (rank[e["entity_type"]], e["last"]))
    items = [upserts[e["entity_id"]] for e in ordered if e["entity_id"] in upserts]
    for e in sorted(entities, key=lambda e: (-rank[e["entity_type"]], e["last"])):
        rid = e["entity_id"]
        if rid not in upserts:
            reason = gone.get(rid) or e["reason"] or "transferred"
            items.append(_tombstone(e["entity_type"], rid, reason))
    keep = (cursor.user_id, cursor.role, cursor.area)
    if head["fetched"] > limit:
        txid, seq, changed_at = head["last_row"]
        floor = max(cursor.floor, changed_at - sync_feed.LONGEST_TRANSACTION)
        return _sync_page(items, sync_feed.SyncCursor("c", *keep, int(txid), seq, floor), True)
    position = max((cursor.txid, cursor.seq), (int(head["horizon"]), 0))
    floor = max(cursor.floor, head["horizon_at"] - 2 * sync_feed.LONGEST_TRANSACTION)
    nxt = sync_feed.SyncCursor("c", *keep, position[0], position[1], floor)
    return _sync_page(items, nxt, False)


async def _one_visit_put(state: OneStatement, request: Request) -> Response:
    """PUT /visits/{id} (services/visits/service.py: create_visit) in one statement. The body
    is validated by the API's own schema (VisitCreate), the content hash is the API's."""
    claims = state.claims(request)
    try:
        visit_id = uuid.UUID(request.path_params["visit_id"])
        client_ids.check(visit_id, "visit_id")
        data = VisitCreate.model_validate_json(await request.body())
    except (ValueError, Unprocessable):  # pydantic's ValidationError is a ValueError
        return _problem(422, "validation_error")
    if claims.role not in ONE_ROLES:
        raise _Forbidden
    digest = visit_service.content_hash(data)
    now = datetime.now(UTC)
    content = visit_service._content_fields(data)
    params = {
        "visit": visit_id,
        "child": data.child_id,
        "visited": data.visited_at,
        "latest": now + CLOCK_SKEW,
        "kind": content["kind"],
        "lat": content["latitude"],
        "lon": content["longitude"],
        "acc": content["accuracy_m"],
        "checklist": content["checklist"],
        "notes": content["notes"],
        "suggested": content["suggested_risk_level"],
        "actions": content["follow_up_actions"],
        "digest": digest,
        "now": now,
    }
    try:
        rows, _ = await state.run("visit_put", claims, params)
    except asyncpg.UniqueViolationError:  # a racing retry, or the id taken meanwhile
        return _problem(409, "id_taken")
    row = rows[0]
    if row["id"] is None:
        if row["existed"]:
            return _problem(409, "id_taken")  # the same id with other content
        if not row["child_found"]:
            return _problem(404, "child_not_found")
        if row["taken"]:
            return _problem(409, "id_taken")
        if row["child_status"] != "active":
            return _problem(409, "child_closed")
        return _problem(422, "validation_error")  # in the future, or before registration
    body = {name: row[name] for name in VISIT_FIELDS}
    status = 201 if row["created"] else 200
    return _json_response(body, status, headers={"ETag": f'"{row["version"]}"'})


# --- callers and the requests they make ------------------------------------------------------

CALLER_PREFIX = "bench_baseline_"


@dataclass
class Target:
    """A caller (a village director, or a township supervisor or county officer over the
    villages picked), their token and what they read."""

    area: str
    user_id: uuid.UUID
    token: str
    child_ids: list[uuid.UUID]
    role: str = "village_director"
    sync_cursor: str = ""  # a changes-phase cursor: the page after it (`sync_changes_after`)
    active_ids: list[uuid.UUID] = field(default_factory=list)  # children to visit (visit_put)


async def _make_caller(
    conn: asyncpg.Connection, settings: Settings, role: str, area: str
) -> tuple[uuid.UUID, str]:
    user_id, family_id = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO users (id, username, display_name, role, area_code, "
        "password_hash, is_active, version) "
        "VALUES ($1, $2, 'bench baseline', $3, $4, '!', true, 1)",
        user_id,
        f"{CALLER_PREFIX}{area}_{user_id.hex[:6]}",
        role,
        area,
    )
    await conn.execute(
        "INSERT INTO token_families (id, user_id) VALUES ($1, $2)", family_id, user_id
    )
    token, _ = create_access_token(
        settings, subject=user_id, kind="user", role=role, area=area, session_id=family_id
    )
    return user_id, token


async def make_targets(url: str, settings: Settings, villages: list[str]) -> list[Target]:
    """One village director per village with a live login session (removed by
    `remove_targets`), and a few of the village's children to read; and a township
    supervisor per township and a county officer per county of those villages."""
    conn = await datagen.connect(url)
    targets = []
    try:
        for area in villages:
            ids = [
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM children WHERE county_code = $1 AND area_code = $2 "
                    "ORDER BY id LIMIT 20",
                    area[:6],
                    area,
                )
            ]
            if not ids:
                continue
            user_id, token = await _make_caller(conn, settings, "village_director", area)
            await _seed_change_log(conn, area)
            cursor = sync_feed.SyncCursor(
                "c", user_id, "village_director", area, 0, 0, datetime.now(UTC)
            )
            active = await conn.fetch(
                "SELECT id FROM children WHERE county_code = $1 AND area_code = $2 "
                "AND status = 'active' AND created_at < now() - interval '1 day' "
                "ORDER BY id LIMIT $3",
                area[:6],
                area,
                REPEAT_EVERY,
            )
            targets.append(
                Target(
                    area,
                    user_id,
                    token,
                    ids,
                    sync_cursor=cursor.encode(),
                    active_ids=[r["id"] for r in active],
                )
            )
        for role, length in (("township_supervisor", 9), ("county_officer", 6)):
            for area in sorted({t.area[:length] for t in targets if t.role == "village_director"}):
                user_id, token = await _make_caller(conn, settings, role, area)
                targets.append(Target(area, user_id, token, [], role))
    finally:
        await conn.close()
    return targets


SYNC_SEED_ROWS = 250  # change-log rows per village: more than a page (200)


async def _seed_change_log(conn: asyncpg.Connection, area: str) -> None:
    """The datasets are loaded without the change-log triggers (bench/datagen.py), so a
    village's log is empty: give it the rows the triggers would have written had its children
    and its latest current visits changed (once per village, kept), for the page after a
    cursor (`sync_changes_after`) to read."""
    if await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM sync_changes WHERE county_code = $1 AND area_code = $2)",
        area[:6],
        area,
    ):
        return
    await conn.execute(
        "INSERT INTO sync_changes (county_code, area_code, entity_type, entity_id, op, version) "
        "SELECT county_code, area_code, t, id, 'U', version FROM ("
        "(SELECT county_code, area_code, 'child' AS t, id, version, 0 AS o, updated_at AS at "
        "FROM children WHERE county_code = $1 AND area_code = $2) UNION ALL "
        "(SELECT county_code, area_code, 'visit', id, version, 1, visited_at FROM visits "
        "WHERE county_code = $1 AND area_code = $2 AND is_current "
        "ORDER BY visited_at DESC LIMIT $3)) AS r ORDER BY o, at",
        area[:6],
        area,
        SYNC_SEED_ROWS,
    )


async def remove_targets(url: str) -> None:
    """The callers made for a run; those who logged visits (visit_put: the visits keep their
    visitor) stay, deactivated, with their sessions revoked."""
    conn = await datagen.connect(url)
    try:
        users = "SELECT id FROM users WHERE username LIKE $1"
        visited = "EXISTS (SELECT 1 FROM visits WHERE visits.visitor_id = users.id)"
        await conn.execute(
            f"UPDATE users SET is_active = false WHERE username LIKE $1 AND {visited}",
            CALLER_PREFIX + "%",
        )
        await conn.execute(
            f"UPDATE token_families SET revoked_at = now() WHERE user_id IN ({users}) "
            "AND revoked_at IS NULL",
            CALLER_PREFIX + "%",
        )
        await conn.execute(
            f"DELETE FROM token_families WHERE user_id IN ({users} AND NOT {visited})",
            CALLER_PREFIX + "%",
        )
        await conn.execute(
            f"DELETE FROM users WHERE username LIKE $1 AND NOT {visited}", CALLER_PREFIX + "%"
        )
    finally:
        await conn.close()


NEW_ID = "NEWID"  # in a path: a new random visit id for each request sent
VISITED_NOW = "VISITEDNOW"  # in a new visit's body: the time it is sent
REPEAT_EVERY = 10  # one visit PUT in ten repeats a stored visit (a retry: answered 200)


@dataclass(frozen=True)
class Put:
    """A visit PUT: its path (NEW_ID: a new id each time) and body."""

    path: str
    body: bytes


def _visit_put_body(child_id: uuid.UUID, visited_at: str) -> bytes:
    items = {
        name: {"rating": "good"}
        for name in ("living_conditions", "health", "schooling", "guardian_present")
    }
    items.update(
        caregiver_capacity={"rating": "fair", "note": "奶奶年纪大"},
        safety_hazards={"rating": "good"},
        emotional_state={"rating": "fair", "note": "想念在外打工的妈妈"},
    )
    body = {
        "child_id": str(child_id),
        "visited_at": visited_at,
        "kind": "home",
        "latitude": 38.43,
        "longitude": 100.81,
        "accuracy_m": 12.5,
        "checklist": items,
        "notes": "孩子在家写作业，奶奶身体尚可。",
        "suggested_risk_level": "yellow",
        "follow_up_actions": [{"action": "联系学校了解出勤", "due_on": "2030-01-10"}],
    }
    return json.dumps(body, ensure_ascii=False).encode()


def requests_for(read: str, targets: list[Target], rng: random.Random) -> list[tuple[str, str]]:
    """(path, token) pairs, spread over the callers, cycled by the load generator."""
    out = []
    role = ROLE_OF_READ.get(read, "village_director")
    for t in targets:
        if t.role != role:
            continue
        if read == "child":
            out += [(f"/api/v1/children/{cid}", t.token) for cid in t.child_ids[:5]]
        elif read.startswith("worklist"):
            out.append(("/api/v1/worklist", t.token))
        elif read == "health":
            out.append(("/healthz", ""))
        elif read == "sync_changes":  # the first page of the initial load
            out.append(("/api/v1/sync/changes", t.token))
        elif read == "sync_changes_after":  # a page of the changes after a cursor
            out.append((f"/api/v1/sync/changes?cursor={t.sync_cursor}", t.token))
        elif read == "visit_put":
            # The village's children, each visit new (its id made, and its time taken, as
            # the request is sent: the child's last visit and due date move), and one in
            # REPEAT_EVERY a retry of a stored visit (same id, same content).
            for cid in t.active_ids:
                new = Put(f"/api/v1/visits/{NEW_ID}", _visit_put_body(cid, VISITED_NOW))
                out += [(new, t.token)] * (REPEAT_EVERY - 1)
                at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
                # (a new id for each run: the run before stored its own retries)
                retry = Put(f"/api/v1/visits/{uuid.uuid4()}", _visit_put_body(cid, at))
                out.append((retry, t.token))
        else:
            out.append(("/api/v1/children", t.token))
    rng.shuffle(out)
    if read == "visit_put":  # the first request, compared between servers: a new visit
        out.sort(key=lambda r: NEW_ID not in getattr(r[0], "path", ""))
        out[1:] = rng.sample(out[1:], len(out) - 1)
    return out  # type: ignore[return-value]


# --- servers ---------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start(name: str, app: str, url: str, workers: int, pool_size: int, **extra_env: str) -> Server:
    port = _free_port()
    env = dict(
        os.environ,
        **extra_env,
        DATABASE_URL=url,
        CHILDPROTECT_ENV="local",
        CHILDPROTECT_JOBS_ENABLED="false",  # no background work in either server
        CHILDPROTECT_DB_POOL_SIZE=str(pool_size),
        CHILDPROTECT_ACCESS_TOKEN_MINUTES="240",
        # The sync page's limit (60 a minute per user) is counted as ever (in the statement),
        # but a load of a few hundred pages a second per caller must not be refused.
        CHILDPROTECT_RATE_LIMITS=json.dumps({**Settings().rate_limits, "sync": 10**9}),
    )
    cmd = [
        sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip
    return Server(name, port, subprocess.Popen(cmd, env=env))  # noqa: S603 (our own module)


async def wait_ready(server: Server, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}")
        try:
            # /healthz, not /readyz: the dataset may be at an older migration than this code
            # (the benchmark never migrates it), which the reads measured do not mind.
            status, _ = await fetch_once(server.port, "/healthz", None)
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{server.name} did not become ready")


def stop(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()


# --- load generators -------------------------------------------------------------------------


@dataclass
class Phase:
    server: str
    read: str
    requests: int
    seconds: float
    p50: float  # milliseconds
    p95: float
    p99: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _request_bytes(path: str | Put, token: str | None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    if isinstance(path, Put):  # a visit PUT: a new id when asked (NEW_ID)
        target, body = path.path, path.body
        if NEW_ID in target:
            target = target.replace(NEW_ID, str(uuid.uuid4()))
            sent = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
            body = body.replace(VISITED_NOW.encode(), sent.encode())
        head = (
            f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def fetch_once(port: int, path: str | Put, token: str | None) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(_request_bytes(path, token))
        await writer.drain()
        return await _read_response(reader)
    finally:
        writer.close()


async def drive_asyncio(
    port: int, requests: list[tuple[str, str]], connections: int, seconds: float
) -> tuple[list[float], int, float]:
    """Closed loop over keep-alive connections: latencies (ms), errors, elapsed seconds."""
    wire = [_request_bytes(p, t) for p, t in requests]
    fresh = [isinstance(p, Put) and NEW_ID in p.path for p, _ in requests]
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def connection(offset: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = offset
        try:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                k = i % len(wire)
                writer.write(_request_bytes(*requests[k]) if fresh[k] else wire[k])
                status, _ = await _read_response(reader)
                latencies.append((time.perf_counter() - t0) * 1000)
                if status not in (200, 201):
                    errors += 1
                i += 1
        finally:
            writer.close()

    step = max(1, len(wire) // connections)
    await asyncio.gather(*(connection(k * step) for k in range(connections)))
    return latencies, errors, time.perf_counter() - started


def _pct(samples: list[float], p: int) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


_WRK_SCRIPT = """
local reqs = {%s}
local i = 0
function setup(thread) end
function init(args) i = math.random(#reqs) end
function request()
  i = i %% #reqs + 1
  return reqs[i]
end
function done(summary, latency, requests)
  io.write(string.format("WRK %%d %%d %%d %%d %%.1f %%.1f %%.1f\\n",
    summary.requests, summary.duration,
    summary.errors.status, summary.errors.connect + summary.errors.read +
      summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def drive_wrk(
    port: int, requests: list[tuple[str, str]], connections: int, seconds: float
) -> tuple[int, int, float, float, float, float]:
    """wrk with one thread: requests, errors, seconds, p50/p95/p99 (ms)."""
    reqs = ",".join(
        f'wrk.format("GET", {_lua_string(p)}, {{["Authorization"] = {_lua_string("Bearer " + t)}}})'
        for p, t in requests
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_WRK_SCRIPT % reqs)
        script = f.name
    try:
        out = subprocess.run(  # noqa: S603 (wrk, found on PATH)
            [
                shutil.which("wrk") or "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                script,
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script)
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    n, micros, status_errors, io_errors, p50, p95, p99 = line.split()[1:]
    return (
        int(n),
        int(status_errors) + int(io_errors),
        int(micros) / 1e6,
        float(p50) / 1000,
        float(p95) / 1000,
        float(p99) / 1000,
    )


async def drive(
    driver: str,
    server: Server,
    read: str,
    requests: list[tuple[str, str]],
    connections: int,
    seconds: float,
) -> Phase:
    if driver == "wrk" and not any(isinstance(p, Put) for p, _ in requests):
        # (the visit PUT always runs on the asyncio client: a new id for each request)
        n, errors, elapsed, p50, p95, p99 = await asyncio.to_thread(
            drive_wrk, server.port, requests, connections, seconds
        )
        return Phase(server.name, read, n, elapsed, p50, p95, p99, errors)
    samples, errors, elapsed = await drive_asyncio(server.port, requests, connections, seconds)
    return Phase(
        server.name,
        read,
        len(samples),
        elapsed,
        _pct(samples, 50),
        _pct(samples, 95),
        _pct(samples, 99),
        errors,
    )


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Comparison:
    workers: int
    phases: list[Phase] = field(default_factory=list)

    def median(self, server: str, read: str, attr: str) -> float:
        values = [getattr(p, attr) for p in self.phases if p.server == server and p.read == read]
        return statistics.median(values) if values else float("nan")


def serves(server: Server, read: str) -> bool:
    """The same-statements baseline serves a village director's three reads only."""
    return server.name != "baseline" or read in READS or read in EXTRA_READS


def _comparable(read: str, body: bytes) -> Any:
    data = json.loads(body) if body else None
    if read.startswith("worklist") and isinstance(data, dict):
        data.pop("as_of", None)  # the clock of each server
    if read.startswith("sync") and isinstance(data, dict):
        data["next_cursor"] = comparable_cursor(data["next_cursor"])
    if read == "visit_put" and isinstance(data, dict):
        for name in ("id", "original_id", "visited_at", "created_at"):  # each server's own
            data.pop(name, None)
    return data


def comparable_cursor(raw: str) -> tuple[Any, ...]:
    """A sync cursor without what depends on the moment it was made (the horizon of a first
    page: the transaction id and the time it was taken)."""
    c = sync_feed.SyncCursor.decode(raw)
    first = c.phase == "i" or c.seq == 0
    return (c.phase, c.user_id, c.role, c.area, c.kind, c.after, c.seq) + (
        () if first else (c.txid, c.floor)
    )


async def check_same_answers(servers: list[Server], requests: dict[str, list]) -> None:
    """Every server answers 200 to the first request of each read it serves, and the
    one-statement baseline the API's very JSON (else the run is void)."""
    for read, reqs in requests.items():
        path, token = reqs[0]
        bodies = {}
        for server in servers:
            if not serves(server, read):
                continue
            status, body = await fetch_once(server.port, path, token)
            if status not in ((200, 201) if read == "visit_put" else (200,)):
                raise RuntimeError(f"{server.name} {read}: {status} {body[:300]!r}")
            bodies[server.name] = _comparable(read, body)
        if "one" in bodies and bodies["one"] != bodies["api"]:
            raise RuntimeError(f"one-statement baseline {read}: not the API's JSON")


async def compare(
    url: str,
    targets: list[Target],
    args: argparse.Namespace,
    workers: int,
    driver: str,
) -> Comparison:
    rng = random.Random(args.seed)
    requests = {read: requests_for(read, targets, rng) for read in args.reads}
    api = start("api", "childprotect_api.main:app_factory", url, workers, args.pool_size)
    base = start("baseline", "bench.baseline:app_factory", url, workers, args.pool_size)
    one = start("one", "bench.baseline:one_statement_factory", url, workers, args.pool_size)
    servers = [api, base, one]
    if args.pgbouncer_url:
        # The same API through PgBouncer in transaction mode (no server-side prepared
        # statements kept): what pooling mode costs next to the direct connection.
        pooled_url = datagen.with_database(args.pgbouncer_url, datagen.database_name(url))
        servers.append(
            start(
                "api-pgb",
                "childprotect_api.main:app_factory",
                pooled_url,
                workers,
                args.pool_size,
                CHILDPROTECT_DB_TRANSACTION_POOLING="true",
            )
        )
    result = Comparison(workers)
    try:
        for server in servers:
            await wait_ready(server)
        await check_same_answers(servers, requests)
        for read in args.reads:  # warm them up: prepared statements, caches, pools
            for server in servers:
                if serves(server, read):
                    await drive(driver, server, read, requests[read], args.connections, args.warmup)
        for rnd in range(args.rounds):
            for read in args.reads:
                order = servers if rnd % 2 == 0 else servers[::-1]
                for server in order:
                    if not serves(server, read):
                        continue
                    phase = await drive(
                        driver, server, read, requests[read], args.connections, args.seconds
                    )
                    if phase.errors:
                        raise RuntimeError(f"{server.name} {read}: {phase.errors} errors")
                    result.phases.append(phase)
    finally:
        for server in servers:
            stop(server)
    return result


def _median_of(result: Comparison, server: str, read: str, attr: str) -> float:
    return result.median(server, read, attr)


# Issue #23's targets against the one-statement baseline: throughput API / baseline and
# p95 API / baseline, per read (the visit PUT's throughput target, when measured: 0.5).
ONE_TARGETS = {"rps": 0.6, "p95": 1.5}
_LABELS = {"baseline": "same-stmt", "one": "one-stmt", "api-pgb": "api-pgb"}


def report(result: Comparison, reads: list[str]) -> bool:
    print(f"\n{result.workers} worker(s) per server; figures are medians over the rounds")
    print(
        "same-stmt: the API's own statements, bare; one-stmt: the same work in one statement "
        "(issue #23). ratios: API / that baseline (api-pgb: PgBouncer / direct)"
    )
    print(
        f"{'read':<18} {'server':<9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
        f"   {'req/s ratio':>11} {'p95 ratio':>9}"
    )
    ok = True
    for read in reads:
        api = functools.partial(_median_of, result, "api", read)
        for server in ("api", "baseline", "one", "api-pgb"):
            if not any(p.server == server and p.read == read for p in result.phases):
                continue
            m = functools.partial(_median_of, result, server, read)
            line = f"{read:<18} {_LABELS.get(server, server):<9} {m('rps'):>8.0f} "
            line += f"{m('p50'):>8.2f} {m('p95'):>8.2f} {m('p99'):>8.2f}"
            if server == "api":
                print(line)
                continue
            if server == "api-pgb":
                ratio, p95 = m("rps") / api("rps"), m("p95") / api("p95")
                print(f"{line}   {ratio:>11.2f} {p95:>9.2f}  (PgBouncer transaction / direct)")
                continue
            ratio, p95 = api("rps") / m("rps"), api("p95") / m("p95")
            met = ratio >= ONE_TARGETS["rps"] and p95 <= ONE_TARGETS["p95"]
            counted = read in (READS if server == "baseline" else ONE_READS)
            verdict = ("ok" if met else "MISSED") if counted else "(no target)"
            ok = ok and (met or not counted)
            print(f"{line}   {ratio:>11.2f} {p95:>9.2f}  {verdict}")
    return ok


def report_scaling(results: list[Comparison], reads: list[str]) -> None:
    if len(results) < 2:
        return
    first = results[0]
    print(
        f"\nthroughput from {first.workers} worker(s) to more (same machine: the load "
        f"generator and PostgreSQL use the same {os.cpu_count()} CPUs as the servers)"
    )
    for read in reads:
        for server in ("api", "baseline", "one"):
            base = first.median(server, read, "rps")
            if math.isnan(base):  # that server does not serve the read
                continue
            steps = "  ".join(
                f"{r.workers}w {r.median(server, read, 'rps'):.0f} req/s "
                f"(x{r.median(server, read, 'rps') / base:.2f})"
                for r in results
            )
            print(f"  {read:<9} {server:<9} {steps}")


async def run(args: argparse.Namespace) -> int:
    scale = datagen.SCALES[args.scale]
    url = args.database_url or datagen.with_database(
        datagen.DEFAULT_SERVER, "bench_province" if scale.name == "full" else f"bench_{scale.name}"
    )
    dataset = await datagen.existing(url, scale)
    if dataset is None and scale.name == "full" and not args.build:
        print(
            f"no full dataset in {datagen.database_name(url)}: build it with "
            "`python -m bench.worklist --scale full` (or pass --build)",
            file=sys.stderr,
        )
        return 2
    if dataset is None:
        datagen.log(f"building the {scale.name} dataset in {datagen.database_name(url)}")
        url = await datagen.fresh_database(url, datagen.database_name(url))
        await asyncio.to_thread(datagen.migrate, url)
        dataset = await datagen.generate(url, scale)
    else:
        datagen.log(f"reusing the {scale.name} dataset in {datagen.database_name(url)}")
    driver = args.driver
    if driver == "auto":
        driver = "wrk" if shutil.which("wrk") else "asyncio"
    settings = Settings(env="local", DATABASE_URL=url, access_token_minutes=240)
    rng = random.Random(args.seed)
    # Villages whose sync feed holds only the records the one-statement sync page renders
    # (the statistics extras add agreements and reports to one county: see _Unsupported).
    unrendered = await _villages_with_unrendered(url)
    plain = [v for v in dataset.villages if v not in unrendered]
    villages = rng.sample(plain, min(args.callers, len(plain)))
    await remove_targets(url)  # what an interrupted run left
    targets = await make_targets(url, settings, villages)
    kinds = ("village_director", *ROLE_OF_READ.values())
    roles = ", ".join(f"{sum(t.role == r for t in targets)} {r}" for r in kinds)
    print(
        f"\nbaseline comparison, scale={scale.name}: {dataset.children:,} children, "
        f"{dataset.visits:,} visits; callers {roles}; driver {driver}, "
        f"{args.connections} connections, {args.rounds} round(s) of {args.seconds:.0f} s per "
        f"server and read; pool {args.pool_size}; {os.cpu_count()} CPUs"
        + ("; visit_put on the asyncio client" if "visit_put" in args.reads else ""),
        flush=True,
    )
    load_before = os.getloadavg()
    results = []
    try:
        for workers in args.workers:
            results.append(await compare(url, targets, args, workers, driver))
    finally:
        await remove_targets(url)
    load_after = os.getloadavg()
    print(
        f"load average (1/5/15 min) before {load_before[0]:.2f}/{load_before[1]:.2f}/"
        f"{load_before[2]:.2f}, after {load_after[0]:.2f}/{load_after[1]:.2f}/"
        f"{load_after[2]:.2f}"
    )
    ok = True
    for result in results:
        ok = report(result, args.reads) and ok
    report_scaling(results, args.reads)
    if any(r.workers > 1 for r in results):
        print(
            "note: with more workers than free cores the load generator and PostgreSQL "
            "compete with the servers for CPU; scaling is bounded by the machine, not the API."
        )
    if args.drop:
        await datagen.drop_database(url)
    return 0 if ok or not args.strict else 1


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _reads(text: str) -> list[str]:
    reads = [x.strip() for x in text.split(",") if x.strip()]
    for r in reads:
        if r not in ONE_READS + EXTRA_READS:
            raise argparse.ArgumentTypeError(
                f"unknown read {r!r} (choose from {ONE_READS + EXTRA_READS})"
            )
    return reads


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", choices=sorted(datagen.SCALES), default="tiny")
    p.add_argument("--database-url", default=None, help="the database to use (built if empty)")
    p.add_argument("--workers", type=_ints, default=[1], help="worker counts to run, e.g. 1,2")
    p.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections")
    p.add_argument("--seconds", type=float, default=10, help="length of each timed phase")
    p.add_argument("--warmup", type=float, default=3, help="untimed seconds per server and read")
    p.add_argument("--rounds", type=int, default=2, help="API/baseline alternations per read")
    p.add_argument("--callers", type=int, default=20, help="village directors (one per village)")
    p.add_argument("--pool-size", type=int, default=10, help="database pool per worker, both")
    p.add_argument(
        "--reads",
        type=_reads,
        default=list(ONE_READS),
        help="child,worklist,worklist_township,worklist_county,children,sync_changes,"
        "sync_changes_after,visit_put (and health: no database, see EXTRA_READS); the "
        "same-statements baseline serves the first three village reads only",
    )
    p.add_argument("--driver", choices=("auto", "wrk", "asyncio"), default="auto")
    p.add_argument(
        "--pgbouncer-url",
        default=None,
        help="also run the API through this PgBouncer (transaction mode, same server) and "
        "report its cost next to the direct connection",
    )
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--build", action="store_true", help="build the full dataset when missing")
    p.add_argument("--drop", action="store_true", help="drop the database afterwards")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
