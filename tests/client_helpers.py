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
