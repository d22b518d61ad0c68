"""Domain errors: small exception classes carrying a stable code and their fields.

Each family maps to one HTTP status in :mod:`safehold.handlers`, the only place that knows
about HTTP. Messages are written for people and never contain submitted values or personal
data; ``details`` carries machine-readable context (field names, rule names), never values.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SafeholdError(Exception):
    code: ClassVar[str] = "error"
    # True for refusals whose audit entry must be committed although the request fails.
    keeps_writes: ClassVar[bool] = False

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(SafeholdError):
    code = "invalid_input"


class NotFound(SafeholdError):
    code = "not_found"


class Conflict(SafeholdError):
    code = "conflict"


class Unauthenticated(SafeholdError):
    code = "unauthenticated"


class Forbidden(SafeholdError):
    code = "forbidden"


class PayloadTooLarge(SafeholdError):
    code = "request_too_large"


class Gone(SafeholdError):
    """It existed and was erased: distinct from never having existed."""

    code = "gone"


class ServerFault(SafeholdError):
    """Safehold's own integrity or configuration is at fault, not the request (HTTP 500)."""

    code = "server_fault"


class RateLimited(SafeholdError):
    """Too many attempts in a window (HTTP 429 with ``Retry-After``); see safehold.ratelimit."""

    code = "rate_limited"

    def __init__(
        self, message: str, *, retry_after: int, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after
