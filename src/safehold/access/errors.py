from __future__ import annotations

from safehold.errors import Forbidden, InvalidInput, NotFound, Unauthenticated


class InvalidApiKey(Unauthenticated):
    code = "invalid_api_key"


class UnknownScope(InvalidInput):
    code = "unknown_scope"


class UnknownPurpose(InvalidInput):
    code = "unknown_purpose"


class MissingScope(Forbidden):
    code = "missing_scope"


class PurposeNotAllowed(Forbidden):
    code = "purpose_not_allowed"


class ScopeEscalation(Forbidden):
    code = "scope_escalation"


class RevocationRefused(Forbidden):
    """The key to revoke holds a scope or purpose the caller does not: a narrow admin key
    must not be able to switch off a wider one (a denial of service against its betters)."""

    code = "revocation_refused"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"


class NoCheckpoint(NotFound):
    code = "no_checkpoint"
