"""Every table, imported in one place so that Alembic and the tests see the whole schema."""

from app.api.models import ApiRateCounter, ApiToken, IdempotencyKey
from app.audit.models import AuditEntry, AuditHead
from app.auth.models import AccountToken, LoginFailure, User, UserRegion, UserSession
from app.certificates.models import Certificate
from app.claims.models import EstablishmentClaim
from app.conduct.models import CodeVersion, SignatoryCounter, Signature
from app.establishments.models import Establishment, EstablishmentOperator, RegisterTerm
from app.imports.models import ImportBatch
from app.mail import OutboxMessage
from app.register.models import RegisterVersion
from app.reports.models import (
    AnnualReport,
    Evidence,
    ReminderSent,
    ReportForm,
    ReportingPeriod,
    ReportSubmission,
)
from app.reviews.models import ReviewDecision

__all__ = [
    "ApiRateCounter",
    "ApiToken",
    "IdempotencyKey",
    "Certificate",
    "EstablishmentClaim",
    "ImportBatch",
    "AuditEntry",
    "AuditHead",
    "RegisterVersion",
    "ReviewDecision",
    "AnnualReport",
    "Evidence",
    "ReminderSent",
    "ReportForm",
    "ReportingPeriod",
    "ReportSubmission",
    "AccountToken",
    "CodeVersion",
    "Establishment",
    "EstablishmentOperator",
    "RegisterTerm",
    "LoginFailure",
    "OutboxMessage",
    "SignatoryCounter",
    "Signature",
    "User",
    "UserRegion",
    "UserSession",
]
