from __future__ import annotations

from childprotect_api.services.demo.loader import load_demo


async def test_demo_loads_twice_and_the_director_sees_the_village(client, database_url):
    await load_demo(database_url)
    logins = {u: p for u, p, _, _ in await load_demo(database_url)}  # idempotent reload
    assert {
        "demo_admin",
        "demo_county",
        "demo_township",
        "demo_director",
        "demo_reporter",
        "demo_auditor",
    } <= set(logins)
    r = await client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "password",
            "username": "demo_director",
            "password": logins["demo_director"],
        },
    )
    assert r.status_code == 200, r.text
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )
    assert me.json()["area_code"] == "620722100001"
    assert me.json()["area_name"] == "洪水村"
