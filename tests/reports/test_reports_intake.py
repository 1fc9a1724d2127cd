"""Filing a mandatory report: registered, unregistered and ID-number children, idempotent
retries, bad input, who may file, and the effects (risk raised to red, outbox events)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.child import Child, ChildRiskChange
from childprotect_api.models.report import Report
from childprotect_api.services.children import id_numbers
from tests.conftest import COUNTY, TOWNSHIP, VILLAGE, VILLAGE_OTHER_COUNTY, VILLAGE_OTHER_TOWNSHIP
from tests.factories import make_child
from tests.reports.report_support import REPORTS, body, count, file, fresh, new_id, outbox

FILED_FIELDS = {
    "id",
    "situation",
    "area_code",
    "occurred_at",
    "submitted_at",
    "status",
    "outcome",
    "outcome_message",
    "closed_at",
}


async def test_registered_child_is_raised_to_red(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, risk_level="yellow")
    filed = await file(
        client, world, "director", child_id=str(child.id), area_code=None, child_description=None
    )
    assert set(filed) == FILED_FIELDS
    assert filed["status"] == "submitted" and filed["area_code"] == VILLAGE

    r = await client.get(f"{REPORTS}/{filed['id']}", headers=world["officer"].headers)
    assert r.status_code == 200 and r.headers["etag"] == '"1"'
    report = r.json()
    assert report["child_id"] == str(child.id) and report["area_code"] == VILLAGE
    assert report["reporter"]["user_id"] == str(world["director"].id)
    assert report["reporter"]["name"] == "director"

    raised = await fresh(session, Child, child.id)
    assert raised.risk_level == "red"
    assert raised.next_visit_due <= datetime.now(UTC) + timedelta(days=1)
    history = (
        (await session.execute(select(ChildRiskChange).where(ChildRiskChange.child_id == child.id)))
        .scalars()
        .all()
    )
    assert [(h.old_level, h.new_level, h.source, str(h.source_id)) for h in history] == [
        ("yellow", "red", "report", filed["id"])
    ]
    (submitted,) = await outbox(session, "report.submitted")
    assert submitted.payload == {
        "report_id": filed["id"],
        "situation": "multiple_injuries_or_abuse",
        "status": "submitted",
        "urgent": False,
    }
    assert submitted.county_code == COUNTY and submitted.area_code == VILLAGE
    (risk,) = await outbox(session, "child.risk_raised")
    assert risk.resource_id == child.id
    assert risk.payload["new_level"] == "red" and risk.payload["report_id"] == filed["id"]
    assert "王小明" not in str(risk.payload) + str(submitted.payload)


async def test_child_already_red_has_no_second_raise(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, risk_level="red")
    await file(client, world, "director", child_id=str(child.id), area_code=None)
    assert await outbox(session, "child.risk_raised") == []
    assert await count(session, ChildRiskChange) == 0


async def test_unregistered_child(client, world, session):
    filed = await file(client, world, "reporter")
    assert filed["area_code"] == TOWNSHIP
    r = await client.get(f"{REPORTS}/{filed['id']}", headers=world["officer"].headers)
    report = r.json()
    assert report["child_id"] is None and report["area_code"] == TOWNSHIP
    assert report["child_description"] == {
        "name": "李小红",
        "approximate_age": 9,
        "gender": "female",
        "school": None,
        "guardian": None,
    }
    submitted = datetime.fromisoformat(report["submitted_at"])
    assert datetime.fromisoformat(report["accept_deadline"]) - submitted == timedelta(hours=24)
    assert datetime.fromisoformat(report["first_referral_deadline"]) - submitted == timedelta(
        hours=72
    )
    assert report["overdue"] is False
    assert await outbox(session, "child.risk_raised") == []
    actions = (await session.execute(select(AuditEvent.action))).scalars().all()
    assert "create" in actions


async def test_id_number_links_silently(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    number = id_numbers.reveal(settings.data_key, child.id_number_enc)
    unknown = id_numbers.make("620722", child.birth_date, 987, "female")
    matched = await file(client, world, "reporter", id_number=number, child_description=None)
    unmatched = await file(client, world, "reporter", id_number=unknown, child_description=None)
    # The filer's answers cannot tell a match from a miss.
    assert set(matched) == set(unmatched) == FILED_FIELDS
    assert matched["area_code"] == unmatched["area_code"] == TOWNSHIP
    h = world["officer"].headers
    linked = (await client.get(f"{REPORTS}/{matched['id']}", headers=h)).json()
    assert linked["child_id"] == str(child.id) and linked["area_code"] == VILLAGE
    assert linked["child_id_number"] == id_numbers.mask(number)
    assert (await client.get(f"{REPORTS}/{unmatched['id']}", headers=h)).json()["child_id"] is None
    assert (await fresh(session, Child, child.id)).risk_level == "red"


async def test_id_number_of_a_child_elsewhere_goes_to_its_county(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE_OTHER_COUNTY)
    number = id_numbers.reveal(settings.data_key, child.id_number_enc)
    filed = await file(client, world, "reporter", id_number=number)
    assert filed["area_code"] == TOWNSHIP  # what the filer gave; nothing about the match
    r = await client.get(f"{REPORTS}/{filed['id']}", headers=world["officer_other_county"].headers)
    assert r.status_code == 200 and r.json()["child_id"] == str(child.id)
    assert r.json()["reported_area_code"] == TOWNSHIP
    r = await client.get(f"{REPORTS}/{filed['id']}", headers=world["officer"].headers)
    assert r.status_code == 404
    mine = (await client.get(f"{REPORTS}/mine", headers=world["reporter"].headers)).json()
    assert [m["area_code"] for m in mine["items"]] == [TOWNSHIP]


async def test_idempotent_retry(client, world, session):
    rid = new_id()
    data = body(id=rid)
    h = world["reporter"].headers
    first = await client.post(REPORTS, json=data, headers=h)
    assert first.status_code == 201
    again = await client.post(REPORTS, json=data, headers=h)
    assert again.status_code == 200 and again.json() == first.json()
    # The same instants written in another time zone are the same content.
    cst = timezone(timedelta(hours=8))
    shifted = dict(
        data,
        occurred_at=datetime.fromisoformat(data["occurred_at"]).astimezone(cst).isoformat(),
    )
    assert (await client.post(REPORTS, json=shifted, headers=h)).status_code == 200
    r = await client.post(REPORTS, json=dict(data, description="别的内容"), headers=h)
    assert r.status_code == 409 and r.json()["code"] == "id_taken"
    r = await client.post(REPORTS, json=data, headers=world["director"].headers)
    assert r.status_code == 409
    assert await count(session, Report) == 1
    assert len(await outbox(session, "report.submitted")) == 1


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"situation": "bad_weather"}, "situation", "validation_error"),
        ({"reporter_sector": "bank"}, "reporter_sector", "validation_error"),
        ({"child_description": None}, "child_description", "child_required"),
        ({"child_description": {}}, "child_description", "child_required"),
        ({"child_description": {"nickname": "x"}}, "child_description.nickname", None),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at", "future_date"),
        ({"occurred_at": "2026-01-01T08:00:00"}, "occurred_at", "validation_error"),
        ({"discovered_at": "2000-01-01T00:00:00Z"}, "discovered_at", None),
        ({"police_notified_at": "2026-01-01T00:00:00Z"}, "police_notified", None),
        ({"area_code": None}, "area_code", "area_required"),
        ({"area_code": "62"}, "area_code", "validation_error"),
        ({"area_code": "620722100999"}, "area_code", "unknown_area"),
        ({"id_number": "62072220150314001X"}, "id_number", "invalid_id_number"),
        ({"description": ""}, "description", "validation_error"),
    ],
)
async def test_bad_input(client, world, session, change, field, code):
    r = await client.post(REPORTS, json=body(**change), headers=world["reporter"].headers)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in problem["errors"]]
    if code:
        assert problem["code"] == code
    assert await count(session, Report) == 0


async def test_area_out_of_the_filers_reach_is_404(client, world, session):
    for area in (VILLAGE_OTHER_TOWNSHIP, COUNTY):
        r = await client.post(REPORTS, json=body(area_code=area), headers=world["reporter"].headers)
        assert r.status_code == 404, r.text
        assert r.json()["code"] == "area_not_found"
    assert await count(session, Report) == 0


async def test_child_out_of_scope_or_unknown_is_404(client, world, session, settings):
    elsewhere = await make_child(session, settings, VILLAGE_OTHER_TOWNSHIP)
    for child_id in (str(elsewhere.id), new_id()):
        r = await client.post(
            REPORTS, json=body(child_id=child_id, area_code=None), headers=world["director"].headers
        )
        assert r.status_code == 404
    assert await count(session, Report) == 0
    assert (await fresh(session, Child, elsewhere.id)).risk_level == "blue"


@pytest.mark.parametrize("actor", ["director", "supervisor", "officer", "reporter"])
async def test_staff_and_reporters_may_file(client, world, actor):
    filed = await file(client, world, actor, area_code=VILLAGE)
    assert filed["status"] == "submitted"


@pytest.mark.parametrize("actor", ["auditor", "admin"])
async def test_roles_outside_the_matrix_cannot_file(client, world, actor):
    r = await client.post(REPORTS, json=body(area_code=VILLAGE), headers=world[actor].headers)
    assert r.status_code == 403


async def test_needs_a_token(client, world):
    assert (await client.post(REPORTS, json=body())).status_code == 401


def test_every_report_enum_has_labels():
    from childprotect_api.models import report as r
    from childprotect_api.services.enums import ENUM_LABELS

    for name, enum in [
        ("report_situation", r.ReportSituation),
        ("reporter_sector", r.ReporterSector),
        ("report_status", r.ReportStatus),
        ("report_outcome", r.ReportOutcome),
        ("referral_target", r.ReferralTarget),
        ("referral_status", r.ReferralStatus),
        ("report_event_kind", r.ReportEventKind),
    ]:
        assert set(ENUM_LABELS[name]) == {e.value for e in enum}, name
