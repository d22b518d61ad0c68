"""The key ring: KEK versions and the blind-index key, and the text forms they travel in.

Pure: parsing, checking and formatting only, so the refusals (a short key, a repeated key, a
malformed variable) are tested without touching files or the environment. Messages name the
problem and the version, never the key material.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from safehold.vault import rules
from safehold.vault.errors import KeyProviderError

ENV_NAME = "SAFEHOLD_KEK"
ENV_FORMAT = "v1:<base64 of 32 bytes>[,v2:<base64>…];index:<base64 of 32 bytes>"
VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")  # fits data_keys.kek_version
# An epoch KEK: "<retention class>@<YYYY-MM>" (safehold.vault.epochs); the "@" keeps the two
# namespaces apart, so an epoch can never become the current version.
EPOCH_MARK = "@"
EPOCH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}@[0-9]{4}-[0-9]{2}$")


@dataclass(frozen=True)
class KeyRing:
    """KEK versions, oldest first (the last is current), the separate blind-index key, and
    the epoch KEKs (one per retention class and month, destroyed when the month's retention
    ends; never current)."""

    keks: Mapping[str, bytes]
    index: bytes
    epochs: Mapping[str, bytes] = field(default_factory=dict)

    @classmethod
    def generate(cls) -> KeyRing:
        return cls({"v1": rules.new_key()}, rules.new_key())

    @property
    def current(self) -> str:
        return list(self.keks)[-1]

    def with_new_version(self) -> KeyRing:
        taken = set(self.keks)
        n = len(taken) + 1
        while f"v{n}" in taken:
            n += 1
        return KeyRing({**self.keks, f"v{n}": rules.new_key()}, self.index, self.epochs)

    def with_epoch(self, name: str) -> KeyRing:
        if name in self.epochs:
            return self
        return KeyRing(self.keks, self.index, {**self.epochs, name: rules.new_key()})

    def without_epoch(self, name: str) -> KeyRing:
        return KeyRing(self.keks, self.index, {e: k for e, k in self.epochs.items() if e != name})


def check_ring(ring: KeyRing, source: str) -> None:
    """Refuse a ring that would silently weaken or break the vault, naming the problem only."""
    if not ring.keks:
        raise KeyProviderError(f"{source} holds no KEK version")
    seen: dict[bytes, str] = {}
    for name, key in ring.keks.items():
        if not VERSION_NAME.match(name):
            raise KeyProviderError(
                f"{source}: KEK version name {name!r} must be 1-32 letters, digits, '.', '_' "
                "or '-', starting with a letter or digit"
            )
        if len(key) != rules.KEY_BYTES:
            raise KeyProviderError(
                f"{source}: KEK version {name!r} must be {rules.KEY_BYTES} bytes, got {len(key)}"
            )
        if key in seen:
            raise KeyProviderError(
                f"{source}: KEK version {name!r} repeats the key of {seen[key]!r}; "
                "each version needs its own random key"
            )
        seen[key] = name
    for name, key in ring.epochs.items():
        if not EPOCH_NAME.match(name):
            raise KeyProviderError(f"{source}: {name!r} is not an epoch name (class@YYYY-MM)")
        if len(key) != rules.KEY_BYTES or key in seen:
            raise KeyProviderError(
                f"{source}: epoch {name!r} needs its own random {rules.KEY_BYTES}-byte key"
            )
        seen[key] = name
    if len(ring.index) != rules.KEY_BYTES:
        raise KeyProviderError(f"{source}: the index key must be {rules.KEY_BYTES} bytes")
    if ring.index in seen:
        raise KeyProviderError(f"{source}: the index key must differ from every KEK")


def decode_key(text: str, what: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyProviderError(f"{source}: {what} is not valid base64") from None
    if len(key) != rules.KEY_BYTES:
        raise KeyProviderError(
            f"{source}: {what} must decode to {rules.KEY_BYTES} bytes, got {len(key)}"
        )
    return key


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def parse_env_value(value: str, *, name: str = ENV_NAME) -> KeyRing:
    versions_part, sep, index_part = value.strip().partition(";")
    if not sep:
        raise KeyProviderError(f"{name} has no ';index:' part; expected {ENV_FORMAT}")
    label, colon, index_text = index_part.strip().partition(":")
    if label.strip() != "index" or not colon:
        raise KeyProviderError(f"{name}: the part after ';' must be 'index:<base64>'")
    keks: dict[str, bytes] = {}
    for position, entry in enumerate(versions_part.split(","), start=1):
        version, colon, key_text = entry.strip().partition(":")
        version = version.strip()
        if not colon or not version:
            raise KeyProviderError(
                f"{name}: entry {position} must be '<version>:<base64>'; expected {ENV_FORMAT}"
            )
        if version in keks:
            raise KeyProviderError(f"{name}: KEK version {version!r} is listed twice")
        keks[version] = decode_key(key_text, f"KEK version {version!r}", name)
    ring = KeyRing(keks, decode_key(index_text, "the index key", name))
    check_ring(ring, name)
    return ring


def format_env_value(ring: KeyRing) -> str:
    versions = ",".join(f"{v}:{encode_key(k)}" for v, k in ring.keks.items())
    return f"{versions};index:{encode_key(ring.index)}"


def next_env_value(current: str | None, *, name: str = ENV_NAME) -> str:
    """A value for the variable with one more (current) version, or a fresh one: what a CLI
    prints for the operator to install, since the process cannot set it."""
    ring = KeyRing.generate() if current is None else parse_env_value(current, name=name)
    return format_env_value(ring if current is None else ring.with_new_version())


def file_epochs(data: dict[str, Any], source: str) -> dict[str, bytes]:
    """The file's epoch KEKs (a file written before epochs has none)."""
    entries = data.get("epochs", [])
    if not isinstance(entries, list):
        raise KeyProviderError(f"{source}: 'epochs' must be a list")
    epochs: dict[str, bytes] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) for k in ("id", "key")
        ):
            raise KeyProviderError(f"{source}: each epoch needs an 'id' and a 'key'")
        epochs[entry["id"]] = decode_key(entry["key"], f"epoch {entry['id']!r}", source)
    return epochs
