"""Keys derived from the vault's index key, and the URL-safe base64 the signed tokens use.

Every MAC key Safehold derives — unsubscribe tokens, export and certificate links, CSRF
tokens — is HKDF-SHA256 of the index key under a label of its own, so each is independent
of the others and of the blind indexes (a leaked derived key reveals neither). Pure.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive(index_key: bytes, label: bytes) -> bytes:
    """HKDF-SHA256(index key, info=label), 32 bytes."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(index_key)


def b64(raw: bytes) -> str:
    """URL-safe base64 without padding: safe in a path, a query and a mail header."""
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes | None:
    """The bytes of :func:`b64` text, or None for anything that is not such text."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
