"""The child record: create, read, update, validation, duplicates, idempotent retries, and
the protection of ID numbers (never in clear in the database or the logs)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.user import Role
from childprotect_api.models.visit_policy import DEFAULT_INTERVAL_DAYS
from childprotect_api.schemas.child import ChildCreate
from childprotect_api.security.crypto import lookup_hash
from childprotect_api.services.children import id_numbers
from childprotect_api.services.children.rules import fingerprint, today, years_before
from tests.children.child_payloads import CHILDREN, etag_of, id_number, new_child
from tests.conftest import (
    TOWNSHIP,
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_SAME_TOWNSHIP,
    make_actor,
)


async def _create(client, actor, **kw):
    r = await client.post(CHILDREN, json=new_child(**kw), headers=actor.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_read_and_list(client, world):
    body = new_child()
    r = await client.post(CHILDREN, json=body, headers=world["director"].headers)
    assert r.status_code == 201, r.text
    child = r.json()
    assert etag_of(r) == '"1"'
    assert child["id_number"] == body["id_number"][:4] + "*" * 10 + body["id_number"][-4:]
    assert child["area_code"] == VILLAGE and child["status"] == "active"
    # The benefit category a director declares is proposed (an application), not granted.
    assert child["categories"] == ["left_behind"]
    assert child["father"]["situation"] == "working_away"
    assert child["subsidies"][0]["from"] == "2024-01-01"
    assert child["risk_level"] == "blue" and child["next_visit_due"]
    assert child["age"] == id_numbers.age_on(date(2016, 5, 20), today())

    r = await client.get(f"{CHILDREN}/{child['id']}", headers=world["supervisor"].headers)
    assert r.status_code == 200 and etag_of(r) == '"1"'
    assert r.json() == child

    r = await client.get(CHILDREN, headers=world["officer"].headers)
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["items"]] == [child["id"]]
    assert "health_notes" not in r.json()["items"][0]  # the list is a summary


async def test_create_without_id_number_and_initial_risk(client, world, session):
    body = new_child(with_id=False, risk_level="orange", risk_reason="父母均外出，祖母卧病")
    r = await client.post(CHILDREN, json=body, headers=world["director"].headers)
    assert r.status_code == 201, r.text
    assert r.json()["id_number"] is None and r.json()["risk_level"] == "orange"
    r = await client.get(
        f"{CHILDREN}/{r.json()['id']}/risk-history", headers=world["director"].headers
    )
    assert [(c["old_level"], c["new_level"]) for c in r.json()["items"]] == [(None, "orange")]


def _bad(field: str, code: str, actor: str = "director", **changes):
    return (changes, field, code, actor)


BORN = date(2016, 5, 20)


CREATE_BAD_INPUTS = [
    _bad("id_number", "invalid_id_number", id_number=id_number(BORN)[:17] + "0"),
    _bad("id_number", "invalid_id_number", id_number="62072220160520"),
    _bad("birth_date", "id_number_mismatch", birth_date="2016-05-21"),
    _bad("gender", "id_number_mismatch", gender="male"),
    _bad("gender", "validation_error", gender="other"),
    _bad("categories.0", "validation_error", categories=["wizard"]),
    _bad("categories", "duplicate_category", categories=["orphan", "orphan"]),
    _bad("father.situation", "validation_error", father={"situation": "astronaut"}),
    _bad("enrolment_status", "validation_error", enrolment_status="home_schooled"),
    _bad("area_code", "not_a_village", actor="supervisor", area_code=TOWNSHIP),
    _bad("area_code", "unknown_area", actor="supervisor", area_code="620722100099"),
    _bad("area_code", "validation_error", area_code="62-07"),
    _bad("name", "validation_error", name=""),
    _bad("pairing_helper_phone", "validation_error", pairing_helper_phone="call me"),
    _bad("risk_level", "validation_error", risk_level="purple"),
    _bad(
        "subsidies.0",
        "validation_error",
        subsidies=[{"kind": "other", "from": "2024-05-01", "to": "2024-01-01"}],
    ),
    _bad("surname", "validation_error", surname="李"),
]


async def test_create_bad_inputs(client, world, session):
    """Each bad input answers 422 problem+json naming the field; nothing is written."""
    for changes, field, code, actor in CREATE_BAD_INPUTS:
        body = {**new_child(born=BORN), **changes}
        r = await client.post(CHILDREN, json=body, headers=world[actor].headers)
        assert r.status_code == 422, (changes, r.text)
        problem = r.json()
        assert r.headers["content-type"].startswith("application/problem+json")
        assert problem["code"] == code, (changes, problem)
        assert field in [e["field"] for e in problem["errors"]], (changes, problem)
    assert (await session.execute(select(func.count()).select_from(Child))).scalar() == 0
    assert (await session.execute(select(func.count()).select_from(AuditEvent))).scalar() == 0


@pytest.mark.parametrize(
    ("born", "code"),
    [
        (today() + timedelta(days=1), "birth_date_in_future"),
        (years_before(today(), 18), "not_a_minor"),
        (years_before(today(), 30), "not_a_minor"),
    ],
)
async def test_birth_date_limits(client, world, born, code):
    body = new_child(born=born, with_id=False, categories=[])
    r = await client.post(CHILDREN, json=body, headers=world["director"].headers)
    assert r.status_code == 422 and r.json()["code"] == code
    assert r.json()["errors"][0]["field"] == "birth_date"


async def test_left_behind_is_for_children_under_16(client, world):
    born = years_before(today(), 16)
    r = await client.post(
        CHILDREN,
        json=new_child(born=born, categories=["left_behind"]),
        headers=world["director"].headers,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "categories"
    r = await client.post(
        CHILDREN,
        json=new_child(born=born, categories=["low_income"]),
        headers=world["director"].headers,
    )
    assert r.status_code == 201


async def test_area_out_of_scope_is_404(client, world):
    for area in (VILLAGE_SAME_TOWNSHIP, VILLAGE_OTHER_COUNTY):
        r = await client.post(CHILDREN, json=new_child(area), headers=world["director"].headers)
        assert r.status_code == 404, area


async def test_assigned_director_must_cover_the_village(client, world, session, settings):
    ok = [world["director"].id, world["supervisor"].id]
    bad = [
        world["director_other_village"].id,
        world["supervisor_other_township"].id,
        world["officer"].id,
        world["reporter"].id,
        uuid.uuid4(),
    ]
    inactive = await make_actor(session, settings, "gone", Role.village_director, VILLAGE)
    inactive.user.is_active = False
    await session.commit()
    bad.append(inactive.id)
    h = world["supervisor"].headers
    for uid in ok:
        r = await client.post(CHILDREN, json=new_child(assigned_director_id=str(uid)), headers=h)
        assert r.status_code == 201, r.text
    for uid in bad:
        r = await client.post(CHILDREN, json=new_child(assigned_director_id=str(uid)), headers=h)
        assert r.status_code == 422, uid
        assert r.json()["errors"][0]["field"] == "assigned_director_id"


async def test_duplicate_id_number_names_the_record_only_in_scope(client, world):
    body = new_child()
    first = await client.post(CHILDREN, json=body, headers=world["director"].headers)
    again = {**body, "name": "李晓华"}
    r = await client.post(CHILDREN, json=again, headers=world["supervisor"].headers)
    assert r.status_code == 409
    assert r.json()["code"] == "duplicate_child"
    assert r.json()["existing_child_id"] == first.json()["id"]
    # From a village that cannot see the record: only that it exists elsewhere.
    elsewhere = {**again, "area_code": VILLAGE_SAME_TOWNSHIP}
    r = await client.post(CHILDREN, json=elsewhere, headers=world["director_other_village"].headers)
    assert r.status_code == 409 and r.json()["code"] == "duplicate_child"
    assert "existing_child_id" not in r.json()
    assert "another area" in r.json()["detail"]
    assert first.json()["id"] not in r.text


async def test_offline_retry_makes_one_record(client, world, session):
    body = new_child(id=str(uuid.uuid4()))
    h = world["director"].headers
    first = await client.post(CHILDREN, json=body, headers=h)
    assert first.status_code == 201
    retry = await client.post(CHILDREN, json=body, headers=h)
    assert retry.status_code == 200
    assert retry.json() == first.json()
    count = (await session.execute(select(func.count()).select_from(Child))).scalar()
    assert count == 1
    # The same id with other content is a conflict, not an overwrite.
    r = await client.post(CHILDREN, json={**body, "name": "别的孩子"}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "id_taken"
    # ...and so is the same id seen from another village.
    other = {**body, "area_code": VILLAGE_SAME_TOWNSHIP}
    r = await client.post(CHILDREN, json=other, headers=world["director_other_village"].headers)
    assert r.status_code == 409 and r.json()["code"] == "id_taken"


async def _wait_for_lock_waiter(session) -> None:
    for _ in range(500):
        # pg_stat_activity is read once per transaction unless its snapshot is cleared: the
        # session's transaction may have begun before the request started waiting.
        await session.execute(text("SELECT pg_stat_clear_snapshot()"))
        waiting = (
            await session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
            )
        ).scalar()
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the request never waited on the unique index")


async def test_concurrent_double_insert_answers_409(client, world, db, settings, session):
    """Another transaction inserts the same ID number and commits while the request's insert
    waits on the unique index: the request answers 409, not 500."""
    body = new_child()
    async with db.sessionmaker() as other:
        protected = id_numbers.protect(settings.data_key, body["id_number"])
        rival = Child(
            county_code=VILLAGE[:6],
            area_code=VILLAGE,
            name="李小花",
            gender="female",
            birth_date=BORN,
            id_number_enc=protected.encrypted,
            id_number_hash=protected.hash,
            id_number_masked=protected.masked,
        )
        other.add(rival)
        await other.flush()  # holds the unique-index entry until commit
        request = asyncio.create_task(
            client.post(CHILDREN, json=body, headers=world["director"].headers)
        )
        await _wait_for_lock_waiter(session)
        await other.commit()
    r = await request
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "duplicate_child"
    assert r.json()["existing_child_id"] == str(rival.id)


async def test_id_number_never_stored_in_clear(client, world, session):
    body = new_child()
    child = await _create(client, world["director"], **{"id_number": body["id_number"]})
    row = (
        (await session.execute(text("SELECT * FROM children WHERE id = :id"), {"id": child["id"]}))
        .mappings()
        .one()
    )
    number = body["id_number"]
    for column, value in row.items():
        raw = value if isinstance(value, bytes) else str(value).encode()
        assert number.encode() not in raw, column
        assert number[6:14].encode() + number[14:].encode() not in raw, column
    assert row["id_number_masked"] == number[:4] + "*" * 10 + number[-4:]
    # Nor in any other table the request wrote to.
    for table in ("audit_log", "child_risk_changes", "outbox_events"):
        dump = (
            await session.execute(text(f"SELECT string_agg(t::text, '') FROM {table} t"))
        ).scalar()
        assert number not in (dump or ""), table


async def test_names_and_id_numbers_never_logged(client, world, caplog):
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy keeps its loggers at WARNING; open them too, so that the statements and
    # their (hidden) parameters are part of what is checked.
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    body = new_child(name="欧阳秘密")
    r = await client.post(CHILDREN, json=body, headers=world["director"].headers)
    child_id = r.json()["id"]
    await client.get(f"{CHILDREN}/{child_id}", headers=world["director"].headers)
    await client.get(CHILDREN, params={"q": "欧阳"}, headers=world["director"].headers)
    await client.get(
        f"{CHILDREN}/{child_id}",
        params={"reveal_id_number": True},
        headers=world["officer"].headers,
    )
    r = await client.patch(
        f"{CHILDREN}/{child_id}",
        json={"name": "欧阳另名", "id_number": "not-a-number"},
        headers={**world["director"].headers, "If-Match": '"1"'},
    )
    assert r.status_code == 422
    # A failed insert (duplicate) must not log its parameters either.
    await client.post(CHILDREN, json=body, headers=world["director"].headers)
    assert caplog.records, "logging was not captured"
    text_ = caplog.text + "".join(str(rec.args) for rec in caplog.records)
    for secret in (body["id_number"], "欧阳秘密", "欧阳另名", "欧阳"):
        assert secret not in text_


async def test_reveal_id_number_is_for_county_officers_and_audited(client, world, session):
    body = new_child()
    child = await _create(client, world["director"], id_number=body["id_number"])
    url = f"{CHILDREN}/{child['id']}"
    r = await client.get(url, params={"reveal_id_number": True}, headers=world["officer"].headers)
    assert r.status_code == 200 and r.json()["id_number"] == body["id_number"]
    for name in ("director", "supervisor"):
        r = await client.get(url, params={"reveal_id_number": True}, headers=world[name].headers)
        assert r.status_code == 403 and r.json()["code"] == "reveal_forbidden"
    actions = (
        await session.execute(
            select(AuditEvent.action, AuditEvent.actor_id).where(
                AuditEvent.resource_id == uuid.UUID(child["id"])
            )
        )
    ).all()
    assert ("child.reveal_id_number", world["officer"].id) in actions
    assert ("child.create", world["director"].id) in actions


async def test_patch_needs_if_match(client, world):
    child = await _create(client, world["director"])
    url = f"{CHILDREN}/{child['id']}"
    h = world["director"].headers
    r = await client.patch(url, json={"school": "民乐县第二中学"}, headers=h)
    assert r.status_code == 428 and r.json()["code"] == "if_match_required"
    r = await client.patch(url, json={"school": "民乐县第二中学"}, headers={**h, "If-Match": '"7"'})
    assert r.status_code == 412 and r.headers["ETag"] == '"1"'
    r = await client.patch(
        url,
        json={
            "school": "民乐县第二中学",
            "grade": "初一",
            "health_notes": None,
            "mother": {"situation": "at_home"},
        },
        headers={**h, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert etag_of(r) == '"2"' and r.json()["version"] == 2
    assert r.json()["school"] == "民乐县第二中学" and r.json()["health_notes"] is None
    assert r.json()["mother"]["situation"] == "at_home"
    assert r.json()["name"] == child["name"]  # untouched
    # The edit made offline against version 1 no longer applies.
    r = await client.patch(url, json={"grade": "初二"}, headers={**h, "If-Match": '"1"'})
    assert r.status_code == 412


PATCH_BAD_INPUTS = [
    ({"area_code": VILLAGE_SAME_TOWNSHIP}, "area_code", "use_transfer"),
    ({"risk_level": "red"}, "risk_level", "use_risk_endpoint"),
    ({"status": "closed"}, "status", "use_close_or_reopen"),
    ({"name": None}, "name", "required"),
    ({"birth_date": "2016-05-21"}, "birth_date", "id_number_mismatch"),
    ({"gender": "male"}, "gender", "id_number_mismatch"),
    ({"id_number": "123"}, "id_number", "invalid_id_number"),
    ({"categories": ["orphan", "wizard"]}, "categories.1", "validation_error"),
    ({"version": 5}, "version", "validation_error"),
    ({"subsidies": [{"kind": "pension"}]}, "subsidies.0.kind", "validation_error"),
]


async def test_patch_bad_inputs(client, world):
    child = await _create(client, world["director"], born=BORN)
    for changes, field, code in PATCH_BAD_INPUTS:
        r = await client.patch(
            f"{CHILDREN}/{child['id']}",
            json=changes,
            headers={**world["director"].headers, "If-Match": '"1"'},
        )
        assert r.status_code == 422, (changes, r.text)
        assert r.json()["code"] == code, (changes, r.json())
        assert r.json()["errors"][0]["field"] == field, (changes, r.json())
    r = await client.get(f"{CHILDREN}/{child['id']}", headers=world["director"].headers)
    assert r.json()["version"] == 1


async def test_patch_id_number_and_birth_date_together(client, world):
    child = await _create(client, world["director"], born=BORN)
    born = date(2017, 2, 3)
    number = id_number(born, "female")
    r = await client.patch(
        f"{CHILDREN}/{child['id']}",
        json={"id_number": number, "birth_date": born.isoformat()},
        headers={**world["director"].headers, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["id_number"].endswith(number[-4:]) and r.json()["birth_date"] == "2017-02-03"


async def test_patch_to_a_registered_id_number_conflicts(client, world):
    a = new_child()
    await _create(client, world["director"], id_number=a["id_number"])
    b = await _create(client, world["director"])
    r = await client.patch(
        f"{CHILDREN}/{b['id']}",
        json={"id_number": a["id_number"]},
        headers={**world["director"].headers, "If-Match": '"1"'},
    )
    assert r.status_code == 409 and r.json()["code"] == "duplicate_child"


# --- registered_at: a child registered on the phone, offline --------------------------------

CHINA = timezone(timedelta(hours=8))


async def test_registered_at_is_the_records_registration_time(client, world, session):
    """The phone's registration time is the record's created_at and the base of its first due
    date; a retry answers the record, whatever offset the phone writes the same time with."""
    h = world["director"].headers
    registered = (utcnow() - timedelta(hours=3)).astimezone(CHINA)
    body = new_child(id=str(uuid.uuid4()), registered_at=registered.isoformat())
    first = await client.post(CHILDREN, json=body, headers=h)
    assert first.status_code == 201, first.text
    child = first.json()
    assert datetime.fromisoformat(child["created_at"]) == registered
    due = datetime.fromisoformat(child["next_visit_due"])
    assert due == registered + timedelta(days=DEFAULT_INTERVAL_DAYS["blue"])
    r = await client.get(f"{CHILDREN}/{child['id']}", headers=h)
    assert r.status_code == 200 and r.json() == child

    retry = await client.post(CHILDREN, json=body, headers=h)
    assert retry.status_code == 200 and retry.json() == child
    in_utc = {**body, "registered_at": registered.astimezone(UTC).isoformat()}
    retry = await client.post(CHILDREN, json=in_utc, headers=h)
    assert retry.status_code == 200 and retry.json() == child
    # Another registration time under the same id is other content.
    later = {**body, "registered_at": (registered + timedelta(minutes=1)).isoformat()}
    r = await client.post(CHILDREN, json=later, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "id_taken"
    assert (await session.execute(select(func.count()).select_from(Child))).scalar() == 1
    # The audit log keeps the server's own time.
    at = (
        await session.execute(select(AuditEvent.at).where(AuditEvent.action == "child.create"))
    ).scalar_one()
    assert at is not None and at > utcnow() - timedelta(minutes=5)


async def test_registered_at_limits(client, world, session):
    h, now = world["director"].headers, utcnow()
    for registered, code, field in [
        ((now + timedelta(hours=1)).isoformat(), "registered_at_in_future", "registered_at"),
        ((now - timedelta(days=31)).isoformat(), "registered_at_too_old", "registered_at"),
        ("2026-01-05T10:00:00", "validation_error", "registered_at"),  # no time zone
        ("yesterday", "validation_error", "registered_at"),
    ]:
        r = await client.post(CHILDREN, json=new_child(registered_at=registered), headers=h)
        assert r.status_code == 422, (registered, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == code, (registered, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field]
    assert (await session.execute(select(func.count()).select_from(Child))).scalar() == 0

    # A phone clock a little ahead is allowed; the record is not registered in the future.
    ahead = (utcnow() + timedelta(minutes=2)).isoformat()
    r = await client.post(CHILDREN, json=new_child(registered_at=ahead), headers=h)
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["created_at"]) <= utcnow()
    # Without registered_at: the server's time, as before.
    r = await client.post(CHILDREN, json=new_child(), headers=h)
    assert r.status_code == 201
    assert utcnow() - datetime.fromisoformat(r.json()["created_at"]) < timedelta(minutes=1)


async def test_a_retry_later_than_the_offline_window_still_meets_its_record(
    client, world, settings
):
    h = world["director"].headers
    registered = (utcnow() - timedelta(days=2)).isoformat()
    body = new_child(id=str(uuid.uuid4()), registered_at=registered)
    first = await client.post(CHILDREN, json=body, headers=h)
    assert first.status_code == 201, first.text
    settings.sync_push_ledger_days = 1  # the window has passed since (as if days went by)
    retry = await client.post(CHILDREN, json=body, headers=h)
    assert retry.status_code == 200 and retry.json() == first.json()
    r = await client.post(CHILDREN, json=new_child(registered_at=registered), headers=h)
    assert r.status_code == 422 and r.json()["code"] == "registered_at_too_old"


def test_the_print_of_a_create_without_registered_at_is_as_before():
    """Records created before registered_at existed keep answering their retries."""
    data = ChildCreate.model_validate(new_child(id=str(uuid.uuid4())))
    content = data.model_dump(mode="json", by_alias=True, exclude={"id", "registered_at"})
    content["id_number"] = str(content["id_number"]).strip().upper()
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    key = "k" * 32
    assert fingerprint(key, data) == lookup_hash(key, canonical, purpose="child_create")
