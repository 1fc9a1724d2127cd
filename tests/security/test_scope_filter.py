"""The scope condition as ranges: the same rows as a prefix match, for every shape."""

from __future__ import annotations

import operator
import uuid

import pytest
from sqlalchemy.dialects import postgresql

from childprotect_api.models.child import Child
from childprotect_api.security.scope import Scope, _scope_terms, in_scope, scope_filter

CODES = [
    "620722100001",
    "620722100009",
    "620722100010",
    "620722109999",
    "620722110001",
    "620729999999",
    "620730100001",
    "629999999999",
    "630101100001",
    "620722099999",
]
OPS = {"==": operator.eq, ">=": operator.ge, "<": operator.lt}


@pytest.mark.parametrize(
    "prefix", ["", "62", "6207", "620722", "620729", "620722100", "620722109", "620722100001"]
)
def test_terms_match_exactly_the_prefix(prefix):
    for with_county in (False, True):
        _, terms = _scope_terms(prefix, with_county)
        for code in CODES:
            values = {"area": code, "county": code[:6]}
            inside = all(OPS[op](values[column], v) for column, op, _, v in terms)
            assert inside == code.startswith(prefix), (prefix, with_county, code)


def test_named_and_inline_conditions_agree():
    scope = Scope("user", uuid.uuid4(), "township_supervisor", "620722100")
    area, county = Child.__table__.c.area_code, Child.__table__.c.county_code  # type: ignore[attr-defined]
    flt = scope_filter(scope, area, county)
    assert flt.shape == "county_area_range"
    assert flt.params == {
        "scope_county": "620722",
        "scope_low": "620722100",
        "scope_high": "620722101",
    }
    named = str(flt.clause.compile(dialect=postgresql.dialect()))
    assert "scope_low" in named and "LIKE" not in named
    inline = in_scope(scope, area, county).compile(dialect=postgresql.dialect())
    assert sorted(inline.params.values()) == sorted(flt.params.values())
