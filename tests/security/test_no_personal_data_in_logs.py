"""A full scenario with every log line captured: no name, ID number or phone of the test data
may appear in any of them (including errors on the way)."""

from __future__ import annotations

import logging

from tests.agreements import agreement_helpers
from tests.children.child_payloads import new_child
from tests.conftest import VILLAGE
from tests.reports import report_support

NAME = "欧阳娜娜"
PHONE = "13987654321"


async def test_scenario_logs_no_personal_data(client, world, caplog):
    caplog.set_level(logging.DEBUG)
    director, officer = world["director"].headers, world["officer"].headers
    body = new_child(VILLAGE, name=NAME, pairing_helper_phone=PHONE)
    id_number = body["id_number"]
    r = await client.post("/api/v1/children", json=body, headers=director)
    assert r.status_code == 201, r.text
    child = r.json()
    # duplicates, searches, reads, reveal, bad input: paths that log or fail
    assert (
        await client.post(
            "/api/v1/children",
            json=new_child(VILLAGE, id_number=id_number, name=NAME),
            headers=director,
        )
    ).status_code == 409
    assert (
        await client.get("/api/v1/children", params={"q": NAME}, headers=director)
    ).status_code == 200
    assert (
        await client.get(
            f"/api/v1/children/{child['id']}", params={"reveal_id_number": "true"}, headers=officer
        )
    ).status_code == 200
    assert (
        await client.post(
            "/api/v1/children", json={**body, "id_number": id_number[:-1] + "0"}, headers=director
        )
    ).status_code in (409, 422)
    agreement = await agreement_helpers.create(
        client,
        director,
        child["id"],
        guardian={
            "name": NAME,
            "relation": "father",
            "phone": PHONE,
            "id_number": agreement_helpers.adult_id(),
        },
    )
    assert agreement["id"]
    rep = await report_support.file(
        client,
        world,
        "reporter",
        child_description={"name": NAME, "approximate_age": 9, "gender": "female"},
        reporter_name=NAME,
        reporter_contact=PHONE,
    )
    assert (await client.get(f"/api/v1/reports/{rep['id']}", headers=officer)).status_code == 200
    r = await client.post("/api/v1/token-that-does-not-exist", json={"name": NAME})
    assert r.status_code in (404, 405)
    logged = "\n".join(
        f"{rec.name} {rec.getMessage()} {rec.exc_text or ''}" for rec in caplog.records
    )
    assert caplog.records, "the scenario logged nothing: the check would be empty"
    for secret in (NAME, PHONE, id_number):
        assert secret not in logged, f"{secret!r} appears in the logs"
