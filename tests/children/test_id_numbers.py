from __future__ import annotations

from datetime import date

import pytest
from cryptography.exceptions import InvalidTag

from childprotect_api.security.crypto import decrypt, encrypt, lookup_hash
from childprotect_api.services.children import id_numbers

# A published sample number with a correct check digit.
SAMPLE = "11010519491231002X"


def test_parse_valid():
    info = id_numbers.parse(SAMPLE.lower())
    assert info.normalized == SAMPLE
    assert info.birth_date == date(1949, 12, 31)
    assert info.gender == "female"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("11010519491231002", "18 characters"),
        ("1101051949123100X2", "17 digits"),
        ("110105194913310029", "birth date"),
        ("110105194912310021", "check digit"),
        ("110105290012310020", "impossible"),
    ],
)
def test_parse_invalid(value, reason):
    with pytest.raises(ValueError, match=reason):
        id_numbers.parse(value)


@pytest.mark.parametrize("gender", ["male", "female"])
def test_make_is_valid(gender):
    for seq in range(1, 300, 7):
        n = id_numbers.make("620722", date(2014, 2, 28), seq, gender)
        info = id_numbers.parse(n)
        assert info.gender == gender and info.birth_date == date(2014, 2, 28)


def test_mask():
    assert id_numbers.mask("620722201402281234") == "6207**********1234"


def test_encryption_round_trip_and_keyed_hash():
    blob = encrypt("k" * 40, SAMPLE, context=b"id_number")
    assert SAMPLE.encode() not in blob
    assert decrypt("k" * 40, blob, context=b"id_number") == SAMPLE
    with pytest.raises(InvalidTag):
        decrypt("other" * 10, blob, context=b"id_number")
    assert lookup_hash("k" * 40, SAMPLE) == lookup_hash("k" * 40, SAMPLE)
    assert lookup_hash("k" * 40, SAMPLE) != lookup_hash("j" * 40, SAMPLE)


def test_age_on():
    assert id_numbers.age_on(date(2008, 11, 24), date(2026, 11, 23)) == 17
    assert id_numbers.age_on(date(2008, 11, 23), date(2026, 11, 23)) == 18
