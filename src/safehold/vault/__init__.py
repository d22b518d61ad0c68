"""The vault: key providers, per-person data keys, field encryption, blind indexes,
crypto-shredding and key rotation (DESIGN principle 3; see docs/vault.md)."""
