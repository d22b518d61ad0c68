"""Pure rules for API keys: the token format, hashing, and what a scope or purpose allows."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

TOKEN_PREFIX = "shk"  # noqa: S105 — a public prefix, not a secret
KEY_ID_BYTES = 8
SECRET_BYTES = 32
ANY_PURPOSE = "*"

# Every scope an API key can carry; the issue that adds an endpoint adds its scope here.
SCOPES: dict[str, str] = {
    "keys:admin": "create, list and revoke API keys (never wider than the caller's own)",
    "policy:read": "evaluate the purpose decision for a set of categories",
    "policy:admin": "publish policy versions",
    "subjects:read": "read people's data for an allowed purpose",
    "subjects:write": "register people, correct and close accounts",
    "events:write": "send usage events",
    "messages:send": "send service messages and campaigns",
    "messages:admin": "record bounces and complaints, queue failed deliveries again",
    "disclosures:write": "record disclosures to recipients",
    "disclosures:read": "read disclosure records and the notices owed to recipients",
    "ropa:read": "read the record of processing activities (GDPR Art. 30)",
    "audit:read": "read the audit log",
    "analytics:read": "read aggregated, k-anonymous reports",
    "requests:write": "open and act on data-subject requests, erasures included",
    "requests:open": "open data-subject requests on a person's behalf and act on them, "
    "except carrying out an erasure",
    "requests:execute": "carry out (or resume) a verified erasure",
    "holds:write": "place and lift legal holds",
}

# A scope that holds others: keys made before the request scope was split (decision 0040)
# keep ``requests:write``, which is both halves. A holder of the halves does not hold it.
IMPLIES: dict[str, frozenset[str]] = {
    "requests:write": frozenset({"requests:open", "requests:execute"}),
}


def holds(scopes: Iterable[str], scope: str) -> bool:
    """Whether a grant of ``scopes`` holds ``scope``: named, or implied by one it names."""
    return any(s == scope or scope in IMPLIES.get(s, ()) for s in scopes)


_TOKEN = re.compile(rf"^{TOKEN_PREFIX}_([a-z2-7]{{13}})_([A-Za-z0-9_-]{{43}})$")


@dataclass(frozen=True)
class NewToken:
    key_id: str
    secret: str
    token: str
    secret_hash: str


# What every key id looks like (KEY_ID_BYTES in lower-case base32, no padding): the revoke
# route matches only such ids, so a named path beside it (/v1/keys/me) is never one (F21).
KEY_ID_PATTERN = "[a-z2-7]{13}"


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=").lower()


def new_token() -> NewToken:
    """A random key id (public, for look-up) and a 256-bit secret (shown once, stored hashed)."""
    key_id = _b32(secrets.token_bytes(KEY_ID_BYTES))
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return NewToken(key_id, secret, f"{TOKEN_PREFIX}_{key_id}_{secret}", hash_secret(secret))


def hash_secret(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    match = _TOKEN.match(token)
    return (match.group(1), match.group(2)) if match else None


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def unknown_scopes(scopes: list[str]) -> list[str]:
    return [s for s in scopes if s not in SCOPES]


def purpose_allowed(key_purposes: list[str], purpose: str) -> bool:
    return ANY_PURPOSE in key_purposes or purpose in key_purposes


def widens(
    granter_scopes: list[str],
    granter_purposes: list[str],
    scopes: list[str],
    purposes: list[str],
) -> list[str]:
    """What a new key would hold that its creator does not: a key never widens itself."""
    extra = [s for s in scopes if not holds(granter_scopes, s)]
    if ANY_PURPOSE not in granter_purposes:
        extra += [f"purpose {p}" for p in purposes if p not in granter_purposes]
    return extra


@dataclass(frozen=True)
class Actor:
    """Who is acting: an API key, a staff member, the person themselves, or a system job.

    ``request_id`` ties the audit entries an action writes to the request that caused it.
    ``role`` is a staff member's role when they acted: the audit log names it beside them
    (:attr:`audit_name`), while records that keep who did something (``created_by``…) keep
    ``kind:id`` alone."""

    kind: str  # "api_key" | "admin" | "staff" | "subject" | "system"
    id: str
    request_id: str | None = None
    role: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def audit_name(self) -> str:
        """How an audit entry names the actor: ``staff:<member id>/<role>`` for a member
        (the role they held then, covered by the entry's hash), ``kind:id`` otherwise."""
        return f"{self}/{self.role}" if self.role else str(self)
