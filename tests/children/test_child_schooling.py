"""Schooling (控辍保学), subsidies and lookup by ID number: by staff and by integration clients
with their scopes and area."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.child import Child
from childprotect_api.services.children import id_numbers
from childprotect_api.services.children.rules import today
from tests.children.child_payloads import CHILDREN
from tests.conftest import (
    COUNTY,
    OUTSIDER_OFFICERS,
    OUTSIDER_SUPERVISORS,
    OUTSIDERS,
    TOWNSHIP,
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_OTHER_TOWNSHIP,
)
from tests.factories import make_child
from tests.integrations.client_helpers import seed_client

OUT_OF_SCOPE = (*OUTSIDERS, *OUTSIDER_SUPERVISORS, *OUTSIDER_OFFICERS)
NOT_IN_MATRIX = ("reporter", "auditor", "admin")

SCHOOLING = {
    "school": "洪水镇中心小学",
    "grade": "四年级",
    "enrolment_status": "enrolled",
    "boarding": True,
}
SUBSIDIES = {
    "subsidies": [
        {"kind": "minimum_living_allowance", "monthly_amount": "412.50", "from": "2025-01-01"},
        {
            "kind": "orphan_allowance",
            "monthly_amount": 1300,
            "from": "2024-01-01",
            "to": "2024-12-31",
        },
    ]
}


def _if_match(actor, version: int = 1) -> dict[str, str]:
    return {**actor.headers, "If-Match": f'"{version}"'}


async def _audit(session, child_id) -> list[str]:
    rows = await session.execute(
        select(AuditEvent.action).where(AuditEvent.resource_id == child_id).order_by(AuditEvent.id)
    )
    return list(rows.scalars())


# --- schooling ----------------------------------------------------------------------------


async def test_staff_set_schooling_with_if_match(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    url = f"{CHILDREN}/{child.id}/schooling"
    r = await client.put(url, json=SCHOOLING, headers=world["director"].headers)
    assert r.status_code == 428 and r.json()["code"] == "if_match_required"
    r = await client.put(url, json=SCHOOLING, headers=_if_match(world["director"], 7))
    assert r.status_code == 412
    r = await client.put(url, json=SCHOOLING, headers=_if_match(world["director"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["school"] == "洪水镇中心小学" and body["grade"] == "四年级"
    assert body["enrolment_status"] == "enrolled" and body["boarding"] is True
    assert body["dropout_risk"] is False and body["dropout_reported_on"] is None
    assert body["version"] == 2 and r.headers["etag"] == '"2"'
    assert body["categories_changed"] is False
    # The record shows it; the audit log has the write.
    got = (await client.get(f"{CHILDREN}/{child.id}", headers=world["director"].headers)).json()
    assert got["school"] == "洪水镇中心小学" and got["dropout_risk"] is False
    assert "child.schooling_set" in await _audit(session, child.id)
    # The same state again changes nothing (no version bump).
    r = await client.put(url, json=SCHOOLING, headers=_if_match(world["director"], 2))
    assert r.status_code == 200 and r.json()["version"] == 2


async def test_dropout_adds_category_and_brings_the_visit_due_now(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, categories=["left_behind"])
    due_before = child.next_visit_due
    assert due_before is not None and due_before > datetime.now(UTC) + timedelta(days=30)
    edu = await seed_client(session, settings, scopes=["schooling:write"], area=COUNTY)
    url = f"{CHILDREN}/{child.id}/schooling"
    reported = (today() - timedelta(days=2)).isoformat()
    body = {**SCHOOLING, "dropout_risk": True, "dropout_reported_on": reported}
    r = await client.put(url, json=body, headers=edu.headers)  # no If-Match: a client may omit it
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["categories_changed"] is True and out["dropout_reported_on"] == reported
    due = datetime.fromisoformat(out["next_visit_due"])
    assert due <= datetime.now(UTC)
    await session.refresh(child)
    assert child.categories == ["left_behind", "dropout_risk"]
    # Staff visit and move the due date; the school resends the same report: nothing moves.
    child.next_visit_due = datetime.now(UTC) + timedelta(days=7)
    await session.commit()
    r = await client.put(url, json=body, headers=edu.headers)
    assert r.status_code == 200 and r.json()["version"] == out["version"]
    await session.refresh(child)
    assert child.next_visit_due > datetime.now(UTC) + timedelta(days=6)
    # Back in school: the category stays until staff remove it.
    back = {**SCHOOLING, "enrolment_status": "enrolled", "dropout_risk": False}
    r = await client.put(url, json=back, headers=edu.headers)
    assert r.status_code == 200 and r.json()["dropout_risk"] is False
    await session.refresh(child)
    assert "dropout_risk" in child.categories
    # A child who drops out later: reported today by default, due now again.
    dropped = {**SCHOOLING, "enrolment_status": "dropped_out"}
    r = await client.put(url, json=dropped, headers=edu.headers)
    assert r.status_code == 200
    assert r.json()["dropout_reported_on"] == today().isoformat()
    assert datetime.fromisoformat(r.json()["next_visit_due"]) <= datetime.now(UTC)
    assert r.json()["categories_changed"] is False  # it still had the category


async def test_client_with_if_match_gets_412_when_stale(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    edu = await seed_client(session, settings, scopes=["schooling:write"], area=COUNTY)
    r = await client.put(
        f"{CHILDREN}/{child.id}/schooling",
        json=SCHOOLING,
        headers={**edu.headers, "If-Match": '"9"'},
    )
    assert r.status_code == 412


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"school": "x"}, "enrolment_status"),
        ({**SCHOOLING, "enrolment_status": "on_holiday"}, "enrolment_status"),
        ({**SCHOOLING, "grade": "x" * 21}, "grade"),
        ({**SCHOOLING, "dropout_risk": True, "dropout_reported_on": "2999-01-01"}, None),
        ({**SCHOOLING, "dropout_reported_on": "not-a-date"}, "dropout_reported_on"),
        ({**SCHOOLING, "risk_level": "red"}, "risk_level"),
    ],
)
async def test_bad_schooling_answers_422_naming_the_field(
    client, world, session, settings, body, field
):
    child = await make_child(session, settings, VILLAGE)
    r = await client.put(
        f"{CHILDREN}/{child.id}/schooling", json=body, headers=_if_match(world["director"])
    )
    assert r.status_code == 422, r.text
    fields = [e["field"] for e in r.json()["errors"]]
    assert (field or "dropout_reported_on") in fields


async def test_schooling_of_a_closed_child_is_refused(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, status="closed")
    r = await client.put(
        f"{CHILDREN}/{child.id}/schooling", json=SCHOOLING, headers=_if_match(world["director"])
    )
    assert r.status_code == 409 and r.json()["code"] == "child_closed"


# --- subsidies ----------------------------------------------------------------------------


async def test_set_subsidies_replaces_the_list(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    url = f"{CHILDREN}/{child.id}/subsidies"
    r = await client.put(url, json=SUBSIDIES, headers=world["supervisor"].headers)
    assert r.status_code == 428
    r = await client.put(url, json=SUBSIDIES, headers=_if_match(world["supervisor"]))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["version"] == 2 and r.headers["etag"] == '"2"'
    assert out["subsidies"][0] == {
        "kind": "minimum_living_allowance",
        "monthly_amount": "412.50",  # money is a decimal string both ways
        "from": "2025-01-01",
        "to": None,
    }
    got = (await client.get(f"{CHILDREN}/{child.id}", headers=world["director"].headers)).json()
    assert [s["kind"] for s in got["subsidies"]] == ["minimum_living_allowance", "orphan_allowance"]
    assert got["subsidies"][1]["monthly_amount"] == "1300.00"
    assert "child.subsidies_set" in await _audit(session, child.id)
    # An empty list clears it; a civil-affairs client needs no If-Match.
    civil = await seed_client(session, settings, scopes=["subsidies:write"], area=TOWNSHIP)
    r = await client.put(url, json={"subsidies": []}, headers=civil.headers)
    assert r.status_code == 200 and r.json()["subsidies"] == [] and r.json()["version"] == 3


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"kind": "pocket_money", "monthly_amount": 1, "from": "2025-01-01"}, "subsidies.0.kind"),
        (
            {"kind": "other", "monthly_amount": -1, "from": "2025-01-01"},
            "subsidies.0.monthly_amount",
        ),
        (
            {"kind": "other", "monthly_amount": "1.234", "from": "2025-01-01"},
            "subsidies.0.monthly_amount",
        ),
        ({"kind": "other", "monthly_amount": 1}, "subsidies.0.from"),
        ({"kind": "other", "monthly_amount": 1, "from": "2025-02-01", "to": "2025-01-01"}, None),
    ],
)
async def test_bad_subsidies_answer_422(client, world, session, settings, item, field):
    child = await make_child(session, settings, VILLAGE)
    r = await client.put(
        f"{CHILDREN}/{child.id}/subsidies",
        json={"subsidies": [item]},
        headers=_if_match(world["director"]),
    )
    assert r.status_code == 422, r.text
    fields = [e["field"] for e in r.json()["errors"]]
    assert (field or "subsidies.0") in fields


async def test_overlapping_subsidies_of_one_kind_answer_422(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    body = {
        "subsidies": [
            {"kind": "other", "monthly_amount": 10, "from": "2025-01-01", "to": "2025-06-30"},
            {"kind": "other", "monthly_amount": 20, "from": "2025-06-01"},
        ]
    }
    r = await client.put(
        f"{CHILDREN}/{child.id}/subsidies", json=body, headers=_if_match(world["director"])
    )
    assert r.status_code == 422
    assert r.json()["code"] == "overlapping_subsidies"
    assert r.json()["errors"][0]["field"] == "subsidies.1"


# --- scope and permissions ----------------------------------------------------------------

WRITES = {"schooling": SCHOOLING, "subsidies": SUBSIDIES}


@pytest.mark.parametrize("what", list(WRITES))
async def test_write_scope_matrix_for_staff(client, world, session, settings, what):
    child = await make_child(session, settings, VILLAGE)
    url = f"{CHILDREN}/{child.id}/{what}"
    for actor in OUT_OF_SCOPE:
        r = await client.put(url, json=WRITES[what], headers=_if_match(world[actor]))
        assert r.status_code == 404, (actor, r.text)
    for actor in NOT_IN_MATRIX:
        r = await client.put(url, json=WRITES[what], headers=_if_match(world[actor]))
        assert r.status_code == 403, (actor, r.text)
        assert r.json()["code"] == "role_forbidden"
    r = await client.put(
        f"{CHILDREN}/{uuid.uuid4()}/{what}", json=WRITES[what], headers=_if_match(world["officer"])
    )
    assert r.status_code == 404
    version = 1
    for actor in ("director", "supervisor", "officer"):
        r = await client.put(url, json=WRITES[what], headers=_if_match(world[actor], version))
        assert r.status_code == 200, (actor, r.text)
        version = r.json()["version"]


@pytest.mark.parametrize(
    ("what", "needed"), [("schooling", "schooling:write"), ("subsidies", "subsidies:write")]
)
async def test_write_scope_matrix_for_clients(client, world, session, settings, what, needed):
    child = await make_child(session, settings, VILLAGE)
    url = f"{CHILDREN}/{child.id}/{what}"
    others = {"schooling:write", "subsidies:write", "children:read", "children:write"} - {needed}
    lacking = await seed_client(session, settings, scopes=sorted(others), area=COUNTY)
    r = await client.put(url, json=WRITES[what], headers=lacking.headers)
    assert r.status_code == 403
    assert r.json()["code"] == "missing_scope" and r.json()["missing_scope"] == needed
    for area in (VILLAGE_OTHER_TOWNSHIP, VILLAGE_OTHER_COUNTY):
        outside = await seed_client(session, settings, scopes=[needed], area=area)
        r = await client.put(url, json=WRITES[what], headers=outside.headers)
        assert r.status_code == 404, area
    inside = await seed_client(session, settings, scopes=[needed], area=VILLAGE)
    r = await client.put(url, json=WRITES[what], headers=inside.headers)
    assert r.status_code == 200, r.text
    # The answer carries only what the scope is about, not the child's personal data.
    assert "name" not in r.json() and "health_notes" not in r.json()


# --- lookup -------------------------------------------------------------------------------


def _id_number_of(settings, child: Child) -> str:
    assert child.id_number_enc is not None
    return id_numbers.reveal(settings.data_key, child.id_number_enc)


async def test_lookup_by_id_number_in_scope(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    number = _id_number_of(settings, child)
    for actor in ("director", "supervisor", "officer"):
        r = await client.post(
            f"{CHILDREN}/lookup", json={"id_number": number}, headers=world[actor].headers
        )
        assert r.status_code == 200, (actor, r.text)
        assert r.json() == {
            "id": str(child.id),
            "area_code": VILLAGE,
            "status": "active",
            "id_number": child.id_number_masked,
        }
    # Lower case x and spaces are the same number.
    r = await client.post(
        f"{CHILDREN}/lookup",
        json={"id_number": f"  {number.lower()} "},
        headers=world["director"].headers,
    )
    assert r.status_code == 200
    assert (await _audit(session, child.id)).count("child.lookup") == 4
    # The ID number never appears in the URL, the audit row or the answer in clear.
    assert number not in r.text


async def test_lookup_never_reveals_children_outside_the_scope(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    number = _id_number_of(settings, child)
    unknown = id_numbers.make("620722", child.birth_date, 999, "male")
    for actor in OUT_OF_SCOPE:
        for value in (number, unknown):
            r = await client.post(
                f"{CHILDREN}/lookup", json={"id_number": value}, headers=world[actor].headers
            )
            assert r.status_code == 404, (actor, r.text)
            assert r.json()["code"] == "not_found"
    missing = await client.post(
        f"{CHILDREN}/lookup",
        json={"id_number": number},
        headers=world["officer_other_county"].headers,
    )
    absent = await client.post(
        f"{CHILDREN}/lookup",
        json={"id_number": unknown},
        headers=world["officer_other_county"].headers,
    )
    assert missing.json()["detail"] == absent.json()["detail"]
    for actor in NOT_IN_MATRIX:
        r = await client.post(
            f"{CHILDREN}/lookup", json={"id_number": number}, headers=world[actor].headers
        )
        assert r.status_code == 403


async def test_lookup_for_clients(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    body = {"id_number": _id_number_of(settings, child)}
    reader = await seed_client(session, settings, scopes=["children:read"], area=COUNTY)
    r = await client.post(f"{CHILDREN}/lookup", json=body, headers=reader.headers)
    assert r.status_code == 200 and r.json()["id"] == str(child.id)
    audit = (
        await session.execute(
            select(AuditEvent).where(
                AuditEvent.resource_id == child.id, AuditEvent.action == "child.lookup"
            )
        )
    ).scalar_one()
    assert str(audit.client_id) == reader.id
    writer = await seed_client(session, settings, scopes=["schooling:write"], area=COUNTY)
    r = await client.post(f"{CHILDREN}/lookup", json=body, headers=writer.headers)
    assert r.status_code == 403 and r.json()["missing_scope"] == "children:read"
    outside = await seed_client(
        session, settings, scopes=["children:read"], area=VILLAGE_OTHER_TOWNSHIP
    )
    r = await client.post(f"{CHILDREN}/lookup", json=body, headers=outside.headers)
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "validation_error"),
        ({"id_number": ""}, "validation_error"),
        ({"id_number": "62072220150314001"}, "invalid_id_number"),
        ({"id_number": "620722201503140010"}, "invalid_id_number"),
        ({"id_number": "x", "name": "李小花"}, "validation_error"),
    ],
)
async def test_lookup_bad_input(client, world, body, code):
    r = await client.post(f"{CHILDREN}/lookup", json=body, headers=world["director"].headers)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code
    assert r.json()["errors"]
