"""The agreement lifecycle: four signatures activate a draft (checklist complete, one active
agreement per child, also under racing activations), expiry by the job and on read, the
`agreement.expiring` event, and termination."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from childprotect_api.services.agreements import lifecycle
from childprotect_api.services.agreements.expiry import (
    china_today,
    expire_agreements,
    notify_expiring,
    run_once,
)
from tests.agreements.agreement_helpers import (
    AGREEMENTS,
    away_child,
    create,
    make_active,
    sign,
    sign_three,
)


async def _history(client, world, agreement_id):
    r = await client.get(f"{AGREEMENTS}/{agreement_id}/history", headers=world["officer"].headers)
    assert r.status_code == 200
    return [(h["old_status"], h["new_status"], h["reason"]) for h in r.json()]


async def test_four_signatures_activate_the_agreement(client, world, session, settings):
    child = await away_child(session, settings)
    a = await create(client, world["director"].headers, child.id)
    director = world["director"]
    r = await sign(client, director.headers, a["id"], "guardian")
    assert r.status_code == 200, r.text
    assert r.json()["signatures"]["guardian"] == {
        "signed_on": china_today().isoformat(),
        "witnessed_by": str(director.id),
    }
    # Another staff member responsible for the village may witness.
    r = await sign(
        client, director.headers, a["id"], "caregiver", witnessed_by=str(world["supervisor"].id)
    )
    assert r.json()["signatures"]["caregiver"]["witnessed_by"] == str(world["supervisor"].id)
    r = await sign(client, director.headers, a["id"], "village_committee")
    assert r.json()["status"] == "draft"
    assert r.json()["signatures"]["village_committee"]["signed_by"] == str(director.id)
    r = await sign(client, world["officer"].headers, a["id"], "township")
    assert r.status_code == 200, r.text
    active = r.json()
    assert active["status"] == "active" and active["activated_at"] is not None
    assert active["signatures"]["township"]["signed_by"] == str(world["officer"].id)
    assert active["version"] == 5 and r.headers["ETag"] == '"5"'
    assert await _history(client, world, a["id"]) == [
        (None, "draft", None),
        ("draft", "active", "all_parties_signed"),
    ]


async def test_who_may_sign_for_whom(client, world, session, settings):
    child = await away_child(session, settings)
    a = await create(client, world["director"].headers, child.id)
    # The township's signature needs a township supervisor or a county officer.
    r = await sign(client, world["director"].headers, a["id"], "township")
    assert r.status_code == 403 and r.json()["code"] == "signature_not_allowed"
    # The village committee's may be recorded by the village's director or above.
    r = await sign(client, world["supervisor"].headers, a["id"], "village_committee")
    assert r.status_code == 200
    r = await sign(client, world["director"].headers, a["id"], "village_committee")
    assert r.status_code == 409 and r.json()["code"] == "already_signed"
    # Witnesses are active staff responsible for the child's village.
    for witness in ("director_other_village", "supervisor_other_township", "reporter"):
        r = await sign(
            client,
            world["director"].headers,
            a["id"],
            "guardian",
            witnessed_by=str(world[witness].id),
        )
        assert r.status_code == 422 and r.json()["code"] == "invalid_witness", witness
    r = await sign(
        client,
        world["director"].headers,
        a["id"],
        "township",
        witnessed_by=str(world["director"].id),
    )
    assert r.status_code == 403
    r = await sign(
        client,
        world["supervisor"].headers,
        a["id"],
        "township",
        witnessed_by=str(world["director"].id),
    )
    assert r.status_code == 422 and r.json()["code"] == "witness_not_applicable"
    tomorrow = (china_today() + timedelta(days=1)).isoformat()
    r = await sign(client, world["director"].headers, a["id"], "guardian", signed_on=tomorrow)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "signed_on"
    r = await sign(client, world["director"].headers, a["id"], "parent")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "party"
    # A stale If-Match is refused; nothing of the above was written but one signature.
    r = await client.post(
        f"{AGREEMENTS}/{a['id']}/signatures",
        json={"party": "guardian", "signed_on": china_today().isoformat()},
        headers={**world["director"].headers, "If-Match": '"1"'},
    )
    assert r.status_code == 412
    r = await client.get(f"{AGREEMENTS}/{a['id']}", headers=world["director"].headers)
    assert r.json()["version"] == 2
    assert [p for p, s in r.json()["signatures"].items() if s] == ["village_committee"]


async def test_unconfirmed_checklist_item_blocks_activation(client, world, session, settings):
    child = await away_child(session, settings)
    checklist = {"no_abuse_record": True, "no_gambling_habit": False}
    a = await create(client, world["director"].headers, child.id, checklist=checklist)
    await sign_three(client, world, a["id"])
    r = await sign(client, world["supervisor"].headers, a["id"], "township")
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "checklist_incomplete"
    fields = {e["field"] for e in problem["errors"]}
    assert "checklist.no_gambling_habit" in fields and "checklist.no_drug_habit" in fields
    assert "checklist.no_abuse_record" not in fields and len(fields) == 8
    # Nothing half-written: the township's signature was not kept.
    r = await client.get(f"{AGREEMENTS}/{a['id']}", headers=world["director"].headers)
    assert r.json()["status"] == "draft" and r.json()["signatures"]["township"] is None
    assert r.json()["version"] == 4
    # Confirm the rest, then the township's signature activates it.
    confirm = {item: True for item in r.json()["unconfirmed_items"]}
    r = await client.patch(
        f"{AGREEMENTS}/{a['id']}",
        json={"checklist": confirm},
        headers={**world["director"].headers, "If-Match": '"4"'},
    )
    assert r.status_code == 200 and r.json()["unconfirmed_items"] == []
    r = await sign(client, world["supervisor"].headers, a["id"], "township")
    assert r.status_code == 200 and r.json()["status"] == "active"


async def test_one_active_agreement_per_child(client, world, session, settings):
    child = await away_child(session, settings)
    await make_active(client, world, child.id)
    second = await create(client, world["director"].headers, child.id)
    await sign_three(client, world, second["id"])
    r = await sign(client, world["supervisor"].headers, second["id"], "township")
    assert r.status_code == 409 and r.json()["code"] == "active_agreement_exists"
    r = await client.get(f"{AGREEMENTS}/{second['id']}", headers=world["director"].headers)
    assert r.json()["status"] == "draft" and r.json()["signatures"]["township"] is None


@pytest.mark.parametrize("interleaved", [False, True])
async def test_two_concurrent_activations_one_wins(
    client, world, session, settings, monkeypatch, interleaved
):
    """Two township signatures activating two drafts of one child at once (two HTTP requests,
    two pooled connections). `interleaved` holds both requests until each has reached the
    activation step, so both pass the check in code and only the database's partial unique
    index can refuse the second."""
    if interleaved:
        barrier = asyncio.Barrier(2)
        original = lifecycle.expire_agreements

        async def both_arrive(*args, **kwargs):
            await asyncio.wait_for(barrier.wait(), timeout=10)
            return await original(*args, **kwargs)

        monkeypatch.setattr(lifecycle, "expire_agreements", both_arrive)
    child = await away_child(session, settings)
    drafts = [await create(client, world["director"].headers, child.id) for _ in range(2)]
    for d in drafts:
        await sign_three(client, world, d["id"])
    responses = await asyncio.gather(
        *(sign(client, world["supervisor"].headers, d["id"], "township") for d in drafts)
    )
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.json()["code"] == "active_agreement_exists"
    statuses = (
        await session.execute(
            text("SELECT status, count(*) FROM agreements WHERE child_id = :c GROUP BY status"),
            {"c": child.id},
        )
    ).all()
    assert dict(statuses) == {"active": 1, "draft": 1}


async def test_the_database_refuses_a_second_active_agreement(client, world, session, settings):
    child = await away_child(session, settings)
    await make_active(client, world, child.id)
    draft = await create(client, world["director"].headers, child.id)
    with pytest.raises(IntegrityError, match="uq_agreements_one_active_per_child"):
        await session.execute(
            text("UPDATE agreements SET status = 'active' WHERE id = :id"), {"id": draft["id"]}
        )
    await session.rollback()


async def _backdate(session, agreement_id: str, ends_in_days: int) -> None:
    today = china_today()
    await session.execute(
        text("UPDATE agreements SET starts_on = :s, ends_on = :e WHERE id = :id"),
        {
            "s": today + timedelta(days=ends_in_days - 365),
            "e": today + timedelta(days=ends_in_days),
            "id": agreement_id,
        },
    )
    await session.commit()


async def test_active_agreements_expire_when_ends_on_passes(client, world, session, settings):
    child = await away_child(session, settings)
    a = await make_active(client, world, child.id)
    still = await make_active(client, world, (await away_child(session, settings)).id)
    await _backdate(session, a["id"], -1)
    await _backdate(session, still["id"], 0)  # ends today: still active
    # Read as expired before the job runs.
    r = await client.get(f"{AGREEMENTS}/{a['id']}", headers=world["director"].headers)
    assert r.json()["status"] == "expired" and r.json()["version"] == a["version"]
    assert await expire_agreements(session, china_today()) == 1
    await session.commit()
    assert await expire_agreements(session, china_today()) == 0
    r = await client.get(f"{AGREEMENTS}/{a['id']}", headers=world["director"].headers)
    assert r.json()["status"] == "expired" and r.json()["version"] == a["version"] + 1
    r = await client.get(f"{AGREEMENTS}/{still['id']}", headers=world["director"].headers)
    assert r.json()["status"] == "active"
    history = await client.get(f"{AGREEMENTS}/{a['id']}/history", headers=world["director"].headers)
    last = history.json()[-1]
    assert (last["old_status"], last["new_status"], last["changed_by"]) == (
        "active",
        "expired",
        None,
    )
    # An expired agreement cannot be signed, edited or terminated; a new one can take effect.
    r = await sign(client, world["supervisor"].headers, a["id"], "township")
    assert r.status_code == 409 and r.json()["code"] == "not_editable"
    r = await client.post(
        f"{AGREEMENTS}/{a['id']}/terminate",
        json={"reason": "parent_returned"},
        headers=world["supervisor"].headers,
    )
    assert r.status_code == 409 and r.json()["code"] == "not_active"
    await make_active(client, world, child.id)


async def test_a_lapsed_agreement_does_not_block_the_next(client, world, session, settings):
    """Before the job has run, the lapsed agreement is expired as the new one activates."""
    child = await away_child(session, settings)
    old = await make_active(client, world, child.id)
    await _backdate(session, old["id"], -3)
    await make_active(client, world, child.id)
    status = (
        await session.execute(
            text("SELECT status FROM agreements WHERE id = :id"), {"id": old["id"]}
        )
    ).scalar_one()
    assert status == "expired"


async def test_expiring_event_is_emitted_once(client, world, session, settings):
    soon = await make_active(client, world, (await away_child(session, settings)).id)
    later = await make_active(client, world, (await away_child(session, settings)).id)
    await _backdate(session, soon["id"], 10)
    await _backdate(session, later["id"], 60)
    assert await run_once(session, china_today()) == (0, 1)
    await session.commit()
    assert await notify_expiring(session, china_today()) == 0
    await session.commit()
    events = (
        await session.execute(
            text("SELECT event_type, resource_id, area_code, payload FROM outbox_events")
        )
    ).all()
    assert len(events) == 1
    event_type, resource_id, area_code, payload = events[0]
    assert event_type == "agreement.expiring" and str(resource_id) == soon["id"]
    assert payload == {"agreement_id": soon["id"], "child_id": soon["child_id"]}
    assert area_code == soon["area_code"]
    # 35 days on, the later one enters the window and is announced; nothing twice.
    assert await notify_expiring(session, china_today() + timedelta(days=35)) == 1


async def test_terminate_an_active_agreement(client, world, session, settings):
    child = await away_child(session, settings)
    a = await make_active(client, world, child.id)
    url = f"{AGREEMENTS}/{a['id']}/terminate"
    r = await client.post(
        url, json={"reason": "parent_returned"}, headers=world["director"].headers
    )
    assert r.status_code == 403 and r.json()["code"] == "role_forbidden"
    r = await client.post(url, json={"reason": "other"}, headers=world["supervisor"].headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note"
    r = await client.post(url, json={"reason": "gone"}, headers=world["supervisor"].headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = await client.post(
        url,
        json={"reason": "parent_returned"},
        headers={**world["supervisor"].headers, "If-Match": '"1"'},
    )
    assert r.status_code == 412
    r = await client.post(
        url,
        json={"reason": "parent_returned", "note": "父亲已返乡务农"},
        headers={**world["supervisor"].headers, "If-Match": f'"{a["version"]}"'},
    )
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["status"] == "terminated"
    assert t["termination"]["reason"] == "parent_returned"
    assert t["termination"]["terminated_by"] == str(world["supervisor"].id)
    r = await client.post(url, json={"reason": "child_moved"}, headers=world["officer"].headers)
    assert r.status_code == 409 and r.json()["code"] == "not_active"
    assert (await _history(client, world, a["id"]))[-1] == (
        "active",
        "terminated",
        "parent_returned",
    )
    # Terminated frees the child for a new agreement; a draft cannot be terminated.
    draft = await create(client, world["director"].headers, child.id)
    r = await client.post(
        f"{AGREEMENTS}/{draft['id']}/terminate",
        json={"reason": "child_moved"},
        headers=world["officer"].headers,
    )
    assert r.status_code == 409 and r.json()["code"] == "not_active"
    await sign_three(client, world, draft["id"])
    r = await sign(client, world["supervisor"].headers, draft["id"], "township")
    assert r.json()["status"] == "active"


async def test_activation_rechecks_the_parent_is_away(client, world, session, settings):
    child = await away_child(session, settings)
    a = await create(client, world["director"].headers, child.id)
    await sign_three(client, world, a["id"])
    await session.execute(
        text("""UPDATE children SET father = '{"situation": "at_home"}' WHERE id = :id"""),
        {"id": child.id},
    )
    await session.commit()
    r = await sign(client, world["supervisor"].headers, a["id"], "township")
    assert r.status_code == 422 and r.json()["code"] == "no_parent_away"


@pytest.mark.parametrize("enabled", [True, False])
async def test_the_app_runs_the_expiry_job_when_enabled(
    client, world, session, settings, db, enabled
):
    from childprotect_api.main import create_app

    a = await make_active(client, world, (await away_child(session, settings)).id)
    await _backdate(session, a["id"], -2)
    app = create_app(settings.model_copy(update={"jobs_enabled": enabled}), db)
    query = text("SELECT status FROM agreements WHERE id = :id")
    async with app.router.lifespan_context(app):
        for _ in range(50 if enabled else 6):  # the loop runs at once on start
            await asyncio.sleep(0.05)
            status = (await session.execute(query, {"id": a["id"]})).scalar_one()
            await session.rollback()
            if status == "expired":
                break
    assert status == ("expired" if enabled else "active")
