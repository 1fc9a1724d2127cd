"""Personal identifiers at rest: AES-GCM encryption and a keyed hash (HMAC-SHA256) for exact
lookup, both from the application data key. Never log the clear values."""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12
_VERSION = b"\x01"


@lru_cache(maxsize=8)
def _keys(data_key: str) -> tuple[bytes, bytes]:
    # Two independent keys derived from the one secret: one encrypts, one hashes.
    enc = hashlib.sha256(b"childprotect:enc:" + data_key.encode()).digest()
    mac = hashlib.sha256(b"childprotect:mac:" + data_key.encode()).digest()
    return enc, mac


def encrypt(data_key: str, plaintext: str, *, context: bytes = b"") -> bytes:
    enc, _ = _keys(data_key)
    nonce = os.urandom(_NONCE)
    return _VERSION + nonce + AESGCM(enc).encrypt(nonce, plaintext.encode(), context)


def decrypt(data_key: str, blob: bytes, *, context: bytes = b"") -> str:
    enc, _ = _keys(data_key)
    if not blob or blob[:1] != _VERSION:
        raise ValueError("unknown ciphertext version")
    nonce, body = blob[1 : 1 + _NONCE], blob[1 + _NONCE :]
    return AESGCM(enc).decrypt(nonce, body, context).decode()


def lookup_hash(data_key: str, value: str, *, purpose: str = "id_number") -> str:
    _, mac = _keys(data_key)
    return hmac.new(mac, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()
