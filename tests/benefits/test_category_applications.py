"""Category applications (认定): filed by staff, reviewed by the township, decided by the
county; approval adds the category in the same transaction; every step on the timeline; the
benefit categories no longer change by PATCH; registrations and imports propose."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from childprotect_api.models.benefit import CategoryApplication
from tests.benefits.benefit_helpers import (
    APPLICATIONS,
    application_body,
    applications_of,
    file,
    granted,
    step,
)
from tests.children.child_payloads import new_child
from tests.conftest import (
    OUTSIDER_OFFICERS,
    OUTSIDER_SUPERVISORS,
    OUTSIDERS,
    VILLAGE,
)
from tests.factories import make_child


async def _child_of(client, world, child_id) -> dict:
    r = await client.get(f"/api/v1/children/{child_id}", headers=world["officer"].headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_filed_agreed_approved_grants_the_category(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    app = await file(client, world, child.id)
    assert app["status"] == "submitted" and app["source"] == "application"
    assert app["filed_by"] == str(world["director"].id)
    assert "de_facto_unsupported" not in (await _child_of(client, world, child.id))["categories"]
    r = await step(client, world, app["id"], "review", "agree", "supervisor", "走访核实")
    assert r.status_code == 200 and r.json()["status"] == "agreed" and r.headers["ETag"] == '"2"'
    assert r.json()["reviewed_by"] == str(world["supervisor"].id)
    r = await step(client, world, app["id"], "decision", "approve", "officer", "符合条件")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["decided_by"] == str(world["officer"].id)
    after = await _child_of(client, world, child.id)
    assert "de_facto_unsupported" in after["categories"] and after["version"] == 2
    r = await client.get(f"{APPLICATIONS}/{app['id']}/timeline", headers=world["director"].headers)
    assert r.status_code == 200
    steps = [(e["kind"], e["by"], e["note"]) for e in r.json()]
    assert steps == [
        ("filed", str(world["director"].id), app["basis"]),
        ("agreed", str(world["supervisor"].id), "走访核实"),
        ("approved", str(world["officer"].id), "符合条件"),
    ]


async def test_returned_and_rejected_grant_nothing(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    app = await file(client, world, child.id, category="low_income")
    r = await step(client, world, app["id"], "review", "return", "supervisor")
    assert r.status_code == 422  # a return says why
    r = await step(client, world, app["id"], "review", "return", "supervisor", "材料不全")
    assert r.status_code == 200 and r.json()["status"] == "returned"
    # Final: neither reviewed again nor decided.
    r = await step(client, world, app["id"], "review", "agree", "supervisor")
    assert r.status_code == 409 and r.json()["code"] == "not_awaiting_review"
    r = await step(client, world, app["id"], "decision", "approve", "officer")
    assert r.status_code == 409 and r.json()["code"] == "not_awaiting_decision"
    again = await file(client, world, child.id, category="low_income")
    await step(client, world, again["id"], "review", "agree", "supervisor")
    r = await step(client, world, again["id"], "decision", "reject", "officer", "收入超标")
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert "low_income" not in (await _child_of(client, world, child.id))["categories"]


async def test_the_county_decides_only_after_the_township(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    app = await file(client, world, child.id)
    r = await step(client, world, app["id"], "decision", "approve", "officer")
    assert r.status_code == 409 and r.json()["code"] == "not_awaiting_decision"
    # Roles: a director neither reviews nor decides, a supervisor does not decide.
    r = await step(client, world, app["id"], "review", "agree", "director")
    assert r.status_code == 403
    await step(client, world, app["id"], "review", "agree", "supervisor")
    r = await step(client, world, app["id"], "decision", "approve", "supervisor")
    assert r.status_code == 403


async def test_retry_and_conflicts(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, categories=["left_behind", "orphan"])
    h = world["director"].headers
    body = application_body()
    first = await client.post(applications_of(child.id), json=body, headers=h)
    assert first.status_code == 201
    retry = await client.post(applications_of(child.id), json=body, headers=h)
    assert retry.status_code == 200 and retry.json()["id"] == body["id"]
    other = {**body, "basis": "别的依据"}
    r = await client.post(applications_of(child.id), json=other, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "id_conflict"
    r = await client.post(applications_of(child.id), json=application_body(), headers=h)
    assert r.status_code == 409 and r.json()["code"] == "application_open"
    r = await client.post(applications_of(child.id), json=application_body("orphan"), headers=h)
    assert r.status_code == 409 and r.json()["code"] == "category_already_held"


@pytest.mark.parametrize(
    "change",
    [
        {"category": "left_behind"},  # not a benefit category
        {"category": "wizard"},
        {"basis": ""},
        {"id": "not-a-uuid"},
        {"extra": 1},
    ],
)
async def test_bad_input_is_422(client, world, session, settings, change):
    child = await make_child(session, settings, VILLAGE)
    r = await client.post(
        applications_of(child.id),
        json={**application_body(), **change},
        headers=world["director"].headers,
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_scope_and_roles(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    for name in OUTSIDERS + OUTSIDER_SUPERVISORS + OUTSIDER_OFFICERS:
        r = await client.post(
            applications_of(child.id), json=application_body(), headers=world[name].headers
        )
        assert r.status_code == 404, name
    for name in ("reporter", "auditor", "admin"):
        r = await client.post(
            applications_of(child.id), json=application_body(), headers=world[name].headers
        )
        assert r.status_code == 403, name
    app = await file(client, world, child.id)
    for name in OUTSIDERS + OUTSIDER_SUPERVISORS + OUTSIDER_OFFICERS:
        h = world[name].headers
        assert (await client.get(f"{APPLICATIONS}/{app['id']}", headers=h)).status_code == 404
        r = await client.get(APPLICATIONS, headers=h)
        assert r.status_code == 200 and app["id"] not in r.text
    for name in OUTSIDER_SUPERVISORS + OUTSIDER_OFFICERS:
        r = await step(client, world, app["id"], "review", "agree", name)
        assert r.status_code == 404, name


async def test_list_filters(client, world, session, settings):
    one = await make_child(session, settings, VILLAGE)
    two = await make_child(session, settings, VILLAGE, name="李小花")
    a = await file(client, world, one.id, category="orphan")
    b = await file(client, world, two.id, category="low_income")
    await step(client, world, b["id"], "review", "agree", "supervisor")
    h = world["officer"].headers

    async def ids(**params) -> set[str]:
        r = await client.get(APPLICATIONS, params=params, headers=h)
        assert r.status_code == 200, r.text
        return {x["id"] for x in r.json()["items"]}

    assert await ids(status="submitted") == {a["id"]}
    assert await ids(status="agreed") == {b["id"]}
    assert await ids(category="low_income") == {b["id"]}
    assert await ids(child_id=str(one.id)) == {a["id"]}
    assert await ids(area="620722101") == set()
    r = await client.get(APPLICATIONS, params={"limit": 1}, headers=h)
    page2 = await client.get(
        APPLICATIONS, params={"limit": 1, "cursor": r.json()["next_cursor"]}, headers=h
    )
    assert {r.json()["items"][0]["id"], page2.json()["items"][0]["id"]} == {a["id"], b["id"]}
    r = await client.get(APPLICATIONS, params={"status": "wizard"}, headers=h)
    assert r.status_code == 422


async def test_patch_may_not_change_benefit_categories(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, categories=["left_behind", "orphan"])
    h = {**world["officer"].headers, "If-Match": '"1"'}
    url = f"/api/v1/children/{child.id}"
    r = await client.patch(
        url, json={"categories": ["left_behind", "orphan", "low_income"]}, headers=h
    )
    assert r.status_code == 422 and r.json()["code"] == "use_category_application"
    r = await client.patch(url, json={"categories": ["left_behind"]}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "use_category_removal"
    # The other categories stay directly editable.
    r = await client.patch(url, json={"categories": ["orphan", "disabled"]}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["categories"] == ["orphan", "disabled"]


async def test_a_directors_registration_proposes_a_countys_grants(client, world, session):
    body = new_child(VILLAGE, categories=["left_behind", "low_income"])
    r = await client.post("/api/v1/children", json=body, headers=world["director"].headers)
    assert r.status_code == 201, r.text
    assert r.json()["categories"] == ["left_behind"]
    rows = (
        (
            await session.execute(
                select(CategoryApplication).where(
                    CategoryApplication.child_id == uuid.UUID(r.json()["id"])
                )
            )
        )
        .scalars()
        .all()
    )
    assert [(a.category, a.status, a.source) for a in rows] == [
        ("low_income", "submitted", "application")
    ]
    body = new_child(VILLAGE, categories=["orphan"], name="孙小川")
    r = await client.post("/api/v1/children", json=body, headers=world["officer"].headers)
    assert r.status_code == 201, r.text
    assert r.json()["categories"] == ["orphan"]
    r = await client.get(
        APPLICATIONS, params={"child_id": r.json()["id"]}, headers=world["officer"].headers
    )
    assert [(a["status"], a["source"]) for a in r.json()["items"]] == [
        ("approved", "county_import")
    ]


async def test_approval_of_a_granted_category_is_in_the_list(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    app = await granted(client, world, child.id)
    r = await client.get(
        APPLICATIONS, params={"status": "approved"}, headers=world["director"].headers
    )
    assert [a["id"] for a in r.json()["items"]] == [app["id"]]


async def test_an_integration_client_proposes_too(client, session, settings, world):
    from tests.integrations.client_helpers import seed_client

    civil = await seed_client(session, settings, scopes=["children:write"], area="620722")
    body = new_child(VILLAGE, categories=["in_difficulty", "de_facto_unsupported"], name="周小雨")
    r = await client.post("/api/v1/children", json=body, headers=civil.headers)
    assert r.status_code == 201, r.text
    child_id = uuid.UUID(r.json()["id"])
    stmt = select(CategoryApplication).where(CategoryApplication.child_id == child_id)
    rows = (await session.execute(stmt)).scalars().all()
    assert [(a.category, a.status, a.filed_by) for a in rows] == [
        ("de_facto_unsupported", "submitted", None)
    ]
    one = await client.get(f"/api/v1/children/{child_id}", headers=world["officer"].headers)
    assert one.json()["categories"] == ["in_difficulty"]


async def test_lists_refuse_an_area_outside_the_scope(client, world):
    for url in (APPLICATIONS, "/api/v1/category-removals", "/api/v1/benefit-payments"):
        r = await client.get(url, params={"area": "620723"}, headers=world["officer"].headers)
        assert r.status_code == 404, url
        r = await client.get(url, params={"area": "abc"}, headers=world["officer"].headers)
        assert r.status_code == 422, url
