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


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"
