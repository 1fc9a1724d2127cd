"""Access tokens (short-lived JWTs, HS256 only) and opaque refresh tokens."""

from __future__ import annotations

import functools
import hashlib
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
