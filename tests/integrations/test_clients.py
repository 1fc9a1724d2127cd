"""Integration clients: admin management, client_credentials tokens, OAuth2 scopes and area."""

from __future__ import annotations

import base64
import uuid

import pytest
from sqlalchemy import select

from childprotect_api.core.errors import Forbidden
from childprotect_api.models.area import Area
from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.client import ClientScope, IntegrationClient
from childprotect_api.models.user import Role
from childprotect_api.security.scope import CLIENT_SCOPES, Action, Scope
from tests.conftest import (
    ACTORS,
    COUNTY,
    TOWNSHIP,
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_OTHER_TOWNSHIP,
    make_actor,
)
from tests.integrations.client_helpers import (
    CLIENTS,
    TOKEN,
    client_token,
    create_client,
    seed_client,
)

ALL = [s.value for s in ClientScope]


async def test_admin_creates_reads_and_lists_clients(client, world, session):
    admin = world["admin"].headers
    body = await create_client(
        client, admin, scopes=["children:read", "schooling:write"], area=COUNTY
    )
    secret = body["client_secret"]
    assert secret.startswith("cps_") and len(secret) > 40
    assert body["scopes"] == ["children:read", "schooling:write"]
    assert body["area_code"] == COUNTY and body["is_active"] is True
    r = await client.get(f"{CLIENTS}/{body['id']}", headers=admin)
    assert r.status_code == 200
    assert "client_secret" not in r.json() and secret not in r.text
    assert r.headers["etag"] == '"1"'
    # Only an Argon2 hash is stored.
    row = await session.get(IntegrationClient, uuid.UUID(body["id"]))
    assert (
        row is not None and row.secret_hash.startswith("$argon2") and secret not in row.secret_hash
    )
    audit = (
        (await session.execute(select(AuditEvent).where(AuditEvent.resource_id == row.id)))
        .scalars()
        .all()
    )
    assert [a.action for a in audit] == ["create"]

    for name in ("b", "c"):
        await create_client(client, admin, scopes=["stats:read"], area=VILLAGE, name=name)
    r = await client.get(CLIENTS, params={"limit": 2}, headers=admin)
    page = r.json()
    assert r.status_code == 200 and len(page["items"]) == 2 and page["next_cursor"]
    r = await client.get(CLIENTS, params={"limit": 2, "cursor": page["next_cursor"]}, headers=admin)
    rest = r.json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    names = [c["name"] for c in page["items"] + rest["items"]]
    assert names == sorted(names) and len(set(names)) == 3
    assert all("client_secret" not in c for c in page["items"])


async def test_every_other_role_gets_403(client, world):
    admin = world["admin"].headers
    existing = await create_client(client, admin, scopes=["children:read"], area=VILLAGE)
    cid = existing["id"]
    for actor in [a for a in ACTORS if a != "admin"]:
        h = world[actor].headers
        calls = [
            client.post(
                CLIENTS,
                json={"name": "x", "area_code": VILLAGE, "scopes": ["stats:read"]},
                headers=h,
            ),
            client.get(CLIENTS, headers=h),
            client.get(f"{CLIENTS}/{cid}", headers=h),
            client.post(f"{CLIENTS}/{cid}/rotate-secret", headers=h),
            client.post(f"{CLIENTS}/{cid}/disable", headers=h),
        ]
        for call in calls:
            r = await call
            assert r.status_code == 403, (actor, r.text)
            assert r.json()["code"] == "role_forbidden"
    # Nothing changed: the secret still works.
    assert (await client_token(client, cid, existing["client_secret"])).status_code == 200


async def test_clients_cannot_manage_clients(client, world, session, settings):
    c = await seed_client(session, settings, scopes=ALL, area=COUNTY)
    r = await client.get(CLIENTS, headers=c.headers)
    assert r.status_code == 403 and r.json()["code"] == "missing_scope"


async def test_admin_of_another_province_sees_nothing(client, world, session, settings):
    session.add(Area(code="63", name="青海省", parent_code=None, level="province"))
    await session.flush()
    other = await make_actor(session, settings, "admin63", Role.admin, "63")
    await session.commit()
    body = await create_client(client, world["admin"].headers, scopes=["stats:read"], area=COUNTY)
    r = await client.get(f"{CLIENTS}/{body['id']}", headers=other.headers)
    assert r.status_code == 404
    assert (
        await client.post(f"{CLIENTS}/{body['id']}/disable", headers=other.headers)
    ).status_code == 404
    assert (await client.get(CLIENTS, headers=other.headers)).json()["items"] == []
    r = await client.post(
        CLIENTS,
        json={"name": "x", "area_code": COUNTY, "scopes": ["stats:read"]},
        headers=other.headers,
    )
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "area_code": COUNTY, "scopes": ["children:delete"]}, "scopes.0"),
        ({"name": "x", "area_code": COUNTY, "scopes": []}, "scopes"),
        ({"name": "x", "area_code": COUNTY, "scopes": ["stats:read", "stats:read"]}, "scopes"),
        ({"name": "x", "area_code": "6207221", "scopes": ["stats:read"]}, "area_code"),
        ({"name": "", "area_code": COUNTY, "scopes": ["stats:read"]}, "name"),
        ({"area_code": COUNTY, "scopes": ["stats:read"]}, "name"),
        ({"name": "x", "area_code": "620799", "scopes": ["stats:read"]}, "area_code"),
    ],
)
async def test_bad_client_inputs(client, world, body, field):
    r = await client.post(CLIENTS, json=body, headers=world["admin"].headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == field


async def test_bad_ids_and_cursors(client, world):
    admin = world["admin"].headers
    assert (await client.get(f"{CLIENTS}/not-a-uuid", headers=admin)).status_code == 422
    assert (await client.get(f"{CLIENTS}/{uuid.uuid4()}", headers=admin)).status_code == 404
    for cursor in ("garbage!!", "WyJhIiwibm90LWEtdXVpZCJd"):  # the second: ["a","not-a-uuid"]
        r = await client.get(CLIENTS, params={"cursor": cursor}, headers=admin)
        assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"


# --- the client_credentials grant -------------------------------------------------------


async def test_token_by_form_and_by_basic_auth(client, world):
    body = await create_client(
        client, world["admin"].headers, scopes=["children:read", "reports:read"], area=TOWNSHIP
    )
    r = await client_token(client, body["id"], body["client_secret"])
    assert r.status_code == 200, r.text
    tok = r.json()
    assert tok["token_type"] == "bearer" and tok["expires_in"] == 15 * 60
    assert tok["refresh_token"] is None and tok["scope"] == "children:read reports:read"
    assert r.headers["cache-control"] == "no-store"
    basic = base64.b64encode(f"{body['id']}:{body['client_secret']}".encode()).decode()
    r = await client.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200, r.text
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json() | {"id": None} == me.json() | {
        "id": None,
        "kind": "client",
        "role": "integration",
        "area_code": TOWNSHIP,
        "area_name": "洪水镇",
        "scopes": ["children:read", "reports:read"],
    }
    # Credentials twice (form and Basic) is ambiguous.
    r = await client.post(
        TOKEN,
        data={"grant_type": "client_credentials", "client_id": body["id"]},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_request"


async def test_wrong_secret_unknown_and_disabled_clients_answer_alike(client, world):
    admin = world["admin"].headers
    body = await create_client(client, admin, scopes=["children:read"], area=VILLAGE)
    answers = [
        await client_token(client, body["id"], body["client_secret"] + "x"),
        await client_token(client, str(uuid.uuid4()), body["client_secret"]),
        await client_token(client, "not-a-uuid", body["client_secret"]),
        await client_token(client, body["id"], ""),
    ]
    bad_basic = base64.b64encode(b"\xff\xfe").decode()
    answers.append(
        await client.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {bad_basic}"},
        )
    )
    assert (await client.post(f"{CLIENTS}/{body['id']}/disable", headers=admin)).status_code == 200
    answers.append(await client_token(client, body["id"], body["client_secret"]))
    for r in answers:
        assert r.status_code == 401, r.text
        assert r.json()["code"] == "invalid_client"
        assert r.headers["www-authenticate"].startswith("Basic")
    assert len({r.json()["detail"] for r in answers[:3] + answers[-1:]}) == 1


async def test_scope_can_be_narrowed_but_not_widened(client, world):
    body = await create_client(
        client, world["admin"].headers, scopes=["children:read", "reports:read"], area=VILLAGE
    )
    r = await client_token(client, body["id"], body["client_secret"], scope="reports:read")
    assert r.status_code == 200 and r.json()["scope"] == "reports:read"
    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await client.get("/api/v1/auth/me", headers=h)).json()["scopes"] == ["reports:read"]
    # The narrowed token lacks children:read.
    r = await client.get(f"/api/v1/areas/{VILLAGE}", headers=h)
    assert r.status_code == 403 and r.json()["missing_scope"] == "children:read"
    for asked in ("children:write", "reports:read stats:read", "everything"):
        r = await client_token(client, body["id"], body["client_secret"], scope=asked)
        assert r.status_code == 400, asked
        assert r.json()["code"] == "invalid_scope"


async def test_rotation_stops_the_old_secret_at_once(client, world, session):
    admin = world["admin"].headers
    body = await create_client(client, admin, scopes=["children:read"], area=VILLAGE)
    r = await client.post(f"{CLIENTS}/{body['id']}/rotate-secret", headers=admin)
    assert r.status_code == 200
    new = r.json()["client_secret"]
    assert new != body["client_secret"] and r.json()["version"] == 2
    assert (await client_token(client, body["id"], body["client_secret"])).status_code == 401
    assert (await client_token(client, body["id"], new)).status_code == 200
    r = await client.get(f"{CLIENTS}/{body['id']}", headers=admin)
    assert "client_secret" not in r.json()


async def test_disabling_stops_live_tokens(client, world, session, settings):
    c = await seed_client(session, settings, scopes=["children:read"], area=VILLAGE)
    assert (await client.get("/api/v1/auth/me", headers=c.headers)).status_code == 200
    r = await client.post(f"{CLIENTS}/{c.id}/disable", headers=world["admin"].headers)
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert (await client.get("/api/v1/auth/me", headers=c.headers)).status_code == 401
    r = await client.get(CLIENTS, params={"active": "false"}, headers=world["admin"].headers)
    assert [x["id"] for x in r.json()["items"]] == [c.id]


async def test_bad_secrets_never_lock_the_real_one(client, world, settings):
    """Failures count per source address (tests/security/test_lockout.py), never per client:
    someone else's wrong secrets do not stop the client's real one."""
    body = await create_client(client, world["admin"].headers, scopes=["stats:read"], area=VILLAGE)
    for _ in range(settings.login_max_failures + 2):
        assert (await client_token(client, body["id"], "cps_wrong")).status_code == 401
    r = await client_token(client, body["id"], body["client_secret"])
    assert r.status_code == 200, r.text


# --- scopes and area for clients on existing endpoints ------------------------------------


async def test_client_area_limits(client, world, session, settings):
    c = await seed_client(session, settings, scopes=["children:read"], area=TOWNSHIP)
    assert (await client.get(f"/api/v1/areas/{VILLAGE}", headers=c.headers)).status_code == 200
    for outside in (VILLAGE_OTHER_TOWNSHIP, VILLAGE_OTHER_COUNTY, COUNTY):
        r = await client.get(f"/api/v1/areas/{outside}", headers=c.headers)
        assert r.status_code == 404, outside
    r = await client.get("/api/v1/areas", headers=c.headers)
    assert r.status_code == 200
    assert {a["code"] for a in r.json()["items"]} <= {TOWNSHIP, VILLAGE, "620722100002"}


async def test_missing_scope_is_named(client, world, session, settings):
    c = await seed_client(
        session, settings, scopes=[s for s in ALL if s != "children:read"], area=COUNTY
    )
    r = await client.get(f"/api/v1/areas/{VILLAGE}", headers=c.headers)
    assert r.status_code == 403
    assert r.json()["code"] == "missing_scope" and r.json()["missing_scope"] == "children:read"
    assert "children:read" in r.json()["detail"]
    # Staff-only actions have no scope at all.
    r = await client.get("/api/v1/users", headers=c.headers)
    assert r.status_code == 403 and r.json()["code"] == "missing_scope"


@pytest.mark.parametrize(("action", "needed"), sorted(CLIENT_SCOPES.items()))
def test_each_missing_scope_answers_403(action: Action, needed: str):
    everything = Scope("client", uuid.uuid4(), "integration", COUNTY, frozenset(ALL))
    assert everything.require(action) is everything
    lacking = Scope("client", uuid.uuid4(), "integration", COUNTY, frozenset(ALL) - {needed})
    with pytest.raises(Forbidden) as e:
        lacking.require(action)
    assert e.value.code == "missing_scope" and e.value.extra == {"missing_scope": needed}


def test_actions_without_a_scope_are_refused_to_clients():
    everything = Scope("client", uuid.uuid4(), "integration", "", frozenset(ALL))
    for action in set(Action) - set(CLIENT_SCOPES):
        with pytest.raises(Forbidden):
            everything.require(action)


async def test_demo_clients_load_twice_without_duplicates(world, session, capsys):
    from childprotect_api.services.demo import clients as demo_clients

    for _ in range(2):
        await demo_clients.load(session)
        await session.commit()
    rows = (await session.execute(select(IntegrationClient))).scalars().all()
    assert len(rows) == len(demo_clients.DEMO_CLIENTS)
    assert all(r.area_code == COUNTY and r.is_active for r in rows)
    assert "cps_" in capsys.readouterr().err
