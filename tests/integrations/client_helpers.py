"""Integration clients for tests: created through the admin API, tokens through the grant."""

from __future__ import annotations

from dataclasses import dataclass

CLIENTS = "/api/v1/clients"
TOKEN = "/api/v1/auth/token"


@dataclass
class ApiClient:
    id: str
    secret: str
    headers: dict[str, str]


async def create_client(http, admin_headers, *, scopes, area, name="教育局学籍系统") -> dict:
    r = await http.post(
        CLIENTS, json={"name": name, "area_code": area, "scopes": scopes}, headers=admin_headers
    )
    assert r.status_code == 201, r.text
    return r.json()


async def client_token(http, client_id: str, secret: str, scope: str | None = None):
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    if scope is not None:
        data["scope"] = scope
    return await http.post(TOKEN, data=data)


async def api_client(http, admin_headers, *, scopes, area) -> ApiClient:
    """A client with a live bearer token."""
    body = await create_client(http, admin_headers, scopes=scopes, area=area)
    r = await client_token(http, body["id"], body["client_secret"])
    assert r.status_code == 200, r.text
    return ApiClient(
        body["id"], body["client_secret"], {"Authorization": f"Bearer {r.json()['access_token']}"}
    )


_HASHES: dict[str, str] = {}
SEED_SECRET = "cps_seeded-secret-for-tests-0123456789abcdef"


async def seed_client(session, settings, *, scopes, area, name="民政系统") -> ApiClient:
    """A client row and a minted token, without the (slow) Argon2 work of the API: for tests
    of what clients may do, not of how they get tokens."""
    import uuid

    from childprotect_api.models.client import IntegrationClient
    from childprotect_api.security.passwords import hash_password
    from childprotect_api.security.tokens import create_access_token

    if "h" not in _HASHES:
        _HASHES["h"] = hash_password(SEED_SECRET)
    row = IntegrationClient(
        id=uuid.uuid4(), name=name, area_code=area, scopes=sorted(scopes), secret_hash=_HASHES["h"]
    )
    session.add(row)
    await session.commit()
    token, _ = create_access_token(
        settings, subject=row.id, kind="client", role="integration", area=area, scopes=list(scopes)
    )
    return ApiClient(str(row.id), SEED_SECRET, {"Authorization": f"Bearer {token}"})
