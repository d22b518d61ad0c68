"""Key-encryption-key (KEK) providers: where the keys that wrap every data key live.

The KEK never touches personal data directly; it wraps per-person data keys (envelope
encryption), so rotating it re-wraps small keys instead of re-encrypting the data. Three
implementations share one Protocol: a key file created on first run, an environment
variable, and an in-memory ring for tests. A KMS-backed provider implements the same ten
methods (docs/vault.md, "A real KMS"). Epoch KEKs (one per retention class and month, see
:mod:`safehold.vault.epochs`) live beside the versions; the environment variable cannot hold
them, because Safehold cannot remove one from it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from safehold.vault import rules
from safehold.vault.errors import (
    DecryptionFailed,
    EpochsUnsupported,
    KeyProviderError,
    RotationUnsupported,
    UnknownKeyVersion,
)
from safehold.vault.keyring import (
    ENV_FORMAT,
    ENV_NAME,
    KeyRing,
    check_ring,
    decode_key,
    encode_key,
    file_epochs,
    parse_env_value,
)

KEY_FILE = Path("keys") / "kek.json"  # under the data dir
KEY_FILE_FORMAT = "safehold-kek/1"
EPOCHS_UNSUPPORTED = (
    "the KEK comes from {name}, which Safehold cannot change, so it cannot destroy one "
    "month's key: data counted from collection stays under each person's key, and an expired "
    "month stays readable in backups (with the KEK) until those backups are deleted; use the "
    "key file or a KMS provider for per-month keys (docs/vault.md, 'Key epochs')"
)


class KeyProvider(Protocol):
    """Holds the KEKs; only ever sees data keys (32 bytes) and their associated data.

    ``wrap``/``unwrap`` are AES-256-GCM under the named version with ``aad`` bound;
    ``add_version`` creates a version and makes it current (rotation) or raises
    :class:`RotationUnsupported`; ``index_key`` is the separate HMAC key of blind indexes.
    Epochs: ``open_epoch`` creates the named epoch KEK unless held (``wrap``/``unwrap`` then
    take its name as the version), ``destroy_epoch`` destroys it for good (True if it was
    held), ``epochs`` lists those held; ``destroys_epochs`` is False for a provider that
    cannot (its ``open_epoch`` raises :class:`EpochsUnsupported`).
    """

    def current_version(self) -> str: ...

    def wrap(self, version: str, dek: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, version: str, wrapped: bytes, aad: bytes) -> bytes: ...

    def versions(self) -> list[str]: ...

    def add_version(self) -> str: ...

    def index_key(self) -> bytes: ...

    def destroys_epochs(self) -> bool: ...

    def epochs(self) -> list[str]: ...

    def open_epoch(self, name: str) -> None: ...

    def destroy_epoch(self, name: str) -> bool: ...


class MemoryKeyProvider:
    """KEKs held in this process only: the fake used by tests, and the shared wrap logic."""

    def __init__(self, ring: KeyRing | None = None, *, source: str = "the key ring") -> None:
        self._source = source
        self._ring = ring if ring is not None else KeyRing.generate()
        check_ring(self._ring, source)

    def current_version(self) -> str:
        return self._ring.current

    def versions(self) -> list[str]:
        return list(self._ring.keks)

    def index_key(self) -> bytes:
        return self._ring.index

    def add_version(self) -> str:
        self._ring = self._ring.with_new_version()
        return self._ring.current

    def destroys_epochs(self) -> bool:
        return True

    def epochs(self) -> list[str]:
        return sorted(self._ring.epochs)

    def open_epoch(self, name: str) -> None:
        self._ring = self._ring.with_epoch(name)
        check_ring(self._ring, self._source)

    def destroy_epoch(self, name: str) -> bool:
        held = name in self._ring.epochs
        self._ring = self._ring.without_epoch(name)
        return held

    def wrap(self, version: str, dek: bytes, aad: bytes) -> bytes:
        return rules.seal(self._kek(version), dek, aad)

    def unwrap(self, version: str, wrapped: bytes, aad: bytes) -> bytes:
        if version not in self._ring.keks and version not in self._ring.epochs:
            self._refresh()  # another process may have added the version since start-up
        dek = rules.open_sealed(self._kek(version), wrapped, aad)
        if len(dek) != rules.KEY_BYTES:
            raise DecryptionFailed("an unwrapped data key has the wrong length")
        return dek

    def _kek(self, version: str) -> bytes:
        try:
            return self._ring.keks.get(version) or self._ring.epochs[version]
        except KeyError:
            raise UnknownKeyVersion(
                f"{self._source} holds no KEK version {version!r} "
                f"(it holds {', '.join(self._ring.keks)})"
            ) from None

    def _refresh(self) -> None:
        """Re-read the keys from their source; nothing to re-read in memory."""


class EnvKeyProvider(MemoryKeyProvider):
    """KEKs from one environment variable, for deployments that inject secrets (systemd
    credentials, Kubernetes secrets, a vault agent) and keep nothing on the data disk.

    Format: ``v1:<base64>,v2:<base64>;index:<base64>``, every key 32 random bytes; the last
    listed version is current. Safehold cannot change the variable, so rotation is the
    operator's: append a version, restart, run the rotation job (docs/vault.md).
    """

    def __init__(self, value: str, *, name: str = ENV_NAME) -> None:
        self._name = name
        super().__init__(parse_env_value(value, name=name), source=name)

    def add_version(self) -> str:
        raise RotationUnsupported(
            f"the KEK comes from {self._name}, which Safehold cannot change: append a new "
            f"version before ';index:' (format {ENV_FORMAT}), restart, then run the rotation"
        )

    def destroys_epochs(self) -> bool:
        return False

    def open_epoch(self, name: str) -> None:  # noqa: ARG002 — the Protocol's signature
        raise EpochsUnsupported(EPOCHS_UNSUPPORTED.format(name=self._name))

    def destroy_epoch(self, name: str) -> bool:  # noqa: ARG002 — the Protocol's signature
        raise EpochsUnsupported(EPOCHS_UNSUPPORTED.format(name=self._name))


class FileKeyProvider(MemoryKeyProvider):
    """KEKs in a JSON file under the data dir, created with mode 0600 on first use.

    The file is the embedded default: it works with no setup, and it must live outside the
    database's backups (docs/vault.md). A file that group or others could read is refused, as
    ssh refuses a private key: a leaked KEK unwraps every data key in every backup.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(self._load_or_create(), source=f"key file {path}")

    def add_version(self) -> str:
        with self._locked():
            ring = self._read().with_new_version()
            self._write(ring)
        self._ring = ring
        return ring.current

    def open_epoch(self, name: str) -> None:
        """Create the epoch unless the file holds it; always asks the file (under the lock),
        so an epoch another process destroyed is created afresh, never wrapped under a key
        this process still remembers."""
        with self._locked():
            ring = self._read()
            if name not in ring.epochs:
                ring = ring.with_epoch(name)
                check_ring(ring, f"key file {self.path}")
                self._write(ring)
        self._ring = ring

    def destroy_epoch(self, name: str) -> bool:
        """Rewrite the file without the epoch (atomically, fsynced): from then on no copy of
        a data key wrapped under it, in the database or any backup, can be unwrapped."""
        with self._locked():
            ring = self._read()
            held = name in ring.epochs
            if held:
                ring = ring.without_epoch(name)
                self._write(ring)
        self._ring = ring
        return held

    def _refresh(self) -> None:
        self._ring = self._read()

    def _load_or_create(self) -> KeyRing:
        if self.path.exists():
            return self._read()
        directory = self.path.parent
        with contextlib.suppress(FileExistsError):  # another process may be creating it too
            directory.mkdir(mode=0o700, parents=True)
            directory.chmod(0o700)  # mkdir's mode is filtered by the umask
        with self._locked():
            if self.path.exists():  # another process created it while we waited
                return self._read()
            ring = KeyRing.generate()
            self._write(ring)
            return ring

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on the key directory, so two processes starting (or rotating)
        at once cannot each write a different key file and lose the other's keys."""
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self) -> KeyRing:
        source = f"key file {self.path}"
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            raise KeyProviderError(f"{source} has disappeared") from None
        if mode & 0o077:
            raise KeyProviderError(
                f"{source} is accessible to group or others (mode {mode:04o}); "
                f"run: chmod 600 {self.path}"
            )
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise KeyProviderError(
                f"{source} cannot be read as JSON: {type(exc).__name__}"
            ) from None
        if not isinstance(data, dict) or data.get("format") != KEY_FILE_FORMAT:
            raise KeyProviderError(f"{source} is not a {KEY_FILE_FORMAT} key file")
        versions, index = data.get("versions"), data.get("index")
        if not isinstance(versions, list) or not isinstance(index, str):
            raise KeyProviderError(f"{source} needs a 'versions' list and an 'index' key")
        keks: dict[str, bytes] = {}
        for entry in versions:
            if not isinstance(entry, dict) or not all(
                isinstance(entry.get(k), str) for k in ("id", "key")
            ):
                raise KeyProviderError(f"{source}: each version needs an 'id' and a 'key'")
            if entry["id"] in keks:
                raise KeyProviderError(f"{source}: version {entry['id']!r} is listed twice")
            keks[entry["id"]] = decode_key(entry["key"], f"version {entry['id']!r}", source)
        ring = KeyRing(keks, decode_key(index, "the index key", source), file_epochs(data, source))
        check_ring(ring, source)
        return ring

    def _write(self, ring: KeyRing) -> None:
        """Write atomically: a private temporary file, fsync, rename over, fsync the dir.
        A crash leaves the old file or the new one, never half a key."""
        document = {
            "format": KEY_FILE_FORMAT,
            "versions": [{"id": v, "key": encode_key(k)} for v, k in ring.keks.items()],
            "index": encode_key(ring.index),
            "epochs": [{"id": e, "key": encode_key(k)} for e, k in sorted(ring.epochs.items())],
        }
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(self.path)  # atomic rename (os.replace)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def provider_from_settings(data_dir: Path, env_value: str | None) -> KeyProvider:
    """The configured provider: the env var when set (it wins), else the key file."""
    if env_value is not None and env_value.strip():
        return EnvKeyProvider(env_value)
    return FileKeyProvider(data_dir / KEY_FILE)
