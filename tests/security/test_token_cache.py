"""A token is verified once (signature, issuer, claims) and then remembered by its exact text;
its expiry is still checked on every request, and nothing but a valid token is remembered."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from childprotect_api.config import Settings
from childprotect_api.security import tokens
from childprotect_api.security.tokens import InvalidToken, create_access_token, decode_access_token


@pytest.fixture
def settings() -> Settings:  # no database needed
    return Settings(env="test")


def _token(settings: Settings, **kw) -> str:  # type: ignore[no-untyped-def]
    token, _ = create_access_token(
        settings,
        subject=uuid.uuid4(),
        kind="user",
        role="village_director",
        area="620722100001",
        session_id=uuid.uuid4(),
        **kw,
    )
    return token


def test_a_token_is_verified_once_and_then_remembered(settings):
    token = _token(settings)
    first = decode_access_token(settings, token)
    hits = tokens._verified.cache_info().hits
    assert decode_access_token(settings, token) == first
    assert tokens._verified.cache_info().hits == hits + 1


def test_a_remembered_token_still_expires(settings, monkeypatch):
    token = _token(settings)
    decode_access_token(settings, token)
    later = datetime.now(UTC) + timedelta(minutes=settings.access_token_minutes, seconds=2)
    monkeypatch.setattr(tokens.time, "time", later.timestamp)
    with pytest.raises(InvalidToken):
        decode_access_token(settings, token)


def test_a_tampered_copy_of_a_remembered_token_is_refused(settings):
    token = _token(settings)
    decode_access_token(settings, token)
    head, body, sig = token.split(".")
    forged = f"{head}.{body}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
    with pytest.raises(InvalidToken):
        decode_access_token(settings, forged)


def test_refusals_are_not_remembered(settings):
    size = tokens._verified.cache_info().currsize
    for bad in ("not-a-token", _token(settings, now=datetime.now(UTC) - timedelta(hours=2))):
        with pytest.raises(InvalidToken):
            decode_access_token(settings, bad)
    assert tokens._verified.cache_info().currsize == size


def test_another_key_set_verifies_again(settings):
    token = _token(settings)
    decode_access_token(settings, token)
    rotated = Settings(env="test", jwt_keys="another-key-of-at-least-32-characters-000")
    with pytest.raises(InvalidToken):
        decode_access_token(rotated, token)
