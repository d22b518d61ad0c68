"""Pure rules of staff passkeys (decision 0041): the relying party the browser checks, the
life of a ceremony's challenge, the name a member gives a passkey, and what
``SAFEHOLD_STAFF_2FA`` lets sign in. No FastAPI, no SQLAlchemy."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from urllib.parse import urlsplit

CEREMONY_TTL = timedelta(minutes=5)  # a challenge answers once, within this
TIMEOUT_MS = 120_000  # what the browser is told to wait for the authenticator
NAME_MAX = 60
MAX_PASSKEYS = 10  # per member: enough for every device, bounded


class StaffTwoFactor(StrEnum):
    """``SAFEHOLD_STAFF_2FA``: ``required`` — every sign-in takes two factors, a passkey
    (verified by its PIN or biometric) or the e-mailed code then a TOTP; ``passkey`` — a member
    who has a passkey signs in only with it, and a member who has none signs in with the code
    and TOTP once more, only to register one, which finishes that sign-in."""

    REQUIRED = "required"
    PASSKEY = "passkey"


def code_sign_in_allowed(mode: StaffTwoFactor, has_passkey: bool) -> bool:
    """Whether the e-mailed code + TOTP may start a session for a member."""
    return mode is StaffTwoFactor.REQUIRED or not has_passkey


def must_register(mode: StaffTwoFactor, has_passkey: bool) -> bool:
    """Whether a code + TOTP sign-in ends on the passkey registration instead of a session."""
    return mode is StaffTwoFactor.PASSKEY and not has_passkey


@dataclass(frozen=True)
class RelyingParty:
    id: str  # the host name the passkey is bound to
    origin: str  # scheme://host[:port], what the browser reports in its signed client data


def relying_party(base_url: str) -> RelyingParty:
    """The relying party of SAFEHOLD_BASE_URL: passkeys work on that host name only."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    return RelyingParty(host, f"{parts.scheme}://{parts.netloc}".lower())


def passkey_name(typed: str | None) -> str | None:
    """A passkey's name as shown in the list: printable, trimmed, 1 to 60 characters; None if
    that leaves nothing or it is too long."""
    text = " ".join((typed or "").split())
    if not text or len(text) > NAME_MAX:
        return None
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in text):
        return None
    return text


def unusable_reason(base_url: str) -> str | None:
    """Why browsers would refuse passkeys for SAFEHOLD_BASE_URL, or None: WebAuthn binds a
    passkey to a host name (never an IP address) on a secure origin (https, or localhost)."""
    rp = relying_party(base_url)
    host = rp.id
    if not host or host.replace(".", "").isdigit() or ":" in host:
        return "passkeys need a host name in SAFEHOLD_BASE_URL, not an IP address"
    local = host == "localhost" or host.endswith(".localhost")
    if not rp.origin.startswith("https://") and not local:
        return "passkeys need SAFEHOLD_BASE_URL to be https:// (or http://localhost)"
    return None
