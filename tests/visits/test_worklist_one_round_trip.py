"""GET /worklist for a user is one statement in autocommit (issue #23): the session check,
the counts, the page with its latest visits and open duties, the caller's returned visits
and the screen's audit row together; no BEGIN, no COMMIT. It answers exactly what the
transaction path answers (`worklist_data`), and the rules hold: scope, revocation at once,
403 for a role outside the matrix, and a role or area changed since the token is scoped by
the account's row."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import text

from childprotect_api.models.base import utcnow
from childprotect_api.security.scope import Scope
from childprotect_api.services.duties import duties
from childprotect_api.services.visits import worklist as service
from tests.conftest import VILLAGE, VILLAGE_SAME_TOWNSHIP
from tests.visits.visit_factories import WORKLIST, StatementLog, put_visit, registered_child


async def _worklist_audits(session) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    r = await session.execute(
        text(
            "SELECT actor_id, actor_role, resource_id, county_code, area_code FROM audit_log "
            "WHERE action = 'list' AND resource_type = 'worklist' ORDER BY id"
        )
    )
    return [tuple(row) for row in r]


async def _token_scope(session, actor) -> Scope:  # type: ignore[no-untyped-def]
    """The scope the actor's token claims (its login session by the user)."""
    sid = (
        await session.execute(
            text("SELECT id FROM token_families WHERE user_id = :u"), {"u": actor.id}
        )
    ).scalar_one()
    return Scope("user", actor.id, actor.user.role, actor.user.area_code, session_id=sid)


async def _village(client, session, settings, world) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Overdue children (one red with an open duty), a visit with an open follow-up and a
    visit returned to the director; and an overdue child in the next village."""
    director = world["director"]
    last = utcnow() - timedelta(days=40)
    kids = [
        await registered_child(
            session, settings, VILLAGE, name=f"童{i}", risk_level="yellow", last_visit_at=last
        )
        for i in range(3)
    ]
    red = await registered_child(
        session, settings, VILLAGE, name="红", risk_level="red", last_visit_at=last
    )
    other = await registered_child(
        session, settings, VILLAGE_SAME_TOWNSHIP, name="邻", risk_level="yellow", last_visit_at=last
    )
    await duties.recompute(session, red)
    await session.commit()
    await put_visit(client, director, kids[0].id, visited_at=last + timedelta(days=1))
    returned = await put_visit(client, director, kids[1].id, visited_at=last + timedelta(days=1))
    r = await client.post(
        f"/api/v1/visits/{returned['id']}/review",
        json={"decision": "return", "comment": "缺少照片"},
        headers=world["supervisor"].headers | {"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    return {"other": other}


async def test_the_worklist_is_one_statement_with_its_audit_row(
    client, db, session, settings, world
):
    await _village(client, session, settings, world)
    for caller in ("director", "supervisor", "officer"):
        user = world[caller]
        assert (await client.get(WORKLIST, headers=user.headers)).status_code == 200  # warm
        before = await _worklist_audits(session)
        with StatementLog(db) as log:
            r = await client.get(WORKLIST, headers=user.headers)
        assert r.status_code == 200, r.text
        # One statement, sent alone (rawsql.Raw.fetch_alone: no transaction begun).
        assert len(log.statements) == 1, (caller, log.statements)
        assert log.statements[0].startswith("WITH session_check AS"), caller
        body = r.json()
        assert body["items"] and body["counts"]["overdue"] >= 4, (caller, body)
        assert any(i["duties"] for i in body["items"]), caller
        assert any(i["open_follow_ups"] for i in body["items"]), caller
        if caller == "director":
            assert [v["review_comment"] for v in body["returned_visits"]] == ["缺少照片"]
        # One audit row for the screen, in the caller's area.
        after = await _worklist_audits(session)
        area = user.user.area_code
        assert after[len(before) :] == [(user.id, user.user.role, None, area[:6], area)], caller


async def test_one_statement_answers_what_the_transaction_path_answers(
    client, db, session, settings, world
):
    await _village(client, session, settings, world)
    now = utcnow()
    for caller in ("director", "supervisor", "officer"):
        user = world[caller]
        scope = await _token_scope(session, user)
        for params in ({}, {"with_duties": True}, {"limit": 2}):
            limit = int(params.get("limit", 50))
            kw = {"within_days": 7, "limit": limit, "now": now}
            request = SimpleNamespace(state=SimpleNamespace())
            found = await service.worklist_at_once(
                db, request, scope, after=None, with_duties=bool(params.get("with_duties")), **kw
            )
            assert found is not None
            _, fast, fast_last = found
            assert request.state.scope == scope
            async with db.sessionmaker() as s:
                slow, slow_last = await service.worklist_data(
                    s, scope, after=None, with_duties=bool(params.get("with_duties")), **kw
                )
                await s.rollback()
            assert fast == slow, (caller, params)
            assert fast_last == slow_last, (caller, params)
            if fast_last is not None:  # the next page, by the cursor, also alike
                request = SimpleNamespace(state=SimpleNamespace())
                found = await service.worklist_at_once(db, request, scope, after=fast_last, **kw)
                assert found is not None
                async with db.sessionmaker() as s:
                    slow, _ = await service.worklist_data(s, scope, after=fast_last, **kw)
                    await s.rollback()
                assert found[1] == slow and found[1]["items"], (caller, params)


async def test_outside_the_scope_revoked_moved_or_not_allowed(client, db, session, settings, world):
    village = await _village(client, session, settings, world)
    director = world["director"]
    # Another village's child is not on the director's worklist.
    body = (await client.get(WORKLIST, headers=director.headers)).json()
    assert str(village["other"].id) not in {i["child"]["id"] for i in body["items"]}
    # A role outside the matrix: 403 (the transaction path decides it), nothing audited.
    before = await _worklist_audits(session)
    r = await client.get(WORKLIST, headers=world["reporter"].headers)
    assert r.status_code == 403
    assert await _worklist_audits(session) == before
    # Moved to the next village since the token: scoped by the account's row (the
    # transaction path), audited in the new village.
    await session.execute(
        text("UPDATE users SET area_code = :a WHERE id = :u"),
        {"a": VILLAGE_SAME_TOWNSHIP, "u": director.id},
    )
    await session.commit()
    with StatementLog(db) as log:
        r = await client.get(WORKLIST, headers=director.headers)
    assert r.status_code == 200, r.text
    assert [i["child"]["id"] for i in r.json()["items"]] == [str(village["other"].id)]
    assert log.statements[0].startswith("WITH session_check AS") and len(log.statements) > 1
    after = await _worklist_audits(session)
    assert after[len(before) :] == [
        (director.id, director.user.role, None, VILLAGE_SAME_TOWNSHIP[:6], VILLAGE_SAME_TOWNSHIP)
    ]
    # Logged out (the session revoked): 401 at once, nothing read or audited.
    await session.execute(
        text("UPDATE token_families SET revoked_at = now() WHERE user_id = :u"),
        {"u": director.id},
    )
    await session.commit()
    with StatementLog(db) as log:
        r = await client.get(WORKLIST, headers=director.headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert len(log.statements) == 1
    assert await _worklist_audits(session) == after
    # Deactivated: 401 at once too.
    supervisor = world["supervisor"]
    await session.execute(
        text("UPDATE users SET is_active = false WHERE id = :u"), {"u": supervisor.id}
    )
    await session.commit()
    r = await client.get(WORKLIST, params={"with_duties": "true"}, headers=supervisor.headers)
    assert r.status_code == 401
    assert await _worklist_audits(session) == after


async def test_the_agreement_lists_take_the_transaction_path(client, db, session, world):
    with StatementLog(db) as log:
        r = await client.get(
            WORKLIST, params={"include_agreements": "true"}, headers=world["officer"].headers
        )
    assert r.status_code == 200, r.text
    assert r.json()["agreement_follow_ups"] is not None
    assert log.statements[0] == "BEGIN (implicit)" or len(log.statements) > 1
