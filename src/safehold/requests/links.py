"""Download links for access requests: the request's id and the link's expiry with an HMAC,
so ``/exports/<token>`` needs no sign-in, cannot be made up or extended, and says nothing
about the person (a random request id only this database can connect to anyone).

The MAC key is derived with HKDF-SHA256 from the vault's index key under its own label, as
the unsubscribe tokens do (``comms/tokens.py``), so it is independent of every other use of
that key. Pure: no FastAPI, no SQLAlchemy.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from safehold import keys
from safehold.policy.durations import add_duration
from safehold.requests.errors import ExportLinkExpired, ExportLinkInvalid

HKDF_INFO = b"safehold/requests/export-link/v1"
# An erasure's certificate outlives the person (they cannot sign in after it), so the person
# keeps a signed link to it: on the page that confirms the request, in the e-mail that
# confirms it, and on /me/requests. It works as long as the request log can hold the
# certificate: the longest deadline (one month plus the two-month extension) plus the log's
# 24 months (rules.REQUEST_LOG_RETENTION). Its own HKDF label (the privacy center's, where
# it began), so an export link can never open a certificate, nor the reverse.
CERTIFICATE_LINK_TTL = "P27M"
CERTIFICATE_HKDF_INFO = b"safehold/center/certificate-link/v1"
MAC_BYTES = 16  # 128-bit tag
_CONTEXT = b"safehold/export-link/v1\x00"
_BODY_BYTES = 16 + 8  # request id, expiry (seconds since the epoch, big-endian)
PREFIX = "/exports/"


def derive_key(index_key: bytes) -> bytes:
    """The link MAC key: HKDF-SHA256(index key, info=HKDF_INFO), 32 bytes."""
    return keys.derive(index_key, HKDF_INFO)


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, _CONTEXT + body, hashlib.sha256).digest()[:MAC_BYTES]


@dataclass(frozen=True)
class Link:
    request_id: uuid.UUID
    expires_at: datetime


def make_token(key: bytes, request_id: uuid.UUID, expires_at: datetime) -> str:
    """``<body>.<mac>`` in URL-safe base64, safe in a path. The expiry is whole seconds."""
    body = request_id.bytes + struct.pack(">q", int(expires_at.timestamp()))
    return f"{keys.b64(body)}.{keys.b64(_mac(key, body))}"


def read_token(key: bytes, token: str, now: datetime) -> Link:
    """The link a genuine token names; :class:`ExportLinkInvalid` for anything else (forged,
    altered, truncated: constant-time MAC check) and :class:`ExportLinkExpired` once past."""
    body_part, dot, mac_part = token.partition(".")
    body, mac = keys.unb64(body_part), keys.unb64(mac_part)
    if (
        not dot
        or body is None
        or mac is None
        or len(body) != _BODY_BYTES
        or len(mac) != MAC_BYTES
        or keys.b64(body) != body_part
        or keys.b64(mac) != mac_part
        or not hmac.compare_digest(_mac(key, body), mac)
    ):
        raise ExportLinkInvalid("this download link is not valid", details={})
    (seconds,) = struct.unpack(">q", body[16:])
    expires_at = datetime.fromtimestamp(seconds, UTC)
    if now >= expires_at:
        raise ExportLinkExpired(
            "this download link has expired: ask for a new copy of your data", details={}
        )
    return Link(uuid.UUID(bytes=body[:16]), expires_at)


def certificate_key(index_key: bytes) -> bytes:
    """The MAC key of certificate links."""
    return keys.derive(index_key, CERTIFICATE_HKDF_INFO)


def certificate_path(index_key: bytes, request_id: uuid.UUID, received_at: datetime) -> str:
    """The privacy-center page of an erasure's certificate, opened by this link without a
    sign-in until :data:`CERTIFICATE_LINK_TTL` after the request was received."""
    expires_at = add_duration(received_at, CERTIFICATE_LINK_TTL).replace(microsecond=0)
    token = make_token(certificate_key(index_key), request_id, expires_at)
    return f"/me/requests/{request_id}/certificate?link={token}"
