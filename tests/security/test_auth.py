from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from jose import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.models.user import User
from tests.conftest import TEST_PASSWORD

TOKEN = "/api/v1/auth/token"


async def _login(client, login: str, password: str = TEST_PASSWORD):
    return await client.post(
        TOKEN, data={"grant_type": "password", "username": login, "password": password}
    )


async def _set_phone(session: AsyncSession, user_id, phone: str) -> None:
    user = await session.get(User, user_id)
    assert user is not None
    user.phone = phone
    await session.commit()


async def test_password_login_by_username_and_phone(client, world, session):
    r = await _login(client, "director")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert r.headers["cache-control"] == "no-store"
    await _set_phone(session, world["director"].id, "13800001111")
    r = await _login(client, "13800001111")
    assert r.status_code == 200


async def test_me_shows_the_village(client, world):
    token = (await _login(client, "director")).json()["access_token"]
    r = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    me = r.json()
    assert me["username"] == "director"
    assert me["role"] == "village_director"
    assert me["area_code"] == "620722100001"
    assert me["area_name"] == "洪水村"


async def test_access_token_carries_nothing_personal(client, world, session):
    await _set_phone(session, world["director"].id, "13800002222")
    token = (await _login(client, "director")).json()["access_token"]
    claims = jwt.get_unverified_claims(token)
    assert set(claims) <= {"iss", "sub", "typ", "role", "area", "scp", "jti", "iat", "exp", "sid"}
    assert "13800002222" not in json.dumps(claims)
    assert "director" not in json.dumps({k: v for k, v in claims.items() if k != "role"})


async def test_wrong_password_and_unknown_user_answer_alike(client, world):
    a = await _login(client, "director", "Wrong-Password-1")
    b = await _login(client, "nobody-here", "Wrong-Password-1")
    assert a.status_code == b.status_code == 400
    assert a.json()["code"] == b.json()["code"] == "invalid_grant"
    assert a.json()["detail"] == b.json()["detail"]


async def test_bad_grant_inputs(client, world):
    r = await client.post(TOKEN, data={"grant_type": "magic"})
    assert r.status_code == 400 and r.json()["code"] == "unsupported_grant_type"
    r = await client.post(TOKEN, data={"grant_type": "password", "username": "director"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_grant"
    r = await client.post(TOKEN, data={})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "grant_type"


async def test_lockout_after_repeated_failures(client, world, settings):
    for _ in range(settings.login_max_failures):
        r = await _login(client, "director", "Wrong-Password-1")
        assert r.status_code == 400
    r = await _login(client, "director")  # even the right password is refused while locked
    assert r.status_code == 429
    assert r.json()["code"] == "login_locked"
    assert int(r.headers["retry-after"]) > 0
    # An unknown name locks the same way: the lock reveals nothing about which names exist.
    for _ in range(settings.login_max_failures):
        await _login(client, "ghost", "Wrong-Password-1")
    r = await _login(client, "ghost", "Wrong-Password-1")
    assert r.status_code == 429
    # Other accounts are unaffected.
    assert (await _login(client, "supervisor")).status_code == 200


async def test_refresh_rotates_and_reuse_revokes_the_family(client, world):
    first = (await _login(client, "director")).json()
    r = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert me.status_code == 200
    # Replaying the rotated token: refused, and the whole session dies.
    r = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_grant"
    r = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
    )
    assert r.status_code == 400
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert me.status_code == 401


async def test_unknown_refresh_token(client, world):
    r = await client.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": "nope"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_grant"


async def test_logout_revokes_access_and_refresh(client, world):
    tokens = (await _login(client, "director")).json()
    h = {"Authorization": f"Bearer {tokens['access_token']}"}
    r = await client.post(
        "/api/v1/auth/logout", headers=h, json={"refresh_token": tokens["refresh_token"]}
    )
    assert r.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=h)).status_code == 401
    r = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert r.status_code == 400


async def test_deactivated_user_tokens_stop_at_once(client, world):
    tokens = (await _login(client, "director")).json()
    h = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get("/api/v1/auth/me", headers=h)).status_code == 200
    r = await client.post(
        f"/api/v1/users/{world['director'].id}/deactivate", headers=world["officer"].headers
    )
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert (await client.get("/api/v1/auth/me", headers=h)).status_code == 401
    r = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert r.status_code == 400
    assert (await _login(client, "director")).status_code == 400


async def test_expired_token_refused(client, world, settings):
    from childprotect_api.security.tokens import create_access_token

    me = world["director"]
    sid = jwt.get_unverified_claims(me.headers["Authorization"][7:])["sid"]
    import uuid

    token, _ = create_access_token(
        settings,
        subject=me.id,
        kind="user",
        role="village_director",
        area="620722100001",
        session_id=uuid.UUID(sid),
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    r = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def _b64(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")


async def test_token_attacks_refused(client, world, settings):
    good = world["director"].headers["Authorization"][7:]
    claims = jwt.get_unverified_claims(good)
    claims["role"] = "county_officer"
    # alg: none
    none_token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    # signed with another key
    wrong_key = jwt.encode(claims, "another-key-that-is-long-enough-1234567890", algorithm="HS256")
    # algorithm confusion: HS512 / RS256 headers are outside the allow-list
    hs512 = jwt.encode(claims, settings.signing_keys[0], algorithm="HS512")
    for token in (none_token, wrong_key, hs512, "garbage", good + "x"):
        r = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, token
    r = await client.get("/api/v1/auth/me")
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"


def _hand_signed(header: dict, claims: dict, key: bytes, digest: str) -> str:
    """header.payload.signature built by hand (HMAC over the signing input), so no JWT
    library refuses to make a token whose header names another algorithm."""
    signing_input = f"{_b64(header)}.{_b64(claims)}"
    mac = hmac.new(key, signing_input.encode(), getattr(hashlib, digest)).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


async def test_algorithm_confusion_refused(client, world, settings):
    """Valid claims, signed with the HMAC key itself, under an `alg` other than HS256: an
    RS256 header (a verifier that took the key as an RSA public key would accept an HMAC made
    with it) and an HS384 one. The decoder allows HS256 only, so both answer 401."""
    good = world["director"].headers["Authorization"][7:]
    header = jwt.get_unverified_header(good)
    claims = jwt.get_unverified_claims(good)
    key = settings.signing_keys[0].encode()

    async def status(token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return (await client.get("/api/v1/auth/me", headers=headers)).status_code

    # The hand-made token is right in every other respect: as HS256 it is accepted.
    control = _hand_signed({**header, "alg": "HS256"}, claims, key, "sha256")
    assert await status(control) == 200
    for alg, digest in (("RS256", "sha256"), ("HS384", "sha384")):
        token = _hand_signed({**header, "alg": alg}, claims, key, digest)
        r = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, alg
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_role_and_area_come_from_the_account_not_the_token(client, world, session):
    # A token minted before a role change is read with the new role.
    user = await session.get(User, world["director"].id)
    assert user is not None
    user.area_code = "620722100002"
    await session.commit()
    h = world["director"].headers
    assert (await client.get("/api/v1/areas/620722100001", headers=h)).status_code == 404
    assert (await client.get("/api/v1/areas/620722100002", headers=h)).status_code == 200
