"""Every feature's models, imported in one place so the metadata (and Alembic) sees them all."""

from safehold.access.models import ApiKey
from safehold.db import Base

__all__ = ["ApiKey", "Base"]
