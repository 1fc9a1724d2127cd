"""Whether an ID number is registered somewhere cannot be tested in bulk (issue #18, item 4):
a dry-run import answers an out-of-scope duplicate like any new row; the registry's answer
"registered in another area" (POST /children, a real import) is audited and limited per day."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import func, select

from childprotect_api.models.audit import AuditEvent
from childprotect_api.services.children import id_numbers, rules
from tests.children.test_child_import import by_row, csv_bytes, idn, upload
from tests.conftest import VILLAGE, VILLAGE_OTHER_COUNTY
from tests.factories import make_child

BORN = date(2015, 5, 5)


def row(number: str, name: str = "王五") -> list[str]:
    return [name, "男", number, "", VILLAGE, "", "", "", "", "", ""]


async def registered_elsewhere(session, settings, n: int = 1) -> list[tuple[object, str]]:
    out = []
    for _ in range(n):
        child = await make_child(session, settings, VILLAGE_OTHER_COUNTY, birth_date=BORN)
        out.append((child.id, id_numbers.reveal(settings.data_key, child.id_number_enc)))
    return out


async def audit_rows(session, action: str) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return list((await session.execute(stmt)).scalars())


async def test_a_dry_run_does_not_tell_which_numbers_exist(client, world, session, settings):
    director_id = world["director"].id
    [(existing_id, number)] = await registered_elsewhere(session, settings)
    made_up = [idn(BORN, seq) for seq in range(1, 40)]
    numbers = [*made_up[:20], number, *made_up[20:]]
    r = await upload(
        client, world["director"].headers, csv_bytes([row(n) for n in numbers]), dry_run=True
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["created"], report["duplicates"], report["invalid"]) == (len(numbers), 0, 0)
    rows = by_row(report)
    # Row 22 (the registered number) is the same as every other row but for its number.
    shapes = {json.dumps({k: v for k, v in r.items() if k != "row"}) for r in rows.values()}
    assert len(shapes) == 1
    # The match is on record, against the record (its county's officers see who asked).
    [event] = await audit_rows(session, "child.import_match_elsewhere")
    assert event.resource_id == existing_id and event.area_code == VILLAGE_OTHER_COUNTY
    assert event.actor_id == director_id
    # A dry run does not spend the caller's daily allowance of "registered elsewhere".
    assert await audit_rows(session, rules.ELSEWHERE_ACTION) == []


async def test_registered_elsewhere_is_audited_and_limited(
    client, world, session, settings, monkeypatch
):
    monkeypatch.setattr(rules, "elsewhere_limit", lambda: 2)
    director_id = world["director"].id
    found = await registered_elsewhere(session, settings, 3)
    director = world["director"].headers

    async def create(number: str):
        body = {
            "area_code": VILLAGE,
            "name": "王五",
            "gender": "male",
            "birth_date": BORN.isoformat(),
            "id_number": number,
        }
        return await client.post("/api/v1/children", json=body, headers=director)

    for _, number in found[:2]:
        r = await create(number)
        assert r.status_code == 409 and r.json()["code"] == "duplicate_child"
        assert "existing_child_id" not in r.json()
    r = await create(found[2][1])
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) > 0
    # Each answer is on record though its request was refused (and rolled back).
    events = await audit_rows(session, rules.ELSEWHERE_ACTION)
    assert [e.resource_id for e in events] == [cid for cid, _ in found]
    assert {e.actor_id for e in events} == {director_id}
    assert {e.area_code for e in events} == {VILLAGE_OTHER_COUNTY}
    # A new number is still registered; another user has their own allowance.
    r = await create(idn(BORN, 7))
    assert r.status_code == 201, r.text
    r = await client.post(
        "/api/v1/children",
        json={
            "area_code": VILLAGE,
            "name": "王五",
            "gender": "male",
            "birth_date": BORN.isoformat(),
            "id_number": found[0][1],
        },
        headers=world["supervisor"].headers,
    )
    assert r.status_code == 409


async def test_a_real_import_stops_at_the_limit(client, world, session, settings, monkeypatch):
    monkeypatch.setattr(rules, "elsewhere_limit", lambda: 1)
    found = await registered_elsewhere(session, settings, 2)
    numbers = [idn(BORN, 11), found[0][1], idn(BORN, 12), found[1][1], idn(BORN, 13)]
    r = await upload(client, world["director"].headers, csv_bytes([row(n) for n in numbers]))
    assert r.status_code == 200, r.text
    rows = by_row(r.json())
    assert [rows[i]["outcome"] for i in range(2, 7)] == [
        "created",
        "duplicate",
        "created",
        "invalid",
        "invalid",
    ]
    assert rows[3]["existing_child_id"] is None
    # Past the limit nothing more is processed, whatever the row holds.
    assert rows[5]["errors"] == rows[6]["errors"]
    assert rows[6]["errors"][0]["code"] == "rate_limited"
    assert len(await audit_rows(session, rules.ELSEWHERE_ACTION)) == 2
    total = (await session.execute(select(func.count()).select_from(AuditEvent))).scalar_one()
    assert total > 0
