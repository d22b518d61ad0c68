"""Signed notices to recipients, following the Standard Webhooks specification
(https://www.standardwebhooks.com): any receiver can verify them with a few lines of code or
an off-the-shelf library.

Each request carries three headers:

- ``webhook-id`` — the notice's id, the same on every retry: the receiver's idempotency
  key and, remembered for the tolerance window, its replay guard;
- ``webhook-timestamp`` — Unix seconds when this attempt was signed; a receiver refuses
  anything older (or newer) than :data:`TOLERANCE`, so a captured request cannot be
  replayed later;
- ``webhook-signature`` — ``v1,<base64 HMAC-SHA256>`` over ``"{id}.{timestamp}.{body}"``
  with the recipient's secret (``whsec_`` + base64 of 24-64 random bytes).

The body names the person by Safehold's opaque id and lists categories — never values.
Pure code: no clock (``now`` is passed in), no network.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

SECRET_PREFIX = "whsec_"  # noqa: S105 — the format's public prefix, not a secret
SECRET_BYTES = 32
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64
TOLERANCE = 300  # seconds either side of the receiver's clock
SIGNATURE_VERSION = "v1"


class WebhookSecretError(ValueError):
    """A configured secret is not ``whsec_`` + base64 of 24-64 bytes (never quoted)."""


class VerificationFailed(ValueError):
    """A received notice is not authentic or not fresh."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_…`` secret stands for."""
    if not secret.startswith(SECRET_PREFIX):
        raise WebhookSecretError(f"a webhook secret starts with '{SECRET_PREFIX}'")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookSecretError(f"a webhook secret is '{SECRET_PREFIX}' + base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise WebhookSecretError(
            f"a webhook secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} random bytes"
        )
    return key


def sign(secret: str, notice_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{notice_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def headers(secret: str, notice_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": notice_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, notice_id, timestamp, body),
        "content-type": "application/json",
    }


def verify(
    secret: str, received: Mapping[str, str], body: bytes, *, now: int, tolerance: int = TOLERANCE
) -> str:
    """Check a received notice; return its id (remember it for ``tolerance`` seconds and
    refuse a second delivery of the same id). Raises :class:`VerificationFailed`.

    ``received`` must look headers up case-insensitively (as HTTP frameworks' do)."""
    notice_id = received.get("webhook-id")
    stamp = received.get("webhook-timestamp")
    signatures = received.get("webhook-signature")
    if not notice_id or not stamp or not signatures:
        raise VerificationFailed("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise VerificationFailed("webhook-timestamp is not Unix seconds") from None
    if abs(now - timestamp) > tolerance:
        raise VerificationFailed("webhook-timestamp is outside the tolerance: stale or replayed")
    expected = sign(secret, notice_id, timestamp, body).encode()
    # Several space-separated signatures are allowed (secret rotation): any one may match.
    if not any(hmac.compare_digest(expected, s.encode()) for s in signatures.split()):
        raise VerificationFailed("no signature matches")
    return notice_id


@dataclass(frozen=True)
class NoticeBody:
    notice_id: str
    webhook_type: str
    action: str
    subject_id: str
    recipient_id: str
    categories: tuple[str, ...]
    created_at: datetime
    respond_by: datetime
    controller_name: str
    controller_email: str

    def encode(self) -> bytes:
        """The JSON body: ``{"type", "timestamp", "data"}`` as Standard Webhooks suggests."""
        document = {
            "type": self.webhook_type,
            "timestamp": _iso(self.created_at),
            "data": {
                "notice_id": self.notice_id,
                "subject_id": self.subject_id,
                "recipient": self.recipient_id,
                "action": self.action,
                "categories": list(self.categories),
                "respond_by": _iso(self.respond_by),
                "controller": {"name": self.controller_name, "email": self.controller_email},
            },
        }
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
