"""Pure rules of web sign-in: cookie names and lifetimes, session tokens, CSRF tokens.

No FastAPI, no SQLAlchemy. A session is a random 256-bit token in an HttpOnly,
SameSite=Strict cookie scoped to its part of the site; the database keeps only its SHA-256.
CSRF protection is the signed double-submit pattern: a random cookie, and in every form a
MAC of it under a key derived from the vault's index key, so a page on another origin can
neither read the cookie nor compute the field.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from safehold import keys


class Kind(StrEnum):
    PERSON = "person"  # a customer in the privacy center (/me)
    STAFF = "staff"  # privacy or support staff in the admin console (/admin)


@dataclass(frozen=True)
class Lifetime:
    idle: timedelta  # signed out after this long without a request
    absolute: timedelta  # signed out this long after signing in, however active


LIFETIMES = {
    Kind.PERSON: Lifetime(idle=timedelta(minutes=30), absolute=timedelta(hours=12)),
    Kind.STAFF: Lifetime(idle=timedelta(minutes=30), absolute=timedelta(hours=10)),
}
COOKIES = {Kind.PERSON: "safehold_me", Kind.STAFF: "safehold_admin"}
COOKIE_PATHS = {Kind.PERSON: "/me", Kind.STAFF: "/admin"}
CSRF_COOKIE = "safehold_csrf"
CSRF_FIELD = "csrf_token"
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often

SIGN_IN_CODE_TTL = timedelta(minutes=10)
SIGN_IN_CODE_WINDOW = timedelta(hours=1)
SIGN_IN_CODES_PER_HOUR = 5  # codes e-mailed to one person per rolling hour (the window)
SIGN_IN_BATCH = 50  # sign-in attempts the worker handles in one transaction

_CSRF_INFO = b"safehold/web/csrf/v1"


def new_token() -> str:
    """A session (or CSRF cookie) value: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def unmatchable_code() -> str:
    """What a sign-in attempt's hash is made of until the worker e-mails a real code (and
    for good when it e-mails none): 128 random bits in hex, which no typed code — 8 digits —
    can equal. So the attempt checks a code exactly like one with an e-mailed code."""
    return secrets.token_hex(16)


def session_id(token: str) -> str:
    """What the database keeps of a session cookie."""
    return hashlib.sha256(token.encode()).hexdigest()


def alive(kind: Kind, created_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
    life = LIFETIMES[kind]
    return now < created_at + life.absolute and now < last_seen_at + life.idle


def csrf_key(index_key: bytes) -> bytes:
    return keys.derive(index_key, _CSRF_INFO)


def csrf_token(key: bytes, cookie: str) -> str:
    """URL-safe base64, not hex: 64 hex characters hold long digit runs that now and then
    pass the Luhn check, and the card-data guard would refuse the form (about 0.3% of posts)."""
    return keys.b64(hmac.new(key, cookie.encode(), hashlib.sha256).digest())


def csrf_valid(key: bytes, cookie: str | None, submitted: str | None) -> bool:
    if not cookie or not submitted:
        return False
    # bytes, not str: compare_digest refuses non-ASCII text, and a form can send anything
    return hmac.compare_digest(csrf_token(key, cookie).encode(), submitted.encode())
