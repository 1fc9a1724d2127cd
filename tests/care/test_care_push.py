"""sync/push carries the care operations, idempotent like visits: the same batch sent again
answers `unchanged` and makes nothing new."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, select

from childprotect_api.models.care import CaseMeasure, Pairing, PairingContact
from tests.care.care_support import open_duties
from tests.conftest import VILLAGE
from tests.factories import make_child
from tests.sync.test_sync_push import op, push


async def _count(session, model) -> int:
    return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_pairing_and_case_operations(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, risk_level="red")
    pairing_id, case_id, measure_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    pairing = op(
        "create_pairing",
        {
            "child_id": str(child.id),
            "helper_name": "李老师",
            "helper_kind": "teacher",
            "starts_on": date.today().isoformat(),
        },
        id=pairing_id,
    )
    contact = op(
        "log_pairing_contact",
        {"pairing_id": str(pairing_id), "contacted_at": "2026-01-05T08:00:00Z", "kind": "school"},
        id=uuid.uuid4(),
    )
    case = op("create_case", {"child_id": str(child.id), "reason": "risk"}, id=case_id)
    measure = op(
        "add_measure",
        {"case_id": str(case_id), "kind": "living_assistance", "responsible": "乡民政办"},
        id=measure_id,
    )
    done = op("complete_measure", {"case_id": str(case_id)}, id=measure_id)
    ops = [pairing, contact, case, measure, done]

    results = (await push(client, world["supervisor"], *ops))["results"]
    assert [r["status"] for r in results] == ["created", "created", "created", "created", "updated"]
    assert results[4]["record"]["measures"][0]["status"] == "done"
    assert await open_duties(session, child.id) == set()

    again = (await push(client, world["supervisor"], *ops))["results"]
    assert [r["status"] for r in again] == ["unchanged"] * 5
    assert await _count(session, Pairing) == 1
    assert await _count(session, PairingContact) == 1
    assert await _count(session, CaseMeasure) == 1


async def test_care_operations_follow_permissions_and_scope(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, risk_level="red")
    case = op("create_case", {"child_id": str(child.id), "reason": "risk"})
    pairing = op(
        "create_pairing",
        {
            "child_id": str(child.id),
            "helper_name": "王",
            "helper_kind": "volunteer",
            "starts_on": "2026-01-01",
        },
    )
    (r,) = (await push(client, world["director"], case))["results"]
    assert r["status"] == "rejected" and r["problem"]["status"] == 403
    (r,) = (await push(client, world["director_other_village"], pairing))["results"]
    assert r["status"] == "rejected" and r["problem"]["status"] == 404
    bad = op("add_measure", {"kind": "living_assistance", "responsible": "x"})
    (r,) = (await push(client, world["supervisor"], bad))["results"]
    assert r["status"] == "rejected" and r["problem"]["status"] == 422
