from __future__ import annotations

from datetime import datetime, timedelta

from tests.conftest import COUNTY, COUNTY_OTHER
from tests.reports.report_support import REPORTS, body

POLICY = "/api/v1/report-policy"


async def test_defaults_then_county_policy_applies_to_new_reports(client, world):
    r = await client.get(POLICY, params={"county": COUNTY}, headers=world["director"].headers)
    assert r.status_code == 200
    assert r.json() == {
        "county_code": COUNTY,
        "accept_within_hours": 24,
        "first_referral_within_hours": 72,
        "is_default": True,
    }
    new = {"accept_within_hours": 12, "first_referral_within_hours": 48}
    r = await client.put(
        POLICY, params={"county": COUNTY}, json=new, headers=world["officer"].headers
    )
    assert r.status_code == 200 and r.json()["is_default"] is False
    r = await client.post(REPORTS, json=body(), headers=world["reporter"].headers)
    assert r.status_code == 201, r.text
    r = await client.get(f"{REPORTS}/{r.json()['id']}", headers=world["officer"].headers)
    report = r.json()
    received = datetime.fromisoformat(report["submitted_at"])
    assert datetime.fromisoformat(report["accept_deadline"]) - received == timedelta(hours=12)
    refer = datetime.fromisoformat(report["first_referral_deadline"])
    assert refer - received == timedelta(hours=48)
    # auditors read it too
    r = await client.get(POLICY, params={"county": COUNTY}, headers=world["auditor"].headers)
    assert r.json()["accept_within_hours"] == 12


async def test_bad_input(client, world):
    h = world["officer"].headers
    for bad in (
        {"accept_within_hours": 0, "first_referral_within_hours": 72},
        {"accept_within_hours": 48, "first_referral_within_hours": 24},
        {"accept_within_hours": 24},
    ):
        r = await client.put(POLICY, params={"county": COUNTY}, json=bad, headers=h)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get(POLICY, params={"county": "62072"}, headers=h)
    assert r.status_code == 422
    r = await client.get(POLICY, params={"county": "620799"}, headers=h)
    assert r.status_code == 404


async def test_scope_and_roles(client, world):
    new = {"accept_within_hours": 12, "first_referral_within_hours": 48}
    for actor in ("director", "supervisor", "auditor", "admin"):
        r = await client.put(
            POLICY, params={"county": COUNTY}, json=new, headers=world[actor].headers
        )
        assert r.status_code == 403, actor
    r = await client.put(
        POLICY, params={"county": COUNTY}, json=new, headers=world["officer_other_county"].headers
    )
    assert r.status_code == 404
    for actor in ("director_other_county", "supervisor_other_county", "officer_other_county"):
        r = await client.get(POLICY, params={"county": COUNTY}, headers=world[actor].headers)
        assert r.status_code == 404, actor
    r = await client.get(POLICY, params={"county": COUNTY_OTHER}, headers=world["reporter"].headers)
    assert r.status_code == 403
    r = await client.get(POLICY, params={"county": COUNTY}, headers=world["officer"].headers)
    assert r.json()["is_default"] is True  # nothing was changed by the refused calls
