"""The vault's domain errors. Messages never quote key material, ciphertext or plaintext."""

from __future__ import annotations

from safehold.errors import Gone, ServerFault


class DataKeyDestroyed(Gone):
    """The person's data key for this retention class no longer exists.

    After crypto-shredding every ciphertext under that key is unreadable by design, so a read
    answers "erased", distinctly from "never existed" elsewhere and from a corrupted value.
    """

    code = "data_erased"


class DecryptionFailed(ServerFault):
    """A ciphertext failed authentication: tampered, truncated, or moved to another person,
    category or field. Never answered with garbage; this is an integrity fault (HTTP 500)."""

    code = "decryption_failed"


class KeyProviderError(ServerFault):
    """The key-encryption keys cannot be used as configured; ``str()`` is one operator line."""

    code = "key_provider_error"


class UnknownKeyVersion(KeyProviderError):
    code = "unknown_key_version"


class RotationUnsupported(KeyProviderError):
    """The provider cannot mint a KEK version itself (the env var is set by the operator)."""

    code = "rotation_unsupported"


class EpochsUnsupported(KeyProviderError):
    """The provider cannot destroy a single KEK (the env var is set by the operator), so it
    holds no epoch keys (docs/vault.md, "Key epochs")."""

    code = "epochs_unsupported"
