"""A PATCH whose values equal the stored ones, or `{}`, keeps the version and the ETag and
records no change (DESIGN.md "API conventions"; issue #19): every other offline phone would
otherwise get a needless 412."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from childprotect_api.models.audit import AuditEvent
from childprotect_api.services.children import id_numbers
from tests.activities.activity_helpers import ACTIVITIES, SITES, activity_body, site_body
from tests.agreements import agreement_helpers as agreements
from tests.care.care_support import CASES, PAIRINGS, case_body, pairing_body
from tests.conftest import VILLAGE
from tests.factories import make_child

CHILDREN = "/api/v1/children"
USERS = "/api/v1/users"


async def _changes(session, record_id: str) -> int:  # type: ignore[no-untyped-def]
    """Audit rows of a change (not of a read) about the record."""
    stmt = select(func.count()).where(
        col(AuditEvent.resource_id) == uuid.UUID(record_id),
        col(AuditEvent.action).not_like("%read%"),
        col(AuditEvent.action).not_like("%list%"),
    )
    return int((await session.execute(stmt)).scalar_one())


async def _same_twice(
    client: httpx.AsyncClient,
    session,  # type: ignore[no-untyped-def]
    url: str,
    headers: dict[str, str],
    bodies: list[dict[str, Any]],
    version_of: str = "version",
) -> None:
    before = await client.get(url, headers=headers)
    assert before.status_code == 200, before.text
    etag = before.headers.get("etag")
    version = before.json()[version_of]
    audited = await _changes(session, before.json()["id"])
    for body in bodies:
        guard = {"If-Match": etag} if etag else {}
        r = await client.patch(url, json=body, headers={**headers, **guard})
        assert r.status_code == 200, (url, body, r.text)
        assert r.json()[version_of] == version, (url, body)
        if etag:
            assert r.headers["etag"] == etag, (url, body)
    after = await client.get(url, headers=headers)
    assert after.json()[version_of] == version
    assert await _changes(session, before.json()["id"]) == audited, url


async def test_child_patch_of_equal_values_keeps_the_version(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, with_id_number=False)
    h = world["director"].headers
    url = f"{CHILDREN}/{child.id}"
    number = id_numbers.make("620722", date(2015, 3, 14), 77, "male")
    first = await client.patch(url, json={"id_number": number}, headers={**h, "If-Match": '"1"'})
    assert first.status_code == 200 and first.headers["etag"] == '"2"', first.text
    got = first.json()
    same = {k: got[k] for k in ("name", "gender", "birth_date", "categories")}
    await _same_twice(
        client, session, url, h, [{}, same, {"id_number": number}, {**same, "id_number": number}]
    )
    # A real change still moves it on.
    r = await client.patch(url, json={"name": "王小刚"}, headers={**h, "If-Match": '"2"'})
    assert r.status_code == 200 and r.headers["etag"] == '"3"'


async def test_agreement_patch_of_equal_values_keeps_the_version(client, world, session, settings):
    child = await agreements.away_child(session, settings)
    h = world["director"].headers
    body = agreements.body()
    draft = await agreements.create(client, h, child.id, **body)
    url = f"{agreements.AGREEMENTS}/{draft['id']}"
    same = {k: body[k] for k in ("times_per_week_child", "starts_on", "ends_on", "guardian")}
    caregiver = {k: v for k, v in body["caregiver"].items()}
    await _same_twice(client, session, url, h, [{}, same, {"caregiver": caregiver}])


async def test_care_and_activity_patches_of_equal_values_keep_the_version(
    client, world, session, settings
):
    child = await make_child(session, settings, VILLAGE, risk_level="red")
    d, s = world["director"].headers, world["supervisor"].headers
    pairing = pairing_body(child.id, note="每周电话")
    assert (await client.post(PAIRINGS, json=pairing, headers=d)).status_code == 201
    await _same_twice(client, session, f"{PAIRINGS}/{pairing['id']}", d, [{}, {"note": "每周电话"}])
    case = case_body(child.id, review_on="2099-01-01")
    assert (await client.post(CASES, json=case, headers=s)).status_code == 201
    await _same_twice(
        client, session, f"{CASES}/{case['id']}", s, [{}, {"review_on": "2099-01-01"}]
    )
    activity = activity_body(VILLAGE)
    assert (await client.post(ACTIVITIES, json=activity, headers=d)).status_code == 201
    await _same_twice(
        client,
        session,
        f"{ACTIVITIES}/{activity['id']}",
        d,
        [{}, {"title": activity["title"], "amount": "1050.00", "participants": 40}],
    )
    site = site_body(VILLAGE)
    assert (await client.post(SITES, json=site, headers=s)).status_code == 201
    await _same_twice(client, session, f"{SITES}/{site['id']}", s, [{}, {"name": site["name"]}])


async def test_user_patch_of_equal_values_keeps_the_version(client, world, session):
    h = world["officer"].headers
    url = f"{USERS}/{world['director'].id}"
    got = (await client.get(url, headers=h)).json()
    same = {k: got[k] for k in ("display_name", "phone", "role", "area_code")}
    await _same_twice(client, session, url, h, [{}, same])
