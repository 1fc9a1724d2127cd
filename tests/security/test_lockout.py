"""Lockout cannot be turned into a weapon (issue 18, item 7): failures count per source
address across all names, per account (username and phone together), per known device; the
owner's known device is never locked by failures from elsewhere, and integration clients are
never locked by someone else's wrong secrets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from childprotect_api.config import Settings
from childprotect_api.models.user import User
from tests.conftest import TEST_PASSWORD, VILLAGE
from tests.integrations.client_helpers import client_token, create_client

TOKEN = "/api/v1/auth/token"
WRONG = "Wrong-Password-1"


@asynccontextmanager
async def from_source(app, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from `address` (as the app sees the peer)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def _login(http, login: str, password: str = TEST_PASSWORD, device: str | None = None):
    data = {"grant_type": "password", "username": login, "password": password}
    if device is not None:
        data["device_token"] = device
    return await http.post(TOKEN, data=data)


def _is_429_problem(r: httpx.Response, code: str) -> bool:
    return (
        r.status_code == 429
        and r.headers["content-type"].startswith("application/problem+json")
        and int(r.headers["retry-after"]) > 0
        and r.json()["code"] == code
    )


async def test_failures_over_many_names_from_one_source_are_limited(app, world, settings):
    limit = settings.login_source_max_failures
    assert limit < 30
    async with from_source(app, "198.51.100.7") as attacker:
        answers = [await _login(attacker, f"user-{i}", WRONG) for i in range(30)]
        assert [r.status_code for r in answers[:limit]] == [400] * limit
        assert all(_is_429_problem(r, "login_rate_limited") for r in answers[limit:])
        # Even a right password from that source waits for the window to end ...
        assert _is_429_problem(await _login(attacker, "director"), "login_rate_limited")
        # ... and so do client secrets.
        r = await attacker.post(
            TOKEN,
            data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
        )
        assert _is_429_problem(r, "login_rate_limited")
    # Other sources are untouched.
    async with from_source(app, "203.0.113.20") as other:
        assert (await _login(other, "director")).status_code == 200


async def test_an_ipv6_source_counts_by_its_64(app, world, settings):
    for i in range(settings.login_source_max_failures):
        async with from_source(app, f"2001:db8:1:2::{i + 1:x}") as attacker:
            assert (await _login(attacker, f"user-{i}", WRONG)).status_code == 400
    async with from_source(app, "2001:db8:1:2:ffff::9") as attacker:
        assert _is_429_problem(await _login(attacker, "nobody", WRONG), "login_rate_limited")
    async with from_source(app, "2001:db8:1:3::1") as other:
        assert (await _login(other, "director")).status_code == 200


async def test_username_and_phone_count_together(app, world, session, settings):
    user = await session.get(User, world["director"].id)
    assert user is not None
    user.phone = "13800009999"
    await session.commit()
    async with from_source(app, "198.51.100.8") as http:
        for i in range(settings.login_max_failures):
            login = "director" if i % 2 else "13800009999"
            assert (await _login(http, login, WRONG)).status_code == 400
        for login in ("director", "13800009999"):
            assert _is_429_problem(await _login(http, login), "login_locked")


@pytest.mark.parametrize("name", ["director", "admin"])
async def test_the_owners_known_device_is_never_locked_out(app, world, settings, name):
    async with from_source(app, "192.0.2.10") as owner:
        first = await _login(owner, name)
        assert first.status_code == 200, first.text
        device = first.json()["device_token"]
        assert device
    # Someone elsewhere guesses until the account is locked.
    async with from_source(app, "198.51.100.9") as attacker:
        for _ in range(settings.login_max_failures):
            assert (await _login(attacker, name, WRONG)).status_code == 400
        assert _is_429_problem(await _login(attacker, name), "login_locked")
        # A device token of another account does not open this one.
        other = (await _login(attacker, "supervisor")).json()["device_token"]
        assert _is_429_problem(await _login(attacker, name, device=other), "login_locked")
        # A forged one neither.
        forged = device[:-4] + ("0000" if not device.endswith("0000") else "1111")
        assert _is_429_problem(await _login(attacker, name, device=forged), "login_locked")
    async with from_source(app, "192.0.2.10") as owner:
        # Without the device the owner waits like anyone ...
        assert _is_429_problem(await _login(owner, name), "login_locked")
        # ... from the known device, the right password works at once.
        r = await _login(owner, name, device=device)
        assert r.status_code == 200, r.text
        assert r.json()["device_token"] == device
        # The device has a counter of its own: a stolen device token gives no unlimited guesses.
        for _ in range(settings.login_max_failures):
            assert (await _login(owner, name, WRONG, device=device)).status_code == 400
        assert _is_429_problem(await _login(owner, name, device=device), "login_locked")


async def test_wrong_client_secrets_never_lock_the_real_one(app, client, world, settings):
    body = await create_client(client, world["admin"].headers, scopes=["stats:read"], area=VILLAGE)
    async with from_source(app, "198.51.100.10") as attacker:
        for _ in range(settings.login_source_max_failures):
            r = await client_token(attacker, body["id"], "cps_wrong")
            assert r.status_code == 401
        r = await client_token(attacker, body["id"], "cps_wrong")
        assert _is_429_problem(r, "login_rate_limited")  # the attacker's source is limited
    async with from_source(app, "192.0.2.11") as real:
        r = await client_token(real, body["id"], body["client_secret"])
        assert r.status_code == 200, r.text


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CHILDPROTECT_LOGIN_MAX_FAILURES", "7")
    monkeypatch.setenv("CHILDPROTECT_LOGIN_LOCK_MINUTES", "30")
    monkeypatch.setenv("CHILDPROTECT_LOGIN_SOURCE_MAX_FAILURES", "50")
    s = Settings(env="test")
    assert (s.login_max_failures, s.login_lock_minutes, s.login_source_max_failures) == (7, 30, 50)
