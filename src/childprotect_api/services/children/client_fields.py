"""What an integration client sees of a child record (issue #18): only the fields its OAuth2
scopes need. DESIGN.md: "Collect only what the work needs: categories and notes are never
shown to roles that do not handle the child" — a school system enrolling a child has no
business with its family history, its parents' situation (imprisoned, in rehab...) or its
health.

A client with `children:read` sees the record's identity and state (IDENTITY); each further
scope adds the fields its work needs (SCOPE_FIELDS). Everything else is withheld: `null`, or
an empty list for the list fields, and named in the `X-Childprotect-Withheld` header. Staff
are not concerned (their role decides what they see)."""

from __future__ import annotations

from typing import Any

from childprotect_api.core.errors import Unprocessable
from childprotect_api.models.client import ClientScope
from childprotect_api.security.scope import Scope

WITHHELD_HEADER = "X-Childprotect-Withheld"

# Who the child is and where its record stands: every children:read client. `risk_level` is
# required by the schema and announced to these clients by the child.risk_raised webhook.
IDENTITY = frozenset(
    {
        "id",
        "area_code",
        "name",
        "gender",
        "birth_date",
        "age",
        "id_number",  # masked
        "status",
        "closed_reason",
        "closed_at",
        "risk_level",
        "version",
        "created_at",
        "updated_at",
    }
)
SCOPE_FIELDS: dict[str, frozenset[str]] = {
    # The education system (控辍保学): school, grade, enrolment, boarding, dropout.
    ClientScope.schooling_write.value: frozenset(
        {"school", "grade", "enrolment_status", "boarding", "dropout_risk", "dropout_reported_on"}
    ),
    # The civil-affairs system pays benefits by category (事实无人抚养, 低保...).
    ClientScope.subsidies_write.value: frozenset({"categories", "subsidies", "main_income_source"}),
}
# Never shown to any client, whatever its scopes: family history, the parents' situation,
# health and disability, the people and notes of the protection work itself.
NEVER = frozenset(
    {
        "family_situation",
        "father",
        "mother",
        "health_notes",
        "disability_notes",
        "household_registration",
        "residence",
        "address",
        "ethnicity",
        "pairing_helper_name",
        "pairing_helper_phone",
        "assigned_director_id",
        "risk_reason",
        "risk_set_by",
        "risk_set_at",
        "last_visit_at",
        "next_visit_due",
        "created_by",
        "updated_by",
    }
)
_LISTS = frozenset({"categories", "subsidies"})
# List filters on fields, which would tell a withheld field as well as showing it would.
_FILTERS = {"category": "categories", "school": "school", "assigned_to": "assigned_director_id"}


def visible_fields(scope: Scope) -> frozenset[str] | None:
    """The fields of a child record the caller may see; None: all (staff)."""
    if not scope.is_client:
        return None
    fields = set(IDENTITY)
    for granted in scope.scopes:
        fields |= SCOPE_FIELDS.get(granted, frozenset())
    return frozenset(fields - NEVER)


def withheld(scope: Scope, names: tuple[str, ...] | list[str]) -> list[str]:
    """The fields among `names` (a schema's, in order) the caller may not see."""
    visible = visible_fields(scope)
    if visible is None:
        return []
    return [n for n in names if n not in visible]


def redact(data: dict[str, Any], hidden: list[str]) -> dict[str, Any]:
    for name in hidden:
        if name in data:
            data[name] = [] if name in _LISTS else None
    return data


def check_filters(scope: Scope, filters: dict[str, Any]) -> None:
    """Refuse a filter on a field the caller may not see (`?category=parent_imprisoned`)."""
    visible = visible_fields(scope)
    if visible is None:
        return
    for param, value in filters.items():
        if value not in (None, []) and _FILTERS[param] not in visible:
            raise Unprocessable.field(
                param, "filters on a field your scopes do not show", code="field_withheld"
            )
