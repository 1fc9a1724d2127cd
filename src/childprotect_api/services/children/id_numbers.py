"""Resident ID numbers (居民身份证号, GB 11643-1999): validation, what they say about birth date
and gender, masking, and the encrypted/hashed form stored in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from childprotect_api.security.crypto import decrypt, encrypt, lookup_hash

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_digit(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


@dataclass(frozen=True)
class IdNumberInfo:
    normalized: str
    birth_date: date
    gender: str  # "male" / "female"


def parse(value: str) -> IdNumberInfo:
    """Validate an 18-character ID number; raise ValueError with a reason a person can act on."""
    v = value.strip().upper()
    if len(v) != 18:
        raise ValueError("must be 18 characters")
    if not v[:17].isdigit() or not (v[17].isdigit() or v[17] == "X"):
        raise ValueError("must be 17 digits followed by a digit or X")
    try:
        born = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError as e:
        raise ValueError("holds an invalid birth date") from e
    if born > date.today() or born.year < 1900:
        raise ValueError("holds an impossible birth date")
    if check_digit(v[:17]) != v[17]:
        raise ValueError("has a wrong check digit")
    return IdNumberInfo(v, born, "male" if int(v[16]) % 2 == 1 else "female")


def make(area_prefix6: str, born: date, sequence: int, gender: str) -> str:
    """Build a valid ID number (for demo data and tests)."""
    seq = sequence % 100 * 10 + (1 if gender == "male" else 0) + (sequence // 100 % 5) * 2
    first17 = f"{area_prefix6}{born:%Y%m%d}{seq % 1000:03d}"
    return first17 + check_digit(first17)


def mask(value: str) -> str:
    """`6207**********1234`: the first four and the last four characters."""
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@dataclass(frozen=True)
class ProtectedIdNumber:
    encrypted: bytes
    hash: str
    masked: str


def protect(data_key: str, normalized: str) -> ProtectedIdNumber:
    return ProtectedIdNumber(
        encrypt(data_key, normalized, context=b"id_number"),
        lookup_hash(data_key, normalized),
        mask(normalized),
    )


def reveal(data_key: str, encrypted: bytes) -> str:
    return decrypt(data_key, encrypted, context=b"id_number")


def hash_of(data_key: str, value: str) -> str:
    return lookup_hash(data_key, value.strip().upper())
