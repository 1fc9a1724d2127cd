"""The automatic scope matrix: every operation of the app, called on objects of one village by
users of another village, another township and another county, and by every role the permission
matrix (DESIGN.md) does not allow. Each must answer 403 or 404 (lists: no trace of the objects).

The operations come from the app's own OpenAPI document, so a new endpoint is covered without
anyone writing a test for it; it only needs a valid request body below (the test says so)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from childprotect_api.models.job import Job
from childprotect_api.models.user import Role
from childprotect_api.services.children import id_numbers
from tests.activities import activity_helpers
from tests.agreements import agreement_helpers
from tests.benefits import benefit_helpers
from tests.care import care_support
from tests.children.child_payloads import new_child
from tests.conftest import COUNTY, TOWNSHIP, VILLAGE, World, make_actor
from tests.factories import make_child
from tests.integrations.client_helpers import seed_client
from tests.reports import report_support
from tests.visits.visit_factories import put_visit, visit_body

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

STAFF = {Role.village_director, Role.township_supervisor, Role.county_officer}
SUPERVISORS = {Role.township_supervisor, Role.county_officer}
ALL_ROLES = set(Role)

# Who may call an operation, by tag, then by operationId where a tag's row differs.
ALLOWED_BY_TAG: dict[str, set[Role]] = {
    "children": STAFF,
    "agreements": STAFF,
    "visits": STAFF,
    "worklist": STAFF,
    "visit policy": STAFF | {Role.auditor, Role.admin},
    "report policy": STAFF | {Role.auditor, Role.admin},
    "reports": {Role.county_officer},
    "users": {Role.county_officer, Role.admin},
    "areas": {Role.admin},
    "clients": {Role.admin},
    "webhooks": {Role.admin},
    "audit": {Role.county_officer, Role.auditor, Role.admin},
    "stats": STAFF | {Role.auditor, Role.admin},
    "sync": STAFF,
    "jobs": STAFF,
    "pairings": STAFF,
    "cases": STAFF,
    "duties": STAFF,
    "alerts": SUPERVISORS,
    "activities": STAFF,
    "sites": STAFF,
    "category decisions": STAFF,
    "benefit payments": STAFF,
    "registers": SUPERVISORS,
}
ALLOWED_BY_OPERATION: dict[str, set[Role]] = {
    "createReport": STAFF | {Role.reporter},
    "listMyReports": STAFF | {Role.reporter},
    "getMyReport": STAFF | {Role.reporter},
    "getArea": ALL_ROLES,
    "reviewVisit": SUPERVISORS,
    "updateVisitPolicy": {Role.county_officer},
    "updateReportPolicy": {Role.county_officer},
    "terminateAgreement": SUPERVISORS,
    "createCase": SUPERVISORS,
    "updateCase": SUPERVISORS,
    "closeCase": SUPERVISORS,
    "addCaseMeasure": SUPERVISORS,
    "createSite": SUPERVISORS,
    "updateSite": SUPERVISORS,
    "reviewCategoryApplication": SUPERVISORS,
    "decideCategoryApplication": {Role.county_officer},
    "createCategoryRemoval": {Role.county_officer},
    "recordBenefitPayments": {Role.county_officer},
}
# Query parameters an operation needs to name the arranged objects' area.
QUERY: dict[str, dict[str, str]] = {
    "getVisitPolicy": {"county": COUNTY},
    "updateVisitPolicy": {"county": COUNTY},
    "getReportPolicy": {"county": COUNTY},
    "updateReportPolicy": {"county": COUNTY},
    "getStatsSummary": {"area": VILLAGE},
    "getStatsBreakdown": {"area": TOWNSHIP},
    "getStatsTrend": {"area": VILLAGE, "metric": "children.new"},
    "exportStats": {"area": VILLAGE},
    "exportRegister": {"area": VILLAGE},
}
# Operations that answer 200 with per-item results: nothing may have been applied.
PER_ITEM = {"importChildren", "pushSyncBatch", "recordBenefitPayments"}
# Not about objects of an area: the caller's own session, health, labels.
NOT_SCOPED = {
    "getHealth",
    "getReadiness",
    "createToken",
    "logout",
    "getMe",
    "listEnums",
    "listAreas",  # the caller's own part of the tree
}
# Users of other areas, by role, and the in-scope user of each role.
OUTSIDERS: dict[Role, list[str]] = {
    Role.village_director: [
        "director_other_village",
        "director_other_township",
        "director_other_county",
    ],
    Role.township_supervisor: ["supervisor_other_township", "supervisor_other_county"],
    Role.county_officer: ["officer_other_county"],
}
INSIDER: dict[Role, str] = {
    Role.village_director: "director",
    Role.township_supervisor: "supervisor",
    Role.county_officer: "officer",
    Role.reporter: "reporter",
    Role.auditor: "auditor",
    Role.admin: "admin",
}


def _bodies(ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """A valid request for each operation that takes a body ({"json": ...} or {"files": ...})."""
    now = datetime.now(UTC)
    return {
        "createChild": {"json": new_child(VILLAGE)},
        "updateChild": {"json": {"school": "洪水镇中学"}},
        "setChildRiskLevel": {"json": {"level": "yellow", "reason": "复查"}},
        "closeChild": {"json": {"reason": "moved_away"}},
        "reopenChild": {"json": {"reason": "误关闭"}},
        "transferChild": {"json": {"to_area_code": "620722100002", "reason": "随父母迁居"}},
        "createAgreement": {"json": agreement_helpers.body()},
        "updateAgreement": {"json": {"times_per_week_child": 3}},
        "signAgreement": {
            "json": {"party": "village_committee", "signed_on": now.date().isoformat()}
        },
        "terminateAgreement": {"json": {"reason": "parent_returned"}},
        "uploadAgreementAttachment": {"files": {"file": ("scan.png", PNG, "image/png")}},
        "createReport": {"json": report_support.body(area_code=VILLAGE)},
        "createReportReferral": {"json": {"target": "police"}},
        "updateReportReferralStatus": {"json": {"status": "acknowledged"}},
        "createReportNote": {"json": {"text": "已电话联系"}},
        "linkReportChild": {"json": {"child_id": ids["child_id"]}},
        "closeReport": {"json": {"outcome": "other", "message": "已处理"}},
        "createUser": {
            "json": {
                "username": f"u{uuid.uuid4().hex[:8]}",
                "display_name": "新儿童主任",
                "role": "village_director",
                "area_code": VILLAGE,
                "password": "Strong-Pass-2026",
            }
        },
        "updateUser": {"json": {"display_name": "改名"}},
        "changeUserPassword": {"json": {"new_password": "Another-Pass-2026"}},
        "createArea": {"json": {"code": "620722100009", "name": "新村", "parent_code": TOWNSHIP}},
        "importAreas": {"files": {"file": ("a.csv", b"620722100009,x,620722100\n", "text/csv")}},
        "createClient": {
            "json": {"name": "系统", "area_code": COUNTY, "scopes": ["children:read"]}
        },
        "setChildSchooling": {"json": {"school": "洪水镇中学", "enrolment_status": "enrolled"}},
        "setChildSubsidies": {
            "json": {"subsidies": [{"kind": "other", "monthly_amount": 100, "from": "2026-01-01"}]}
        },
        "lookupChild": {"json": {"id_number": ids["id_number"]}},
        "importChildren": {
            "files": {
                "file": (
                    "moupai.csv",
                    f"姓名,性别,出生日期,村代码\n李小草,female,2016-05-20,{VILLAGE}\n".encode(),
                    "text/csv",
                )
            }
        },
        "createVisit": {"json": visit_body(uuid.UUID(ids["child_id"]), now)},
        "correctVisit": {
            "json": {
                **visit_body(uuid.UUID(ids["child_id"]), now),
                "id": str(uuid.uuid4()),
                "correction_reason": "补记",
            }
        },
        "reviewVisit": {"json": {"decision": "accept"}},
        "uploadVisitAttachment": {"files": {"file": ("home.png", PNG, "image/png")}},
        "updateVisitPolicy": {
            "json": {"blue_days": 80, "yellow_days": 30, "orange_days": 7, "red_days": 1}
        },
        "updateReportPolicy": {
            "json": {"accept_within_hours": 12, "first_referral_within_hours": 48}
        },
        "createWebhook": {
            "json": {
                "url": "https://example.invalid/hook",
                "event_types": ["report.submitted"],
                "client_id": ids["client_id"],
            }
        },
        "pushSyncBatch": {"json": {"operations": _push_operations(ids, now)}},
        "createPairing": {"json": care_support.pairing_body(uuid.UUID(ids["child_id"]))},
        "updatePairing": {"json": {"note": "每周电话"}},
        "endPairing": {"json": {"end_reason": "other"}},
        "logPairingContact": {"json": {"contacted_at": now.isoformat(), "kind": "phone"}},
        "createCase": {"json": care_support.case_body(uuid.UUID(ids["other_child_id"]))},
        "updateCase": {"json": {"summary": "复核"}},
        "closeCase": {"json": {"outcome": "other"}},
        "addCaseMeasure": {"json": {"kind": "other", "responsible": "民政办"}},
        "completeCaseMeasure": {"json": {}},
        "cancelCaseMeasure": {"json": {"reason": "家长返乡"}},
        "createActivity": {"json": activity_helpers.activity_body(VILLAGE)},
        "updateActivity": {"json": {"notes": "补记"}},
        "uploadActivityAttachment": {"files": {"file": ("act.png", PNG, "image/png")}},
        "createSite": {"json": activity_helpers.site_body(VILLAGE)},
        "updateSite": {"json": {"notes": "每周开放"}},
        "createCategoryApplication": {"json": benefit_helpers.application_body("low_income")},
        "reviewCategoryApplication": {"json": {"decision": "agree"}},
        "decideCategoryApplication": {"json": {"decision": "approve"}},
        "createCategoryRemoval": {"json": benefit_helpers.removal_body("orphan")},
        "recordBenefitPayments": {
            "json": {"items": [benefit_helpers.payment_item(ids["child_id"])]}
        },
    }


def _push_operations(ids: dict[str, str], now: datetime) -> list[dict[str, Any]]:
    """One of each operation on the arranged objects (or into their village)."""

    def op(kind: str, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return {"op": kind, "client_id": str(uuid.uuid4()), "data": data, **kw}

    child_id = uuid.UUID(ids["child_id"])
    return [
        op("create_child", new_child(VILLAGE), id=str(uuid.uuid4())),
        op("update_child", {"school": "洪水镇中学"}, id=ids["child_id"], base_version=1),
        op("create_visit", visit_body(child_id, now), id=str(uuid.uuid4())),
        op(
            "create_agreement",
            {**agreement_helpers.body(), "child_id": ids["child_id"]},
            id=str(uuid.uuid4()),
        ),
        op("update_agreement", {"times_per_week_child": 3}, id=ids["agreement_id"], base_version=1),
        op("create_report", report_support.body(area_code=VILLAGE), id=str(uuid.uuid4())),
        op(
            "apply_category",
            {"category": "low_income", "basis": "低保家庭", "child_id": ids["child_id"]},
            id=str(uuid.uuid4()),
        ),
    ]


def _nothing_applied(op_id: str, r: httpx.Response) -> bool:
    """A per-item answer that applied nothing (every item refused as outside the scope)."""
    if op_id == "importChildren":
        return bool(r.json().get("created") == 0)
    if op_id == "recordBenefitPayments":
        results = r.json().get("results", [])
        return bool(results) and all(x["error"]["code"] == "unknown_child" for x in results)
    results = r.json().get("results", [])
    return bool(results) and all(
        x["status"] == "rejected" and x["problem"]["status"] in (403, 404) for x in results
    )


async def _arrange(client: httpx.AsyncClient, world: World, session, settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Objects of `director`'s village (and its county), made by the people who would."""
    child = await agreement_helpers.away_child(session, settings, VILLAGE)
    director = world["director"].headers
    agreement = await agreement_helpers.create(client, director, child.id)
    r = await client.post(
        f"/api/v1/agreements/{agreement['id']}/attachments",
        files={"file": ("scan.png", PNG, "image/png")},
        headers=director,
    )
    assert r.status_code in (200, 201), r.text
    attachment_id = r.json()["id"]
    report = await report_support.file(client, world, "director", area_code=VILLAGE)
    await report_support.step(client, world, report["id"], "accept")
    referral = await report_support.step(
        client, world, report["id"], "referrals", {"target": "police"}, status=201
    )
    api_client = await seed_client(session, settings, scopes={"reports:read"}, area=COUNTY)
    r = await client.post(
        "/api/v1/webhooks",
        json={
            "url": "https://example.invalid/hook",
            "event_types": ["report.submitted"],
            "client_id": api_client.id,
        },
        headers=world["admin"].headers,
    )
    assert r.status_code == 201, r.text
    webhook_id = r.json()["id"]
    other = await make_child(session, settings, VILLAGE, name="赵小军")
    visit = await put_visit(client, world["director"], child.id, visited_at=datetime.now(UTC))
    r = await client.post(
        f"/api/v1/visits/{visit['id']}/attachments",
        files={"file": ("home.png", PNG + b"v", "image/png")},
        headers=director,
    )
    assert r.status_code in (200, 201), r.text
    job = Job(
        kind="child_import",
        actor_type="user",
        actor_id=world["director"].id,
        actor_role="village_director",
        area_code=VILLAGE,
    )
    session.add(job)
    colleague = await make_actor(
        session, settings, "colleague", Role.village_director, VILLAGE, username="colleague"
    )
    await session.commit()
    care = await _arrange_care(client, world, session, child.id, other.id)
    return {
        **care,
        "child_id": str(child.id),
        "other_child_id": str(other.id),
        "agreement_id": agreement["id"],
        "attachment_id": attachment_id,
        "visit_id": visit["id"],
        "visit_attachment_id": r.json()["id"],
        "job_id": str(job.id),
        "id_number": id_numbers.reveal(settings.data_key, child.id_number_enc),
        "report_id": report["id"],
        "referral_id": referral.get("id") or referral["referrals"][0]["id"],
        "user_id": str(colleague.id),
        "code": VILLAGE,
        "client_id": api_client.id,
        "webhook_id": webhook_id,
        "delivery_id": str(uuid.uuid4()),
        "kind": "children",
    }


async def _arrange_care(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, world: World, session, child_id: uuid.UUID, other_id: uuid.UUID
) -> dict[str, str]:
    """A pairing and a case with a measure about the child; an alert for the county officer
    (the other child raised to red)."""
    r = await client.post(
        care_support.PAIRINGS,
        json=care_support.pairing_body(child_id),
        headers=world["director"].headers,
    )
    assert r.status_code == 201, r.text
    pairing_id = r.json()["id"]
    r = await client.post(
        care_support.CASES, json=care_support.case_body(child_id), headers=world["officer"].headers
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    r = await client.post(
        f"{care_support.CASES}/{case_id}/measures",
        json={"kind": "psychological_support", "responsible": "县未保中心"},
        headers={**world["officer"].headers, "If-Match": f'"{r.json()["version"]}"'},
    )
    assert r.status_code == 201, r.text
    measure_id = next(m["id"] for m in r.json()["measures"])
    await care_support.set_risk(client, world, other_id, "red", "officer")
    alert = next(a for a in await care_support.alerts_for(session) if a.child_id == other_id)
    r = await client.post(
        activity_helpers.SITES,
        json=activity_helpers.site_body(VILLAGE),
        headers=world["officer"].headers,
    )
    assert r.status_code == 201, r.text
    site_id = r.json()["id"]
    r = await client.post(
        activity_helpers.ACTIVITIES,
        json=activity_helpers.activity_body(VILLAGE, site_id=site_id),
        headers=world["director"].headers,
    )
    assert r.status_code == 201, r.text
    activity_id = r.json()["id"]
    r = await client.post(
        f"{activity_helpers.ACTIVITIES}/{activity_id}/attachments",
        files={"file": ("act.png", PNG + b"a", "image/png")},
        headers=world["director"].headers,
    )
    assert r.status_code in (200, 201), r.text
    application = await benefit_helpers.file(client, world, child_id)
    return {
        "application_id": application["id"],
        "site_id": site_id,
        "activity_id": activity_id,
        "activity_attachment_id": r.json()["id"],
        "pairing_id": pairing_id,
        "case_id": case_id,
        "measure_id": measure_id,
        "alert_id": str(alert.id),
    }


def _operations(app) -> list[tuple[str, str, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    doc = app.openapi()
    return [
        (method.upper(), path, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if op["operationId"] not in NOT_SCOPED
    ]


def _allowed(op: dict[str, Any]) -> set[Role]:
    if op["operationId"] in ALLOWED_BY_OPERATION:
        return ALLOWED_BY_OPERATION[op["operationId"]]
    tag = op["tags"][0]
    assert tag in ALLOWED_BY_TAG, f"{op['operationId']}: add its tag {tag!r} to ALLOWED_BY_TAG"
    return ALLOWED_BY_TAG[tag]


def _url(path: str, ids: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "attachment_id" and path.startswith("/api/v1/visits/"):
            name = "visit_attachment_id"
        if name == "attachment_id" and path.startswith("/api/v1/activities/"):
            name = "activity_attachment_id"
        assert name in ids, f"{path}: add the path parameter {name!r} to the arranged objects"
        return ids[name]

    return re.sub(r"\{(\w+)\}", sub, path)


async def test_every_operation_hides_other_areas_and_refuses_other_roles(
    app, client, world, session, settings
):
    ids = await _arrange(client, world, session, settings)
    bodies = _bodies(ids)
    secrets_ = [ids["child_id"], ids["other_child_id"], ids["agreement_id"], ids["report_id"]]
    failures: list[str] = []
    checked = 0
    for method, path, op in _operations(app):
        op_id = op["operationId"]
        if "requestBody" in op and op_id not in bodies:
            failures.append(f"{op_id}: add a valid request to _bodies() so it is checked")
            continue
        request = {**bodies.get(op_id, {}), "params": QUERY.get(op_id, {})}
        url = _url(path, ids)
        allowed = _allowed(op)
        callers = [name for role in allowed for name in OUTSIDERS.get(role, [])]
        callers += [INSIDER[role] for role in ALL_ROLES - allowed]
        is_list = method == "GET" and "{" not in path
        for name in callers:
            headers = {**world[name].headers, "If-Match": '"1"'}
            r = await client.request(method, url, headers=headers, **request)
            checked += 1
            if r.status_code in (403, 404):
                continue
            if is_list and r.status_code == 200 and not any(s in r.text for s in secrets_):
                continue
            if op_id in PER_ITEM and r.status_code == 200 and _nothing_applied(op_id, r):
                continue
            failures.append(f"{op_id} {method} {url} as {name}: {r.status_code} {r.text[:160]}")
    assert checked > 100
    assert not failures, "\n".join(failures)


async def test_the_arranged_objects_are_real(client, world, session, settings):
    """The matrix is only meaningful if the objects exist: their own people can read them."""
    ids = await _arrange(client, world, session, settings)
    reads = [
        ("officer", f"/api/v1/children/{ids['child_id']}"),
        ("director", f"/api/v1/agreements/{ids['agreement_id']}"),
        ("officer", f"/api/v1/reports/{ids['report_id']}"),
        ("director", f"/api/v1/my-reports/{ids['report_id']}"),
        ("officer", f"/api/v1/users/{ids['user_id']}"),
        ("admin", f"/api/v1/clients/{ids['client_id']}"),
        ("admin", f"/api/v1/webhooks/{ids['webhook_id']}"),
        (
            "director",
            f"/api/v1/agreements/{ids['agreement_id']}/attachments/{ids['attachment_id']}",
        ),
    ]
    for name, url in reads:
        r = await client.get(url, headers=world[name].headers)
        assert r.status_code == 200, (name, url, r.text)
    # The sync feed serves them to their village's director (so its 200s above show nothing).
    r = await client.get("/api/v1/sync/changes?limit=1000", headers=world["director"].headers)
    assert r.status_code == 200, r.text
    for key in ("child_id", "other_child_id", "agreement_id", "report_id"):
        assert ids[key] in r.text, key
