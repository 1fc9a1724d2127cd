"""DESIGN.md "Terms": idle_youth (闲散未成年人, 16-17), the new parent situations and
enrolment values are accepted; idle_youth below 16 is refused."""

from __future__ import annotations

from datetime import date

import pytest

from childprotect_api.services.children.rules import today
from tests.children.child_payloads import CHILDREN, new_child


def _born(years: int) -> date:
    t = today()
    return t.replace(year=t.year - years, day=min(t.day, 28))


@pytest.mark.parametrize(("years", "status"), [(17, 201), (16, 201), (15, 422), (10, 422)])
async def test_idle_youth_is_16_or_17(client, world, years, status):
    born = _born(years)
    body = new_child(born=born, categories=["idle_youth"], enrolment_status="out_of_school")
    r = await client.post(CHILDREN, json=body, headers=world["director"].headers)
    assert r.status_code == status, r.text
    if status == 422:
        assert r.json()["code"] == "category_not_applicable"
        assert r.json()["errors"][0]["field"] == "categories"
    else:
        assert r.json()["categories"] == ["idle_youth"]


@pytest.mark.parametrize(
    "situation", ["divorced", "restricted_liberty", "guardianship_revoked", "deported"]
)
async def test_the_new_parent_situations(client, world, situation):
    body = new_child(father={"situation": situation}, categories=["in_difficulty"])
    r = await client.post(CHILDREN, json=body, headers=world["director"].headers)
    assert r.status_code == 201, r.text
    assert r.json()["father"]["situation"] == situation


@pytest.mark.parametrize("enrolment", ["home_education", "inclusive_class"])
async def test_the_new_enrolment_values(client, world, enrolment):
    body = new_child(enrolment_status=enrolment, categories=["disabled"])
    r = await client.post(CHILDREN, json=body, headers=world["director"].headers)
    assert r.status_code == 201, r.text
    assert r.json()["enrolment_status"] == enrolment


async def test_an_unknown_situation_is_still_refused(client, world):
    body = new_child(father={"situation": "on_the_moon"})
    r = await client.post(CHILDREN, json=body, headers=world["director"].headers)
    assert r.status_code == 422
