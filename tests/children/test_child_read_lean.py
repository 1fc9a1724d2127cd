"""GET /children/{id} without a query string and with a canonical UUID is answered by the
endpoint called directly (core/routing.py: lean; issue #23), without FastAPI's dependency
solving: every answer (200, 401, 403, 404, 422) is the one FastAPI's path gives, which a
query string (`?reveal_id_number=false`, the same read) still takes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import fastapi.routing
import pytest
from jose import jwt
from sqlalchemy import text

from childprotect_api.security.tokens import create_access_token
from tests.conftest import ACTORS, VILLAGE, VILLAGE_OTHER_COUNTY, VILLAGE_OTHER_TOWNSHIP
from tests.factories import make_child

CHILDREN = "/api/v1/children"
# What may differ between two answers of the same request: its id, and the time.
_VARYING_HEADERS = {"x-request-id", "date", "content-length"}


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times FastAPI solved a request's dependencies."""
    calls: list[int] = []
    real = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    return calls


def _same(lean: Any, full: Any) -> None:
    """The two answers agree: status, headers and body, but for the request's own id."""
    assert lean.status_code == full.status_code, (lean.text, full.text)
    lean_headers = {k: v for k, v in lean.headers.items() if k not in _VARYING_HEADERS}
    full_headers = {k: v for k, v in full.headers.items() if k not in _VARYING_HEADERS}
    assert lean_headers == full_headers
    if lean.headers["content-type"].startswith("application/problem+json"):
        a, b = lean.json(), full.json()
        assert a.pop("request_id") == lean.headers["x-request-id"]
        b.pop("request_id")
        assert a == b
    else:
        assert lean.content == full.content


async def _both(client, path: str, headers: dict[str, str], solved: list[int]):  # type: ignore[no-untyped-def]
    before = len(solved)
    lean = await client.get(path, headers=headers)
    lean_solved = len(solved) - before
    full = await client.get(path + "?reveal_id_number=false", headers=headers)
    assert len(solved) - before - lean_solved == 1  # the query string: FastAPI's path
    _same(lean, full)
    return lean, lean_solved


async def test_every_actor_gets_fastapis_answer(client, session, settings, world, solved):
    here = await make_child(session, settings, VILLAGE)
    township = await make_child(session, settings, VILLAGE_OTHER_TOWNSHIP)
    county = await make_child(session, settings, VILLAGE_OTHER_COUNTY)
    for name in ACTORS:
        for child in (here, township, county):
            r, lean_solved = await _both(
                client, f"{CHILDREN}/{child.id}", world[name].headers, solved
            )
            assert lean_solved == 0, name  # the direct call: no dependency solving
            if name == "director":
                assert r.status_code == (200 if child is here else 404)
            if name in ("reporter", "auditor", "admin"):
                assert r.status_code == 403, (name, r.text)
    r = await client.get(f"{CHILDREN}/{here.id}", headers=world["director"].headers)
    assert r.status_code == 200
    assert r.json()["id"] == str(here.id)
    assert r.headers["etag"] == f'"{here.version}"'
    assert r.headers["x-content-type-options"] == "nosniff"
    assert len(r.headers["x-request-id"]) == 16
    # Uppercase hex is a canonical UUID too: the same record.
    upper = await client.get(
        f"{CHILDREN}/{str(here.id).upper()}", headers=world["director"].headers
    )
    assert upper.content == r.content


async def test_tokens_refused_alike(client, session, settings, world, solved):
    child = await make_child(session, settings, VILLAGE)
    me = world["director"]
    path = f"{CHILDREN}/{child.id}"
    sid = uuid.UUID(jwt.get_unverified_claims(me.headers["Authorization"][7:])["sid"])
    expired, _ = create_access_token(
        settings,
        subject=me.id,
        kind="user",
        role="village_director",
        area=VILLAGE,
        session_id=sid,
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": "Basic " + me.headers["Authorization"][7:]},
        {"Authorization": f"Bearer {expired}"},
    ):
        r, _ = await _both(client, path, headers, solved)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"] == "Bearer"
    # Revoked (logout): 401 at once, on both paths.
    await session.execute(
        text("UPDATE token_families SET revoked_at = now() WHERE id = :s"), {"s": sid}
    )
    await session.commit()
    r, _ = await _both(client, path, me.headers, solved)
    assert r.status_code == 401


@pytest.mark.parametrize(
    "child_id",
    [
        "not-a-uuid",
        "12345678-1234-1234-1234-12345678901",  # a digit short
        "12345678-1234-1234-1234-1234567890123",
        "g2345678-1234-1234-1234-123456789012",
        "123456781234123412341234567890ab",  # another form pydantic reads: its path
    ],
)
async def test_other_forms_of_the_id_take_fastapis_path(client, world, solved, child_id):
    before = len(solved)
    r = await client.get(f"{CHILDREN}/{child_id}", headers=world["director"].headers)
    assert len(solved) - before == 1
    assert r.status_code in (404, 422), r.text
    if r.status_code == 422:
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["field"] == "child_id"
