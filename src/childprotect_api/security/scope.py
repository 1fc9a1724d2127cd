"""The only place area scope and the permission matrix are decided.

A `Scope` is made from the bearer token by `get_scope` (and nothing else); queries take it
through `in_scope()`/`apply_scope()`, which add the area-prefix filter (or `scope_filter()`, the
same filter with named parameters for hot statements built once). Routers never compare area
codes themselves. Objects outside the scope are answered as not found (404)."""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Uuid,
    and_,
    bindparam,
    func,
    literal_column,
    select,
    true,
)

from childprotect_api.config import Settings
from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import Forbidden, NotFound, Unauthorized
from childprotect_api.core.rawsql import Raw
from childprotect_api.models.auth import TokenFamily
from childprotect_api.models.user import Role, User
from childprotect_api.security.tokens import AccessClaims, InvalidToken, decode_access_token


class Action(StrEnum):
    children_read = "children_read"
    children_write = "children_write"
    agreement_read = "agreement_read"
    risk_set = "risk_set"
    visit_log = "visit_log"
    visit_review = "visit_review"
    agreement_edit = "agreement_edit"
    agreement_sign = "agreement_sign"
    report_file = "report_file"
    report_read_own = "report_read_own"
    report_manage = "report_manage"
    users_manage = "users_manage"
    areas_manage = "areas_manage"
    clients_manage = "clients_manage"
    stats_read = "stats_read"
    audit_read = "audit_read"
    areas_read = "areas_read"
    schooling_write = "schooling_write"
    subsidies_write = "subsidies_write"
    jobs_read = "jobs_read"
    visit_policy_read = "visit_policy_read"
    visit_policy_manage = "visit_policy_manage"
    sync = "sync"
    care_read = "care_read"
    pairing_write = "pairing_write"
    case_manage = "case_manage"
    measure_log = "measure_log"
    alerts_read = "alerts_read"
    activity_log = "activity_log"
    site_read = "site_read"
    site_manage = "site_manage"
    qualifications_set = "qualifications_set"
    category_read = "category_read"
    category_apply = "category_apply"
    category_review = "category_review"
    category_decide = "category_decide"
    category_remove = "category_remove"
    payments_read = "payments_read"
    payments_write = "payments_write"
    registers_export = "registers_export"
    registers_reports = "registers_reports"
    id_numbers_reveal = "id_numbers_reveal"


_STAFF = {Role.village_director, Role.township_supervisor, Role.county_officer}
_SUPERVISORS = {Role.township_supervisor, Role.county_officer}

# DESIGN.md's permission matrix, row by row. A role never does more than its row.
PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.children_read: frozenset(_STAFF),
    Action.children_write: frozenset(_STAFF),
    # Care agreements name the guardian and caregiver and say why the parents are away: staff
    # only, no client scope reads them (issue #18: clients see what their work needs).
    Action.agreement_read: frozenset(_STAFF),
    Action.risk_set: frozenset(_STAFF),  # village directors up to orange: a domain rule
    Action.visit_log: frozenset(_STAFF),
    Action.visit_review: frozenset(_SUPERVISORS),
    Action.agreement_edit: frozenset(_STAFF),
    Action.agreement_sign: frozenset(_SUPERVISORS),
    Action.report_file: frozenset(_STAFF | {Role.reporter}),
    Action.report_read_own: frozenset(_STAFF | {Role.reporter}),
    Action.report_manage: frozenset({Role.county_officer}),
    Action.users_manage: frozenset({Role.county_officer, Role.admin}),
    Action.areas_manage: frozenset({Role.admin}),
    Action.clients_manage: frozenset({Role.admin}),
    Action.stats_read: frozenset(_STAFF | {Role.auditor, Role.admin}),
    Action.audit_read: frozenset({Role.county_officer, Role.auditor, Role.admin}),
    Action.areas_read: frozenset(Role),
    # Schooling (控辍保学) and subsidies: staff who update the child, or the education and
    # civil-affairs systems through their OAuth2 scopes.
    Action.schooling_write: frozenset(_STAFF),
    Action.subsidies_write: frozenset(_STAFF),
    # Following a job one started (an import); which jobs is decided in core/jobs.py.
    Action.jobs_read: frozenset(_STAFF),
    # Visit intervals: read by everyone working in (or above) the county, set by its officers.
    Action.visit_policy_read: frozenset(_STAFF | {Role.auditor, Role.admin}),
    Action.visit_policy_manage: frozenset({Role.county_officer}),
    # The offline app's changes feed: staff who work in the field. Not integration clients
    # (they have webhooks and the list endpoints; the feed is shaped for one phone's copy).
    Action.sync: frozenset(_STAFF),
    # Care work (DESIGN.md "Care work"): staff in scope read cases and pairings, create, end
    # and log pairings, and log done measures; supervisors and county officers also open,
    # assess, plan, review and close cases. Alerts are for those they are sent to.
    Action.care_read: frozenset(_STAFF),
    Action.pairing_write: frozenset(_STAFF),
    Action.case_manage: frozenset(_SUPERVISORS),
    Action.measure_log: frozenset(_STAFF),
    Action.alerts_read: frozenset(_SUPERVISORS),
    # Care work (DESIGN.md "Care work"): the staff who hold and log activities, at any level
    # of their scope; sites (阵地) are read by staff and kept by supervisors and officers;
    # qualifications (社工证, ...) are set by county officers.
    Action.activity_log: frozenset(_STAFF),
    Action.site_read: frozenset(_STAFF),
    Action.site_manage: frozenset(_SUPERVISORS),
    Action.qualifications_set: frozenset({Role.county_officer}),
    # Category decisions (认定): staff file applications for the benefit categories, the
    # township reviews (a county officer may too), the county decides and records removals.
    # Benefit payments (发放) are written by county officers (and subsidies:write clients).
    Action.category_read: frozenset(_STAFF),
    Action.category_apply: frozenset(_STAFF),
    Action.category_review: frozenset(_SUPERVISORS),
    Action.category_decide: frozenset({Role.county_officer}),
    Action.category_remove: frozenset({Role.county_officer}),
    Action.payments_read: frozenset(_STAFF),
    Action.payments_write: frozenset({Role.county_officer}),
    # Registers (台账, DESIGN.md "Care work"): record-level exports for township supervisors
    # and county officers; the reports register for county officers only, who alone may
    # have ID numbers shown in full, for a purpose they state (recorded in the audit log).
    Action.registers_export: frozenset(_SUPERVISORS),
    Action.registers_reports: frozenset({Role.county_officer}),
    Action.id_numbers_reveal: frozenset({Role.county_officer}),
}

# OAuth2 scopes an integration client needs for an action.
CLIENT_SCOPES: dict[Action, str] = {
    Action.children_read: "children:read",
    Action.children_write: "children:write",
    Action.report_file: "reports:write",
    Action.report_read_own: "reports:read",
    Action.stats_read: "stats:read",
    Action.areas_read: "children:read",
    Action.schooling_write: "schooling:write",
    Action.subsidies_write: "subsidies:write",
    Action.payments_read: "subsidies:write",
    Action.payments_write: "subsidies:write",
    # The only jobs a client can start are imports, which need children:write.
    Action.jobs_read: "children:write",
}

INTEGRATION_ROLE = "integration"


@dataclass(frozen=True)
class Scope:
    """Who is calling and which part of the area tree they may touch."""

    actor_type: str  # "user" or "client"
    actor_id: uuid.UUID
    role: str
    area_code: str  # "" means the whole system (root admins)
    scopes: frozenset[str] = field(default_factory=frozenset)
    session_id: uuid.UUID | None = None
    request_id: str | None = None

    @property
    def is_client(self) -> bool:
        return self.actor_type == "client"

    @property
    def user_id(self) -> uuid.UUID | None:
        return None if self.is_client else self.actor_id

    def covers(self, area_code: str | None) -> bool:
        """Whether an area code lies inside this scope (for values, not for queries)."""
        if area_code is None:
            return self.area_code == ""
        return area_code.startswith(self.area_code)

    def overlaps(self, area_code: str) -> bool:
        """Whether the area lies inside this scope or this scope inside the area (a village
        director and the settings of its county, say). For values, not for queries."""
        return area_code.startswith(self.area_code) or self.area_code.startswith(area_code)

    def narrowed(self, area_code: str) -> Scope:
        """The part of this scope under one of its areas (an area's statistics read that
        area's rows with the same filter). An area outside the scope is not found."""
        if not self.covers(area_code):
            raise NotFound("no such area")
        return replace(self, area_code=area_code)

    def can(self, action: Action) -> bool:
        if self.is_client:
            needed = CLIENT_SCOPES.get(action)
            return needed is not None and needed in self.scopes
        return self.role in PERMISSIONS[action]

    def require(self, action: Action) -> Scope:
        if self.can(action):
            return self
        if self.is_client:
            needed = CLIENT_SCOPES.get(action)
            raise Forbidden(
                f"this client lacks the scope {needed}" if needed else "not allowed for clients",
                code="missing_scope",
                extra={"missing_scope": needed},
            )
        raise Forbidden(f"the role {self.role} may not do this", code="role_forbidden")


# A scope condition as data: (column "area" or "county", operator, parameter name, value).
_Term = tuple[str, str, str, str]


def _prefix_terms(column: str, prefix: str) -> tuple[str, list[_Term]]:
    """Codes are digits compared byte-wise (COLLATE "C"), so a prefix is a range. Unlike
    `LIKE :p || '%'`, a range keeps its index in a prepared statement's generic plan (so hot
    queries are not re-planned on every call); a full 12-digit code is an equality."""
    if len(prefix) >= 12:
        return "eq", [(column, "==", "scope_area", prefix)]
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return "range", [(column, ">=", "scope_low", prefix), (column, "<", "scope_high", upper)]


def _scope_terms(prefix: str, with_county: bool) -> tuple[str, list[_Term]]:
    """The one definition of "inside the scope", with a county column leading with the
    county (the distribution key), which the scope indexes also lead with."""
    if not prefix:
        return "all", []
    if not with_county:
        kind, terms = _prefix_terms("area", prefix)
        return f"area_{kind}", terms
    if len(prefix) < 6:
        kind, terms = _prefix_terms("county", prefix)
        return f"counties_{kind}", terms
    if len(prefix) == 6:
        return "county", [("county", "==", "scope_county", prefix)]
    kind, terms = _prefix_terms("area", prefix)
    return f"county_area_{kind}", [("county", "==", "scope_county", prefix[:6]), *terms]


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    ">=": operator.ge,
    "<": operator.lt,
}


def _clause(terms: list[_Term], area_col: Any, county_col: Any, named: bool) -> Any:
    if not terms:
        return true()
    columns = {"area": area_col, "county": county_col}
    return and_(
        *(
            _OPERATORS[op](columns[column], bindparam(name) if named else value)
            for column, op, name, value in terms
        )
    )


def in_scope(scope: Scope, area_col: Any, county_col: Any = None) -> ColumnElement[bool]:
    """The area-prefix filter for a query."""
    _, terms = _scope_terms(scope.area_code, county_col is not None)
    clause: ColumnElement[bool] = _clause(terms, area_col, county_col, named=False)
    return clause


@dataclass(frozen=True)
class ScopeFilter:
    """in_scope for a hot statement built once per `shape` and then only executed: `clause`
    has named parameters (scope_county, scope_area, scope_low, scope_high) whose values for
    this scope are `params`. One scope per statement."""

    shape: str
    params: dict[str, str]
    terms: list[_Term]
    area_col: Any
    county_col: Any

    @property
    def clause(self) -> ColumnElement[bool]:
        clause: ColumnElement[bool] = _clause(self.terms, self.area_col, self.county_col, True)
        return clause


def scope_filter(
    scope: Scope, area_col: Any, county_col: Any = None, *, prefix: str = "scope"
) -> ScopeFilter:
    """`prefix` names the parameters (`scope_county`, ...), so that a statement can hold two
    such filters (the caller's scope and an area asked for inside it)."""
    shape, terms = _scope_terms(scope.area_code, county_col is not None)
    if prefix != "scope":
        terms = [(c, op, prefix + name[5:], value) for c, op, name, value in terms]
    params = {name: value for _, _, name, value in terms}
    return ScopeFilter(shape, params, terms, area_col, county_col)


T = TypeVar("T", bound=Select[Any])


def apply_scope(stmt: T, scope: Scope, area_col: Any, county_col: Any = None) -> T:
    return stmt.where(in_scope(scope, area_col, county_col))


# Runs on every request: built once, as plain Core (no ORM work per execution).
_users = User.__table__  # type: ignore[attr-defined]
_families = TokenFamily.__table__  # type: ignore[attr-defined]
_SESSION_CHECK = Raw(
    select(_users.c.is_active, _users.c.role, _users.c.area_code, _families.c.revoked_at)
    .join(_families, _families.c.user_id == _users.c.id)
    .where(_users.c.id == bindparam("user_id"), _families.c.id == bindparam("session_id"))
)

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def _unauthorized(detail: str) -> Unauthorized:
    return Unauthorized(detail, headers={"WWW-Authenticate": "Bearer"})


def _claims(request: Request, token: str | None) -> AccessClaims:
    if not token:
        raise _unauthorized("a bearer token is required")
    settings: Settings = request.app.state.settings
    try:
        return decode_access_token(settings, token)
    except InvalidToken as e:
        raise _unauthorized("the token is invalid or expired") from e


async def get_scope(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Scope:
    return await scope_of(request, session, _claims(request, token))


async def scope_of(request: Request, session: Any, claims: AccessClaims) -> Scope:
    """The caller's scope from verified claims (get_scope's work after the token)."""
    rid = getattr(request.state, "request_id", None)
    if claims.kind == "user":
        # One query: the account must still be active and the login session not revoked, so
        # deactivation and logout take effect at once. Role and area come from the row.
        row = await _SESSION_CHECK.fetchrow(
            session, {"user_id": claims.subject, "session_id": claims.session_id}
        )
        if row is None or not row["is_active"] or row["revoked_at"] is not None:
            raise _unauthorized("the token is no longer valid")
        scope = Scope(
            "user",
            claims.subject,
            row["role"],
            row["area_code"] or "",
            session_id=claims.session_id,
            request_id=rid,
        )
    else:
        scope = await _client_scope(request, session, claims, rid)
    request.state.scope = scope
    return scope


async def _client_scope(request: Request, session: Any, claims: Any, rid: str | None) -> Scope:
    """Integration clients (client_credentials) get their scopes and area from the token;
    the client registry (a later module) checks that the client is still enabled."""
    hook = getattr(request.app.state, "client_check", None)
    if hook is None or not await hook(session, claims.subject):
        raise _unauthorized("the token is no longer valid")
    return Scope(
        "client", claims.subject, INTEGRATION_ROLE, claims.area, claims.scopes, request_id=rid
    )


CurrentScope = Annotated[Scope, Depends(get_scope)]


# --- one round trip: the session check inside the statement that reads -----------------------
#
# A hot read (GET /children/{id}) sends ONE statement in autocommit: this CTE checks the login
# session (the account active, the session not revoked) and that the account's role and area
# are still those of the token; the read and its audit row are gated on SESSION_HELD, so
# nothing is read or audited without a live session, and logout or deactivation take effect
# at once as with get_scope. The scope the read is filtered by is the token's (`token_scope`),
# used only when the row confirms it (`checked_scope`); when the role or area changed since
# the token was issued, nothing is read and the request takes get_scope's path (`scope_of`).

SESSION_CHECK_CTE = (
    select(
        and_(_users.c.is_active, _families.c.revoked_at.is_(None)).label("session_live"),
        and_(
            _users.c.role == bindparam("claimed_role", type_=String),
            func.coalesce(_users.c.area_code, literal_column("''"))
            == bindparam("claimed_area", type_=String),
        ).label("session_fits"),
        _users.c.role.label("session_role"),
        _users.c.area_code.label("session_area"),
    )
    .join_from(_users, _families, _families.c.user_id == _users.c.id)
    .where(
        _users.c.id == bindparam("user_id", type_=Uuid),
        _families.c.id == bindparam("session_id", type_=Uuid),
    )
    .cte("session_check")
)
SESSION_HELD = (
    select(literal_column("1"))
    .select_from(SESSION_CHECK_CTE)
    .where(SESSION_CHECK_CTE.c.session_live, SESSION_CHECK_CTE.c.session_fits)
    .exists()
)
SESSION_COLUMNS = tuple(SESSION_CHECK_CTE.c)


def session_frame() -> Any:
    """The FROM of a one-statement read or write: a single row, always there (so a failed
    session check still answers one row that says so), with SESSION_CHECK_CTE outer-joined to
    it; the statement outer-joins its own parts to this on true."""
    one = select(literal_column("1").label("one")).subquery("one")
    return one.outerjoin(SESSION_CHECK_CTE, true())


async def get_claims(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> AccessClaims:
    """The verified token alone (no database): for the routes that check the session inside
    their one statement (SESSION_CHECK_CTE); the same 401s as get_scope."""
    return _claims(request, token)


CurrentClaims = Annotated[AccessClaims, Depends(get_claims)]


def token_scope(request: Request, claims: AccessClaims) -> Scope | None:
    """The scope a user's token claims, to be confirmed by SESSION_CHECK_CTE in the statement
    that uses it; None for an integration client (get_scope's path)."""
    if claims.kind != "user" or claims.session_id is None:
        return None
    rid = getattr(request.state, "request_id", None)
    return Scope(
        "user", claims.subject, claims.role, claims.area, session_id=claims.session_id,
        request_id=rid,
    )  # fmt: skip


def session_params(scope: Scope) -> dict[str, Any]:
    return {
        "user_id": scope.actor_id,
        "session_id": scope.session_id,
        "claimed_role": scope.role,
        "claimed_area": scope.area_code,
    }


def checked_scope(request: Request, scope: Scope, row: Any) -> Scope | None:
    """After a statement with SESSION_COLUMNS: 401 without a live login session; the scope
    when the account's row confirms it (then it is the request's); None when the role or
    area changed since the token (nothing was read: the request takes get_scope's path,
    scoped by the row)."""
    if row is None or not row["session_live"]:
        raise _unauthorized("the token is no longer valid")
    if not row["session_fits"]:
        return None
    request.state.scope = scope
    return scope
