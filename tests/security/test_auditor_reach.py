"""What an auditor can call (README Security, "What an auditor can and cannot learn"): the
permission rows that name auditors, and every GET route of the API answered to one."""

from __future__ import annotations

import re
import uuid

from childprotect_api.cli import openapi_document
from childprotect_api.models.user import Role
from childprotect_api.security.scope import PERMISSIONS, Action
from tests.conftest import VILLAGE

AUDITOR_ACTIONS = {
    Action.stats_read,
    Action.audit_read,
    Action.areas_read,
    Action.visit_policy_read,
}

# The GET routes an auditor reads (everything else: 403, or 404 outside their area).
READABLE = {
    "/healthz",
    "/readyz",
    "/api/v1/auth/me",
    "/api/v1/areas",
    "/api/v1/areas/{code}",
    "/api/v1/meta/enums",
    "/api/v1/audit",
    "/api/v1/report-policy",
    "/api/v1/visit-policy",
    "/api/v1/stats/summary",
    "/api/v1/stats/breakdown",
    "/api/v1/stats/trend",
    "/api/v1/stats/export",
}


def test_the_auditor_rows_of_the_permission_matrix():
    assert {a for a, roles in PERMISSIONS.items() if Role.auditor in roles} == AUDITOR_ACTIONS


async def test_every_get_route_answers_an_auditor_as_the_readme_says(client, world):
    auditor = world["auditor"].headers
    paths = openapi_document()["paths"]
    seen, wrong = set(), []
    for path, ops in sorted(paths.items()):
        if "get" not in ops:
            continue
        url = re.sub(r"\{code\}", VILLAGE, path)
        url = url.replace("{kind}", "children")  # an enum: a uuid would answer 422 first
        url = re.sub(r"\{[a-z_]+\}", str(uuid.uuid4()), url)
        r = await client.get(url, headers=auditor)
        assert r.status_code < 500, (path, r.text)
        if path in READABLE:
            seen.add(path)
            if r.status_code not in (200, 422):
                wrong.append((path, r.status_code))
        elif r.status_code not in (403, 404):
            wrong.append((path, r.status_code))
    assert wrong == []
    assert seen == READABLE
