"""Integration clients see only the child fields their scopes need (issue #18, item 11): an
education client (children:read + schooling:write) gets identity and school, never the
family history, the parents' situation, categories such as parent_imprisoned, or health and
disability notes."""

from __future__ import annotations

import pytest

from childprotect_api.schemas.child import ChildRead, ChildSummary
from childprotect_api.services.children import client_fields
from tests.conftest import COUNTY, VILLAGE
from tests.factories import make_child
from tests.integrations.client_helpers import seed_client

CHILDREN = "/api/v1/children"
SENSITIVE = {
    "family_situation": "父亲因盗窃服刑，母亲离家出走",
    "father": {"situation": "imprisoned", "note": "服刑至2027年"},
    "mother": {"situation": "missing"},
    "health_notes": "哮喘",
    "disability_notes": "听力二级残疾",
    "address": "洪水村三社12号",
    "pairing_helper_name": "赵老师",
    "pairing_helper_phone": "13900000009",
}
NEVER_SHOWN = (
    "family_situation",
    "father",
    "mother",
    "health_notes",
    "disability_notes",
    "address",
    "pairing_helper_name",
    "pairing_helper_phone",
)


@pytest.fixture
async def child(session, settings, world):  # type: ignore[no-untyped-def]
    return await make_child(
        session,
        settings,
        VILLAGE,
        categories=["parent_imprisoned", "de_facto_unsupported"],
        school="洪水小学",
        grade="三年级",
        enrolment_status="enrolled",
        **SENSITIVE,
    )


async def _read(client, headers, child_id):  # type: ignore[no-untyped-def]
    one = await client.get(f"{CHILDREN}/{child_id}", headers=headers)
    assert one.status_code == 200, one.text
    page = await client.get(CHILDREN, params={"area": VILLAGE}, headers=headers)
    assert page.status_code == 200, page.text
    [item] = [i for i in page.json()["items"] if i["id"] == str(child_id)]
    return one, item


async def test_an_education_client_sees_identity_and_school(client, session, settings, child):
    edu = await seed_client(
        session, settings, scopes=["children:read", "schooling:write"], area=COUNTY
    )
    one, item = await _read(client, edu.headers, child.id)
    body = one.json()
    assert body["name"] == "王小明" and body["birth_date"] and body["area_code"] == VILLAGE
    assert body["school"] == "洪水小学" and body["grade"] == "三年级"
    assert body["enrolment_status"] == "enrolled"
    assert body["id_number"].count("*") > 0  # masked
    for name in NEVER_SHOWN:
        assert body[name] is None, name
    assert body["categories"] == [] and body["subsidies"] == []
    withheld = one.headers[client_fields.WITHHELD_HEADER].split(", ")
    assert "categories" in withheld and "father" in withheld and "school" not in withheld
    # The list says no more.
    assert item["categories"] == [] and item["school"] == "洪水小学"
    assert item["assigned_director_id"] is None
    text = one.text + str(item)
    for value in ("服刑", "哮喘", "听力", "parent_imprisoned", "imprisoned", "赵老师"):
        assert value not in text, value


async def test_a_civil_affairs_client_sees_categories_not_school_or_family(
    client, session, settings, child
):
    civil = await seed_client(
        session, settings, scopes=["children:read", "subsidies:write"], area=COUNTY
    )
    one, item = await _read(client, civil.headers, child.id)
    body = one.json()
    assert set(body["categories"]) == {"parent_imprisoned", "de_facto_unsupported"}
    assert body["school"] is None and item["school"] is None
    for name in NEVER_SHOWN:
        assert body[name] is None, name


async def test_children_read_alone_is_identity_only(client, session, settings, child):
    bare = await seed_client(session, settings, scopes=["children:read"], area=COUNTY)
    one, item = await _read(client, bare.headers, child.id)
    body = one.json()
    assert body["name"] == "王小明" and body["school"] is None and body["categories"] == []
    assert item["school"] is None and item["categories"] == []
    visible = {k for k, v in body.items() if v not in (None, [])}
    assert visible <= client_fields.IDENTITY


async def test_staff_see_the_whole_record(client, world, child):
    one, item = await _read(client, world["director"].headers, child.id)
    body = one.json()
    assert client_fields.WITHHELD_HEADER not in one.headers
    assert body["father"]["situation"] == "imprisoned" and body["health_notes"] == "哮喘"
    assert "parent_imprisoned" in item["categories"]


def test_every_field_of_the_record_is_decided():
    """A field added to the record later is withheld from clients until someone decides."""
    decided = client_fields.IDENTITY | client_fields.NEVER
    for fields in client_fields.SCOPE_FIELDS.values():
        decided |= fields
        assert not fields & client_fields.NEVER
    assert set(ChildRead.model_fields) <= decided
    assert set(ChildSummary.model_fields) <= decided


async def test_clients_cannot_filter_on_withheld_fields(client, session, settings, child):
    edu = await seed_client(
        session, settings, scopes=["children:read", "schooling:write"], area=COUNTY
    )
    r = await client.get(CHILDREN, params={"category": "parent_imprisoned"}, headers=edu.headers)
    assert r.status_code == 422 and r.json()["code"] == "field_withheld"
    assert r.json()["errors"][0]["field"] == "category"
    r = await client.get(CHILDREN, params={"school": "洪水小学"}, headers=edu.headers)
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    civil = await seed_client(
        session, settings, scopes=["children:read", "subsidies:write"], area=COUNTY
    )
    r = await client.get(CHILDREN, params={"category": "parent_imprisoned"}, headers=civil.headers)
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    r = await client.get(CHILDREN, params={"school": "洪水小学"}, headers=civil.headers)
    assert r.status_code == 422


async def test_clients_do_not_read_care_agreements(client, world, session, settings):
    """A care agreement names the guardian and caregiver and says why the parents are away:
    staff only, whatever the client's scopes."""
    from tests.agreements import agreement_helpers

    away = await agreement_helpers.away_child(session, settings, VILLAGE)
    agreement = await agreement_helpers.create(client, world["director"].headers, away.id)
    every = await seed_client(
        session,
        settings,
        scopes=["children:read", "schooling:write", "subsidies:write", "reports:read"],
        area=COUNTY,
    )
    for url in (
        f"/api/v1/agreements/{agreement['id']}",
        f"/api/v1/agreements/{agreement['id']}/attachments",
        f"{CHILDREN}/{away.id}/agreements",
    ):
        r = await client.get(url, headers=every.headers)
        assert r.status_code == 403, (url, r.text)
        assert r.json()["code"] == "missing_scope"
        r = await client.get(url, headers=world["director"].headers)
        assert r.status_code == 200, (url, r.text)
