"""SQLModel tables, one module per aggregate. Importing this package registers them all
on SQLModel.metadata (what Alembic compares against)."""

from childprotect_api.models.area import Area, AreaLevel
from childprotect_api.models.attachment import Attachment
from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.auth import LoginThrottle, RefreshToken, TokenFamily
from childprotect_api.models.child import Child, ChildRiskChange
from childprotect_api.models.outbox import OutboxEvent
from childprotect_api.models.user import Role, User
from childprotect_api.models.visit import Visit
from childprotect_api.models.visit_policy import VisitPolicy

__all__ = [
    "Area",
    "AreaLevel",
    "Attachment",
    "AuditEvent",
    "Child",
    "ChildRiskChange",
    "LoginThrottle",
    "OutboxEvent",
    "RefreshToken",
    "Role",
    "TokenFamily",
    "User",
    "Visit",
    "VisitPolicy",
]
