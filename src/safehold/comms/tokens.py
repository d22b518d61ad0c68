"""Unsubscribe tokens: an outbox row's id with an HMAC, so the link in a marketing e-mail
can opt its recipient out without a sign-in, cannot be made up, and says nothing about them.

The token names the *e-mail* (one outbox row), not the person or the address: a random id
that only this database can connect to anyone. Its MAC key is derived with HKDF-SHA256 from
the vault's index key under its own label, so it is independent of every other use of that
key (a leaked token key reveals neither the index key nor any blind index).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from safehold import keys

HKDF_INFO = b"safehold/comms/unsubscribe-token/v1"
MAC_BYTES = 16  # 128-bit tag: forging one is a 2^-128 guess per try
_MAC_CONTEXT = b"safehold/unsubscribe/v1\x00"
_ID_CHARS = 22  # base64url of 16 bytes, unpadded
_MAC_CHARS = 22


def derive_key(index_key: bytes) -> bytes:
    """The token MAC key: HKDF-SHA256(index key, info=HKDF_INFO), 32 bytes."""
    return keys.derive(index_key, HKDF_INFO)


def _mac(key: bytes, item_id: uuid.UUID) -> bytes:
    return hmac.new(key, _MAC_CONTEXT + item_id.bytes, hashlib.sha256).digest()[:MAC_BYTES]


def make_token(key: bytes, item_id: uuid.UUID) -> str:
    """``<id>.<mac>`` in URL-safe base64: 45 characters, safe in a path and a mail header."""
    return f"{keys.b64(item_id.bytes)}.{keys.b64(_mac(key, item_id))}"


def read_token(key: bytes, token: str) -> uuid.UUID | None:
    """The outbox row a genuine token names, or None for anything else (constant-time MAC
    comparison; malformed, truncated and altered tokens are all just None)."""
    id_part, dot, mac_part = token.partition(".")
    if not dot or len(id_part) != _ID_CHARS or len(mac_part) != _MAC_CHARS:
        return None
    raw_id, mac = keys.unb64(id_part), keys.unb64(mac_part)
    if raw_id is None or mac is None or len(raw_id) != 16 or len(mac) != MAC_BYTES:
        return None
    item_id = uuid.UUID(bytes=raw_id)
    if keys.b64(raw_id) != id_part or keys.b64(mac) != mac_part:
        return None  # non-canonical encodings: one token per row, never look-alikes
    return item_id if hmac.compare_digest(_mac(key, item_id), mac) else None
