"""SQLModel tables, one module per aggregate. Importing this package registers them all
on SQLModel.metadata (what Alembic compares against)."""

from childprotect_api.models.activity import Activity, Site
from childprotect_api.models.agreement import Agreement, AgreementStatusChange
from childprotect_api.models.area import Area, AreaLevel
from childprotect_api.models.attachment import Attachment
from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.auth import LoginThrottle, RefreshToken, TokenFamily
from childprotect_api.models.benefit import (
    BenefitPayment,
    CategoryApplication,
    CategoryApplicationEvent,
    CategoryRemoval,
)
from childprotect_api.models.care import (
    Alert,
    Case,
    CaseEvent,
    CaseMeasure,
    ChildDuty,
    Pairing,
    PairingContact,
)
from childprotect_api.models.child import Child, ChildEvent, ChildRiskChange
from childprotect_api.models.client import IntegrationClient
from childprotect_api.models.idempotency import IdempotencyKey, SyncPushOp
from childprotect_api.models.job import Job
from childprotect_api.models.outbox import OutboxEvent
from childprotect_api.models.rate_limit import RateLimitCounter
from childprotect_api.models.report import (
    Report,
    ReportEvent,
    ReportNote,
    ReportPolicy,
    ReportReferral,
)
from childprotect_api.models.stats import (
    CountyPeriodFigures,
    CountySnapshot,
    VisitDayCount,
    VisitMonthCount,
)
from childprotect_api.models.sync import SyncChange
from childprotect_api.models.user import Role, User
from childprotect_api.models.visit import Visit
from childprotect_api.models.visit_policy import VisitPolicy
from childprotect_api.models.webhook import (
    WebhookAttempt,
    WebhookCursor,
    WebhookDelivery,
    WebhookSubscription,
)

__all__ = [
    "Activity",
    "Agreement",
    "AgreementStatusChange",
    "Alert",
    "Area",
    "AreaLevel",
    "Attachment",
    "AuditEvent",
    "BenefitPayment",
    "Case",
    "CaseEvent",
    "CaseMeasure",
    "CategoryApplication",
    "CategoryApplicationEvent",
    "CategoryRemoval",
    "Child",
    "ChildDuty",
    "ChildEvent",
    "ChildRiskChange",
    "CountyPeriodFigures",
    "CountySnapshot",
    "IdempotencyKey",
    "IntegrationClient",
    "Job",
    "LoginThrottle",
    "OutboxEvent",
    "Pairing",
    "PairingContact",
    "RateLimitCounter",
    "RefreshToken",
    "Report",
    "ReportEvent",
    "ReportNote",
    "ReportPolicy",
    "ReportReferral",
    "Role",
    "Site",
    "SyncChange",
    "SyncPushOp",
    "TokenFamily",
    "User",
    "Visit",
    "VisitDayCount",
    "VisitMonthCount",
    "VisitPolicy",
    "WebhookAttempt",
    "WebhookCursor",
    "WebhookDelivery",
    "WebhookSubscription",
]
