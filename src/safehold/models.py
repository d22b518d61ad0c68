"""Every feature's models, imported in one place so the metadata (and Alembic) sees them all."""

from safehold.access.models import ApiKey, AuditEntry, AuditHead
from safehold.comms.models import MarketingChoice
from safehold.db import Base
from safehold.subjects.models import PaymentMethod, PersonalValue, Subject
from safehold.vault.models import DataKey

__all__ = [
    "ApiKey",
    "AuditEntry",
    "AuditHead",
    "Base",
    "DataKey",
    "MarketingChoice",
    "PaymentMethod",
    "PersonalValue",
    "Subject",
]
