"""Access tokens (short-lived JWTs, HS256 only) and opaque refresh tokens."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jose import JWTError, jwt

from childprotect_api.config import Settings

# The only algorithm accepted on decode: `none`, RS/ES and anything else is refused.
ALGORITHMS = ["HS256"]


@dataclass(frozen=True)
class AccessClaims:
    subject: uuid.UUID
    kind: str  # "user" or "client"
    role: str
    area: str
    scopes: frozenset[str]
    session_id: uuid.UUID | None
    token_id: str


def _kid(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def create_access_token(
    settings: Settings,
    *,
    subject: uuid.UUID,
    kind: str,
    role: str,
    area: str,
    scopes: list[str] | None = None,
    session_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> tuple[str, int]:
    now = now or datetime.now(UTC)
    lifetime = timedelta(minutes=settings.access_token_minutes)
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "sub": str(subject),
        "typ": kind,
        "role": role,
        "area": area,
        "scp": " ".join(sorted(scopes or [])),
        "jti": secrets.token_hex(12),
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }
    if session_id:
        claims["sid"] = str(session_id)
    key = settings.signing_keys[0]
    token = jwt.encode(claims, key, algorithm="HS256", headers={"kid": _kid(key)})
    return token, int(lifetime.total_seconds())


class InvalidToken(Exception):
    pass


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    """The claims of a valid token, or InvalidToken. A phone sends the same token with every
    request for its lifetime: a token verified once (signature, issuer, required claims) is
    remembered by its exact text, and only its expiry is checked again."""
    claims, expires = _verified(tuple(settings.signing_keys), settings.jwt_issuer, token)
    if expires < int(time.time()):  # as python-jose decides it (no leeway)
        raise InvalidToken("token expired")
    return claims


@functools.lru_cache(maxsize=4096)
def _verified(keys: tuple[str, ...], issuer: str, token: str) -> tuple[AccessClaims, int]:
    """Verify a token (raises InvalidToken, which is never cached)."""
    try:
        header = jwt.get_unverified_header(token)
    except JWTError as e:
        raise InvalidToken("malformed token") from e
    if header.get("alg") not in ALGORITHMS:
        raise InvalidToken("algorithm not allowed")
    kid = header.get("kid")
    ordered = sorted(keys, key=lambda k: _kid(k) != kid)
    last: Exception | None = None
    for key in ordered:
        try:
            data = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                issuer=issuer,
                options={"require_exp": True, "require_iat": True, "require_sub": True},
            )
            break
        except JWTError as e:
            last = e
    else:
        raise InvalidToken("invalid token") from last
    try:
        sid = data.get("sid")
        claims = AccessClaims(
            subject=uuid.UUID(data["sub"]),
            kind=str(data["typ"]),
            role=str(data["role"]),
            area=str(data.get("area") or ""),
            scopes=frozenset(str(data.get("scp") or "").split()),
            session_id=uuid.UUID(sid) if sid else None,
            token_id=str(data["jti"]),
        )
        return claims, int(data["exp"])
    except (KeyError, ValueError, TypeError) as e:
        raise InvalidToken("invalid claims") from e


def new_refresh_token() -> tuple[str, str]:
    """Answer (token, sha256 hex). Only the hash is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- known devices ------------------------------------------------------------------------
#
# A successful password login answers a `device_token` bound to the account. A later password
# login that sends it back is the owner's known device: it is counted on its own (a lock of
# the account by failures from elsewhere does not apply to it), so nobody can lock an owner
# out by guessing their password from another device.

_DEVICE_PREFIX = "dv1"


def _device_mac(key: str, user_id: uuid.UUID, nonce: str) -> str:
    return hmac.new(
        key.encode(), f"device:{user_id.hex}:{nonce}".encode(), hashlib.sha256
    ).hexdigest()[:32]


def new_device_token(settings: Settings, user_id: uuid.UUID) -> str:
    nonce = secrets.token_urlsafe(18)
    return (
        f"{_DEVICE_PREFIX}.{user_id.hex}.{nonce}.{_device_mac(settings.data_key, user_id, nonce)}"
    )


@dataclass(frozen=True)
class DeviceToken:
    user_id: uuid.UUID
    nonce: str


def read_device_token(settings: Settings, token: str | None) -> DeviceToken | None:
    """The device a token names, or None for a missing, malformed or forged one."""
    if not token or len(token) > 200:
        return None
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != _DEVICE_PREFIX:
        return None
    try:
        user_id = uuid.UUID(hex=parts[1])
    except ValueError:
        return None
    if not hmac.compare_digest(parts[3], _device_mac(settings.data_key, user_id, parts[2])):
        return None
    return DeviceToken(user_id, parts[2])
