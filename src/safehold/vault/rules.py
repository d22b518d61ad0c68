"""Pure cryptography for the vault: sealing with AES-256-GCM, associated data, blind indexes.

No database and no key storage here: callers hand in the key bytes. Every ciphertext binds
the context it belongs to as GCM associated data, so a value copied to another person, another
category or another field fails authentication instead of decrypting as someone else's data.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata
import uuid
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from safehold.errors import InvalidInput
from safehold.vault.errors import DecryptionFailed

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96-bit random nonce, the size GCM is specified for (NIST SP 800-38D)
TAG_BYTES = 16
FORMAT_V1 = 1  # first byte of every blob, so the layout can change without guessing
OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES

# Domain separators: a field ciphertext, a wrapped data key and an index never share a context.
_FIELD_CONTEXT = "safehold/field/v1"
_KEY_CONTEXT = "safehold/data-key/v1"
_INDEX_CONTEXT = "safehold/blind-index/v1"


def new_key() -> bytes:
    """A fresh 256-bit key from the operating system's CSPRNG."""
    return os.urandom(KEY_BYTES)


def canonical(*parts: str | bytes) -> bytes:
    """An unambiguous encoding of a tuple: each part length-prefixed (4 bytes, big-endian).

    Plain concatenation would let ("ab", "c") and ("a", "bc") collide; the prefix makes every
    distinct tuple a distinct byte string.
    """
    out: list[bytes] = []
    for part in parts:
        raw = part.encode("utf-8") if isinstance(part, str) else part
        out += (len(raw).to_bytes(4, "big"), raw)
    return b"".join(out)


def field_aad(subject_id: uuid.UUID, category: str, field: str) -> bytes:
    return canonical(_FIELD_CONTEXT, subject_id.bytes, category, field)


def key_aad(subject_id: uuid.UUID, retention_class: str) -> bytes:
    """What a wrapped data key is bound to: its owner and retention class."""
    return canonical(_KEY_CONTEXT, subject_id.bytes, retention_class)


def _check_key(key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError(f"an AES-256 key is {KEY_BYTES} bytes, got {len(key)}")


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """``version || nonce || ciphertext+tag`` under AES-256-GCM with a random nonce.

    Random 96-bit nonces are safe for up to 2^32 messages per key (SP 800-38D §8.3); a data
    key encrypts one person's fields, orders of magnitude fewer.
    """
    _check_key(key)
    nonce = os.urandom(NONCE_BYTES)
    return bytes([FORMAT_V1]) + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """The plaintext of :func:`seal`, or :class:`DecryptionFailed` — never unchecked bytes."""
    _check_key(key)
    return _open(AESGCM(key), blob, aad)


def _open(cipher: AESGCM, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < OVERHEAD or blob[0] != FORMAT_V1:
        raise DecryptionFailed("the ciphertext is truncated or in an unknown format")
    try:
        return cipher.decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], aad)
    except InvalidTag:
        raise DecryptionFailed(
            "the ciphertext failed authentication: it was altered or does not belong to "
            "this person, category and field"
        ) from None


def encrypt_field(
    dek: bytes, plaintext: bytes, *, subject_id: uuid.UUID, category: str, field: str
) -> bytes:
    return seal(dek, plaintext, field_aad(subject_id, category, field))


def decrypt_field(
    dek: bytes, blob: bytes, *, subject_id: uuid.UUID, category: str, field: str
) -> bytes:
    return field_opener(dek, subject_id)(category, field, blob)


def field_opener(dek: bytes, subject_id: uuid.UUID) -> Callable[[str, str, bytes], bytes]:
    """:func:`decrypt_field` for many of one person's fields under one data key, as
    ``open(category, field, blob)``: the cipher and the person's part of the associated data
    (``field_aad``) are built once."""
    _check_key(dek)
    cipher = AESGCM(dek)
    person = canonical(_FIELD_CONTEXT, subject_id.bytes)

    def open_field(category: str, field: str, blob: bytes) -> bytes:
        return _open(cipher, blob, person + canonical(category, field))

    return open_field


def blind_index(index_key: bytes, kind: str, normalised_value: str) -> str:
    """HMAC-SHA256 (hex) of a normalised value, with ``kind`` as a domain separator.

    Equality look-ups ("which subject has this e-mail?") without storing the value. The key
    is separate from every KEK, so an attacker with the database alone cannot confirm a guess;
    the kind keeps an e-mail and a phone number with the same text from sharing an index.
    """
    if not kind:
        raise ValueError("a blind index needs a kind")
    message = canonical(_INDEX_CONTEXT, kind, normalised_value)
    return hmac.new(index_key, message, hashlib.sha256).hexdigest()


def normalise_email(address: str) -> str:
    """The form an e-mail address is indexed under: trimmed, NFC, lower-cased throughout.

    RFC 5321 lets the local part be case-sensitive, but no mainstream mailbox provider treats
    it so and people type their address in whatever case comes to hand. Keeping the case would
    make the same person unfindable (and able to register twice); lower-casing merges only
    addresses that in practice reach the same mailbox. Provider-specific tricks (Gmail dots,
    ``+tags``) are deliberately not folded: they are real, distinct addresses elsewhere.
    """
    normalised = unicodedata.normalize("NFC", address.strip()).lower()
    local, at, domain = normalised.rpartition("@")
    if not at or not local or not domain:
        raise InvalidInput("an e-mail address needs a local part, '@' and a domain")
    return normalised
