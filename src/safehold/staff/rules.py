"""Pure rules of staff accounts: the one table of roles and what each may do, and the
TOTP second factor (RFC 6238 through ``pyotp``), with its drift window and replay refusal.

No FastAPI, no SQLAlchemy. A role grants API scopes (what the console's pages check, the
same names as an API key's) and purposes (what personal data may be used for). The table
is the only place a role's powers are written down: the console's guard reads it on every
request through :func:`grant`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import pyotp

from safehold.access.rules import ANY_PURPOSE, SCOPES


class Role(StrEnum):
    OWNER = "owner"
    PRIVACY_OFFICER = "privacy_officer"
    SUPPORT_AGENT = "support_agent"
    ANALYST = "analyst"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class Grant:
    label: str  # how pages and the CLI name the role
    scopes: frozenset[str]
    purposes: tuple[str, ...]  # ANY_PURPOSE ("*"): every purpose the policy declares


ROLES: dict[Role, Grant] = {
    # Everything, including staff and keys.
    Role.OWNER: Grant("owner", frozenset(SCOPES), (ANY_PURPOSE,)),
    # Requests, holds, policy publication, audit, RoPA; finding the person a request or a
    # hold is about (service provision, legal obligation).
    Role.PRIVACY_OFFICER: Grant(
        "privacy officer",
        frozenset(
            {
                "requests:open",
                "requests:execute",
                "holds:write",
                "policy:admin",
                "audit:read",
                "ropa:read",
                "subjects:read",
                "disclosures:read",
            }
        ),
        ("service_provision", "legal_obligation"),
    ),
    # Look-ups for service provision only; requests opened on a person's behalf and acted
    # on, but never an erasure carried out: requests:open without requests:execute (0040).
    Role.SUPPORT_AGENT: Grant(
        "support agent", frozenset({"subjects:read", "requests:open"}), ("service_provision",)
    ),
    # Aggregate, k-anonymous reports only: no scope reads a person.
    Role.ANALYST: Grant("analyst", frozenset({"analytics:read"}), ("platform_improvement",)),
    # Read-only: the audit log (and the promises page beside it) and the RoPA.
    Role.AUDITOR: Grant("auditor", frozenset({"audit:read", "ropa:read"}), ()),
}


class UnknownRole(ValueError):
    def __init__(self, role: str) -> None:
        super().__init__(f"no role {role!r}; the roles are {', '.join(ROLES)}")


def role_of(text: str) -> Role:
    """The role named ``text`` (its id, e.g. ``support_agent``), or :class:`UnknownRole`."""
    try:
        return Role(text)
    except ValueError:
        raise UnknownRole(text) from None


def grant(role: str) -> Grant:
    """What a role may do. A role the table does not know grants nothing (a row written by
    a newer version, read by an older one): never a default role."""
    try:
        return ROLES[Role(role)]
    except ValueError:
        return Grant(role, frozenset(), ())


INVITATION_TTL = timedelta(days=7)  # an invitation unused this long no longer signs in
SIGN_IN_CODE_TTL = timedelta(minutes=10)
SIGN_IN_CODE_TRIES = 5  # wrong e-mailed codes per attempt
TOTP_TRIES = 5  # wrong TOTP codes per attempt (the rate limits count across attempts)
TOTP_DIGITS = 6
TOTP_STEP = 30  # seconds (RFC 6238's default, what authenticator apps use)
TOTP_DRIFT = 1  # steps accepted either side of now: a clock 30 s off still signs in
ISSUER = "Safehold"


def new_totp_secret() -> str:
    """160 random bits in base32, as authenticator apps expect (RFC 4226's length)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (typed or scanned)."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP).provisioning_uri(
        name=account, issuer_name=issuer
    )


def typed_totp(text: str | None) -> str | None:
    digits = "".join((text or "").split())
    return digits if len(digits) == TOTP_DIGITS and digits.isdigit() else None


@dataclass(frozen=True)
class TotpCheck:
    step: int | None  # the time step the code matched (None: it matched none)
    replayed: bool  # it matched a step at or before the last one accepted


def check_totp(secret: str, code: str, now: datetime, last_step: int | None) -> TotpCheck:
    """Whether ``code`` is the TOTP of a step within :data:`TOTP_DRIFT` of ``now``. A code
    of a step already used (or older than one used) is refused as replayed: each code signs
    in once, and a code seen over someone's shoulder is dead once its owner used it."""
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP)
    current = totp.timecode(now)
    for step in range(current - TOTP_DRIFT, current + TOTP_DRIFT + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            if last_step is not None and step <= last_step:
                return TotpCheck(None, replayed=True)
            return TotpCheck(step, replayed=False)
    return TotpCheck(None, replayed=False)
