"""Agreement drafts: creation and its rules, idempotent retries, protected ID numbers,
If-Match editing of drafts only, and scans."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from childprotect_api.services.agreements.expiry import china_today
from childprotect_api.services.children import id_numbers
from tests.agreements.agreement_helpers import (
    AGREEMENTS,
    CHILDREN,
    adult_id,
    away_child,
    body,
    create,
    make_active,
)
from tests.factories import make_child


async def _count(session, table: str = "agreements") -> int:
    return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_director_drafts_an_agreement(client, world, session, settings):
    child = await away_child(session, settings)
    payload = body(checklist={"no_abuse_record": True, "no_drug_habit": False})
    r = await client.post(
        f"{CHILDREN}/{child.id}/agreements", json=payload, headers=world["director"].headers
    )
    assert r.status_code == 201, r.text
    a = r.json()
    assert r.headers["ETag"] == '"1"'
    assert a["status"] == "draft" and a["child_id"] == str(child.id) and a["version"] == 1
    assert a["area_code"] == child.area_code
    # Masked ID numbers; the caregiver's birth date comes from the ID number.
    assert a["caregiver"]["id_number"].startswith("6207") and "*" in a["caregiver"]["id_number"]
    assert a["guardian"]["id_number"].count("*") == 10
    assert a["caregiver"]["birth_date"] == "1961-04-09"
    # The guardian's work place and since-when default to the father's on the child record.
    assert a["guardian"]["work_place"] == "广东省东莞市"
    assert a["guardian"]["away_since"] == "2023-02-01"
    entry = a["checklist"]["no_abuse_record"]
    assert entry["confirmed"] is True and entry["by"] == str(world["director"].id)
    assert a["checklist"]["no_drug_habit"]["confirmed"] is False
    assert a["checklist"]["no_alcohol_habit"] is None
    assert (
        "no_drug_habit" in a["unconfirmed_items"]
        and "no_abuse_record" not in a["unconfirmed_items"]
    )
    assert all(v is None for v in a["signatures"].values())

    r = await client.get(f"{AGREEMENTS}/{a['id']}/history", headers=world["director"].headers)
    assert r.status_code == 200
    assert [(h["old_status"], h["new_status"]) for h in r.json()] == [(None, "draft")]
    audited = await session.execute(
        text("SELECT action FROM audit_log WHERE resource_id = :id ORDER BY id"), {"id": a["id"]}
    )
    assert list(audited.scalars()) == ["create", "read"]


async def test_create_is_idempotent_by_client_id(client, world, session, settings):
    child = await away_child(session, settings)
    other = await away_child(session, settings)
    agreement_id = str(uuid.uuid4())
    payload = body(id=agreement_id)
    url = f"{CHILDREN}/{child.id}/agreements"
    headers = world["director"].headers
    first = await client.post(url, json=payload, headers=headers)
    again = await client.post(url, json=payload, headers=headers)
    assert first.status_code == 201 and again.status_code == 200, again.text
    assert again.json()["id"] == agreement_id == first.json()["id"]
    assert await _count(session) == 1
    # The same id with other content, or for another child, is a conflict.
    changed = dict(payload, times_per_week_child=3)
    r = await client.post(url, json=changed, headers=headers)
    assert r.status_code == 409 and r.json()["code"] == "id_taken"
    r = await client.post(f"{CHILDREN}/{other.id}/agreements", json=payload, headers=headers)
    assert r.status_code == 409 and r.json()["code"] == "id_taken"
    assert await _count(session) == 1


async def test_id_numbers_are_not_stored_in_clear(client, world, session, settings):
    child = await away_child(session, settings)
    payload = body()
    a = await create(client, world["director"].headers, child.id, **payload)
    row = (
        await session.execute(
            text("SELECT a::text AS whole, * FROM agreements a WHERE id = :id"), {"id": a["id"]}
        )
    ).one()
    for number in (payload["guardian"]["id_number"], payload["caregiver"]["id_number"]):
        assert number not in row.whole
        assert number.encode() not in bytes(row.caregiver_id_number_enc)
    assert (
        id_numbers.reveal(settings.data_key, row.caregiver_id_number_enc)
        == (payload["caregiver"]["id_number"])
    )
    assert row.caregiver_id_number_hash == id_numbers.hash_of(
        settings.data_key, payload["caregiver"]["id_number"]
    )
    assert (
        id_numbers.reveal(settings.data_key, row.guardian_id_number_enc)
        == (payload["guardian"]["id_number"])
    )


async def test_caregiver_must_be_18_on_starts_on(client, world, session, settings):
    child = await away_child(session, settings)
    starts = china_today()
    born_18 = date(starts.year - 18, starts.month, min(starts.day, 28))
    url = f"{CHILDREN}/{child.id}/agreements"
    headers = world["director"].headers

    def with_caregiver_born(born: date) -> dict:
        payload = body(starts_on=born.replace(year=born.year + 18).isoformat())
        payload["caregiver"]["id_number"] = adult_id(born)
        return payload

    # Exactly 18 on starts_on is allowed; a day younger is not.
    r = await client.post(url, json=with_caregiver_born(born_18), headers=headers)
    assert r.status_code == 201, r.text
    young = with_caregiver_born(born_18)
    young["starts_on"] = (date.fromisoformat(young["starts_on"]) - timedelta(days=1)).isoformat()
    r = await client.post(url, json=young, headers=headers)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "caregiver_under_18"
    assert problem["errors"][0]["field"] == "caregiver.id_number"
    assert "17" in problem["detail"]
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _count(session) == 1


async def test_child_without_a_parent_away(client, world, session, settings):
    child = await make_child(
        session,
        settings,
        world["director"].user.area_code,
        father={"situation": "at_home"},
        mother={"situation": "deceased"},
    )
    r = await client.post(
        f"{CHILDREN}/{child.id}/agreements", json=body(), headers=world["director"].headers
    )
    assert r.status_code == 422
    problem = r.json()
    assert problem["code"] == "no_parent_away"
    assert problem["errors"][0]["field"] == "child_id"
    assert "father: at_home" in problem["detail"] and "mother: deceased" in problem["detail"]
    assert await _count(session) == 0
    # A mother working away is enough.
    mother_away = await away_child(
        session, settings, father={"situation": "at_home"}, mother={"situation": "working_away"}
    )
    r = await client.post(
        f"{CHILDREN}/{mother_away.id}/agreements",
        json=body(guardian={"name": "张丽", "relation": "mother"}),
        headers=world["director"].headers,
    )
    assert r.status_code == 201, r.text


def _dates(starts: int, ends: int) -> dict:
    today = china_today()
    return {
        "starts_on": (today + timedelta(days=starts)).isoformat(),
        "ends_on": (today + timedelta(days=ends)).isoformat(),
    }


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        (_dates(10, 5), "ends_on", "ends_before_start"),
        (_dates(10, 10), "ends_on", "ends_before_start"),
        ({"times_per_week_child": 0}, "times_per_week_child", "validation_error"),
        ({"times_per_week_caregiver": 0}, "times_per_week_caregiver", "validation_error"),
        ({"checklist": {"no_theft_record": True}}, "checklist.no_theft_record", "validation_error"),
        ({"starts_on": "2026-02-30"}, "starts_on", "validation_error"),
        ({"caregiver": None}, "caregiver", "validation_error"),
        (
            {"school_notified_on": (china_today() + timedelta(days=3)).isoformat()},
            "school_notified_on",
            "date_in_future",
        ),
    ],
)
async def test_bad_inputs(client, world, session, settings, change, field, code):
    child = await away_child(session, settings)
    r = await client.post(
        f"{CHILDREN}/{child.id}/agreements", json=body(**change), headers=world["director"].headers
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code
    assert field in [e["field"] for e in r.json()["errors"]]
    assert await _count(session) == 0


@pytest.mark.parametrize(
    ("section", "change", "field", "code"),
    [
        ("caregiver", {}, "caregiver.id_number", "invalid_id_number"),
        ("caregiver", {"relation": "grandmother"}, "caregiver.relation", "validation_error"),
        ("caregiver", {"phone": "call me"}, "caregiver.phone", "validation_error"),
        ("guardian", {"relation": "uncle"}, "guardian.relation", "validation_error"),
        ("guardian", {"name": ""}, "guardian.name", "validation_error"),
    ],
)
async def test_bad_party_fields(client, world, session, settings, section, change, field, code):
    child = await away_child(session, settings)
    payload = body()
    payload[section] = dict(payload[section], **change)
    if code == "invalid_id_number":  # the right pattern with a wrong check digit
        first17 = payload["caregiver"]["id_number"][:17]
        wrong = "0" if id_numbers.check_digit(first17) != "0" else "1"
        payload["caregiver"]["id_number"] = first17 + wrong
    r = await client.post(
        f"{CHILDREN}/{child.id}/agreements", json=payload, headers=world["director"].headers
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code
    assert r.json()["errors"][0]["field"] == field


async def test_caregiver_may_not_be_the_guardian(client, world, session, settings):
    child = await away_child(session, settings)
    payload = body()
    payload["caregiver"]["id_number"] = payload["guardian"]["id_number"]
    r = await client.post(
        f"{CHILDREN}/{child.id}/agreements", json=payload, headers=world["director"].headers
    )
    assert r.status_code == 422 and r.json()["code"] == "caregiver_is_guardian"


async def test_closed_or_unknown_child(client, world, session, settings):
    closed = await away_child(session, settings, status="closed")
    r = await client.post(
        f"{CHILDREN}/{closed.id}/agreements", json=body(), headers=world["director"].headers
    )
    assert r.status_code == 422 and r.json()["code"] == "child_closed"
    r = await client.post(
        f"{CHILDREN}/{uuid.uuid4()}/agreements", json=body(), headers=world["director"].headers
    )
    assert r.status_code == 404


async def test_patch_needs_if_match_and_edits_drafts(client, world, session, settings):
    child = await away_child(session, settings)
    a = await create(client, world["director"].headers, child.id, checklist={})
    url = f"{AGREEMENTS}/{a['id']}"
    headers = world["supervisor"].headers
    r = await client.get(url, headers=headers)
    etag = r.headers["ETag"]
    assert etag == '"1"'

    patch = {"checklist": {"no_abuse_record": True}, "times_per_week_child": 3}
    r = await client.patch(url, json=patch, headers=headers)
    assert r.status_code == 428 and r.json()["code"] == "if_match_required"
    r = await client.patch(url, json=patch, headers={**headers, "If-Match": '"7"'})
    assert r.status_code == 412 and r.json()["code"] == "version_mismatch"
    r = await client.patch(url, json=patch, headers={**headers, "If-Match": "garbage"})
    assert r.status_code == 412
    r = await client.patch(url, json=patch, headers={**headers, "If-Match": etag})
    assert r.status_code == 200, r.text
    updated = r.json()
    assert r.headers["ETag"] == '"2"' and updated["version"] == 2
    assert updated["times_per_week_child"] == 3
    assert updated["checklist"]["no_abuse_record"]["by"] == str(world["supervisor"].id)
    assert updated["updated_by"] == str(world["supervisor"].id)
    # The stale ETag no longer works.
    r = await client.patch(
        url, json={"times_per_week_child": 4}, headers={**headers, "If-Match": etag}
    )
    assert r.status_code == 412

    # A change that breaks a rule is refused whole.
    young = adult_id(china_today() - timedelta(days=365 * 17))
    bad = {"caregiver": {"id_number": young}, "times_per_week_child": 5}
    r = await client.patch(url, json=bad, headers={**headers, "If-Match": '"2"'})
    assert r.status_code == 422 and r.json()["code"] == "caregiver_under_18"
    r = await client.get(url, headers=headers)
    assert r.json()["version"] == 2 and r.json()["times_per_week_child"] == 3
    # Required fields cannot be nulled; checklist items can be cleared.
    r = await client.patch(url, json={"starts_on": None}, headers={**headers, "If-Match": '"2"'})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "starts_on"
    r = await client.patch(
        url,
        json={"checklist": {"no_abuse_record": None}, "guardian": {"phone": None}},
        headers={**headers, "If-Match": 'W/"2"'},
    )
    assert r.status_code == 200
    assert r.json()["checklist"]["no_abuse_record"] is None
    assert r.json()["guardian"]["phone"] is None


async def test_an_active_agreement_is_not_editable(client, world, session, settings):
    child = await away_child(session, settings)
    a = await make_active(client, world, child.id)
    r = await client.patch(
        f"{AGREEMENTS}/{a['id']}",
        json={"times_per_week_child": 3},
        headers={**world["director"].headers, "If-Match": f'"{a["version"]}"'},
    )
    assert r.status_code == 409 and r.json()["code"] == "not_editable"


PDF = b"%PDF-1.7\n" + b"\x00" * 64


async def test_scans_of_the_signed_paper(client, world, session, settings):
    child = await away_child(session, settings)
    a = await make_active(client, world, child.id)
    url = f"{AGREEMENTS}/{a['id']}/attachments"
    headers = world["director"].headers
    r = await client.post(
        url, files={"file": ("协议.pdf", PDF, "application/pdf")}, headers=headers
    )
    assert r.status_code == 201, r.text
    scan = r.json()
    assert scan["content_type"] == "application/pdf"
    r = await client.post(
        url, files={"file": ("again.pdf", PDF, "application/pdf")}, headers=headers
    )
    assert r.status_code == 200 and r.json()["id"] == scan["id"]
    # A text file renamed to .jpg is refused by its content.
    r = await client.post(
        url, files={"file": ("scan.jpg", b"not really a picture", "image/jpeg")}, headers=headers
    )
    assert r.status_code == 415 and r.json()["code"] == "unsupported_file_type"
    r = await client.post(
        url, files={"file": ("empty.pdf", b"", "application/pdf")}, headers=headers
    )
    assert r.status_code == 422
    r = await client.get(url, headers=world["officer"].headers)
    assert [s["id"] for s in r.json()] == [scan["id"]]
    r = await client.get(f"{url}/{scan['id']}", headers=world["supervisor"].headers)
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''%E5%8D%8F%E8%AE%AE.pdf" in r.headers["content-disposition"]
    assert (await client.get(f"{url}/{uuid.uuid4()}", headers=headers)).status_code == 404
    assert await _count(session, "attachments") == 1


async def test_scan_size_limit(client, world, session, settings, app):
    app.state.settings = settings.model_copy(update={"max_upload_bytes": 100})
    child = await away_child(session, settings)
    a = await create(client, world["director"].headers, child.id)
    r = await client.post(
        f"{AGREEMENTS}/{a['id']}/attachments",
        files={"file": ("big.pdf", PDF + b"x" * 200, "application/pdf")},
        headers=world["director"].headers,
    )
    assert r.status_code == 413
