"""The audit key's versions, and rotating it (decision 0030, "Rotating the audit key").

Version 0 is derived from the key provider's index key (``chain.derive_key``), as every log
written before rotation existed. ``safehold audit rotate-key`` adds version 1, 2, …: 32 random
bytes wrapped by the current key-encryption key and kept in ``audit_keys`` — in the database,
where it is useless without the KEK, so the audit key keeps living "with the keys" and is
re-wrapped, like every data key, when the KEK rotates.

Every process appends with the newest version it can unwrap and looks for a newer one at most
every :data:`REFRESH_SECONDS`, on the connection it appends on; so within that time of a
rotation every entry is keyed by the new version. Checkpoints switch to a version only
:data:`SWITCH_AFTER` after it was created — when no process can still be appending with an
older one — and from then on ``safehold audit verify`` refuses an entry keyed by an older
version past what that checkpoint sealed: whoever holds a retired key can no longer write
entries that verify.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection, Table, func, select, update
from sqlalchemy.orm import Session

from safehold.access.models import AuditKey
from safehold.logs import get_logger
from safehold.vault.errors import DecryptionFailed, KeyProviderError
from safehold.vault.providers import KeyProvider

LEGACY = 0
REFRESH_SECONDS = 30.0
# Longer than REFRESH_SECONDS plus the longest transaction an append can sit in (statement
# and idle timeouts, safehold.dbtimeouts), so every entry with an older key has committed.
SWITCH_AFTER = timedelta(minutes=2)
KEY_BYTES = 32
KEYS: Table = AuditKey.__table__  # type: ignore[assignment]

log = get_logger(__name__)


def _aad(version: int) -> bytes:
    return f"safehold-audit-key:{version}".encode()


class AuditKeys:
    """The audit key versions this process can use. ``provider`` None: version 0 only (a
    session built with a bare key, e.g. by tests of one key)."""

    def __init__(
        self,
        legacy: bytes,
        provider: KeyProvider | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys: dict[int, bytes] = {LEGACY: legacy}
        self._created: dict[int, datetime] = {}
        self._unreadable: set[int] = set()
        self._provider = provider
        self._monotonic = monotonic
        self._checked = float("-inf")
        self._lock = threading.Lock()

    @property
    def legacy(self) -> bytes:
        return self._keys[LEGACY]

    def for_append(self, conn: Connection) -> tuple[int, bytes]:
        """The newest version and its key, looking for a newer one if it is time to."""
        if self._provider is not None and self._monotonic() - self._checked >= REFRESH_SECONDS:
            self.load(conn)
        version = max(self._keys)
        return version, self._keys[version]

    def key(self, conn: Connection, version: int) -> bytes | None:
        """The key of ``version``, or None if this deployment cannot read it (no such row,
        or its KEK version is gone, or the row was tampered with)."""
        found = self._keys.get(version)
        if found is None and version not in self._unreadable:
            self.load(conn)
            found = self._keys.get(version)
            if found is None:
                self._unreadable.add(version)
        return found

    def readable(self, conn: Connection) -> dict[int, bytes]:
        """Every version this process can read, loaded now (what verify walks with)."""
        self.load(conn)
        return dict(self._keys)

    def created(self, conn: Connection) -> dict[int, datetime]:
        """When each readable rotated version was created (version 0 is not listed)."""
        self.load(conn)
        return dict(self._created)

    def load(self, conn: Connection) -> None:
        """Unwrap every version not known yet."""
        if self._provider is None:
            return
        with self._lock:
            rows = conn.execute(
                select(KEYS.c.version, KEYS.c.kek_version, KEYS.c.wrapped, KEYS.c.created_at)
                .where(KEYS.c.version.not_in(list(self._keys)))
                .order_by(KEYS.c.version)
            ).all()
            for version, kek_version, wrapped, created_at in rows:
                try:
                    self._keys[version] = self._provider.unwrap(kek_version, wrapped, _aad(version))
                except (DecryptionFailed, KeyProviderError) as exc:  # verify names it
                    log.error("audit_key_unreadable", version=version, error=type(exc).__name__)
                    continue
                self._created[version] = created_at
                self._unreadable.discard(version)
            self._checked = self._monotonic()

    def for_checkpoint(self, conn: Connection, now: datetime, previous: int) -> tuple[int, bytes]:
        """The version a checkpoint taken ``now`` is sealed with: the newest created at
        least :data:`SWITCH_AFTER` ago, never older than the previous checkpoint's."""
        ready = [v for v, at in self.created(conn).items() if at <= now - SWITCH_AFTER]
        version = max([previous, *ready])
        key = self.key(conn, version)
        if key is None:
            raise RuntimeError(f"audit key version {version} cannot be read")
        return version, key


def rotate(session: Session, provider: KeyProvider, *, now: datetime) -> int:
    """Add the next audit key version, wrapped by the current KEK; return its number."""
    version = (session.scalar(select(func.max(KEYS.c.version))) or LEGACY) + 1
    kek_version = provider.current_version()
    wrapped = provider.wrap(kek_version, secrets.token_bytes(KEY_BYTES), _aad(version))
    session.add(AuditKey(version=version, kek_version=kek_version, wrapped=wrapped, created_at=now))
    session.flush()
    return version


def rewrap(session: Session, provider: KeyProvider) -> int:
    """Re-wrap every audit key not under the current KEK version (with the KEK's rotation,
    so an old KEK version can be destroyed without losing an audit key)."""
    target = provider.current_version()
    rows = session.execute(
        select(KEYS.c.version, KEYS.c.kek_version, KEYS.c.wrapped).where(
            KEYS.c.kek_version != target
        )
    ).all()
    for version, kek_version, wrapped in rows:
        key = provider.unwrap(kek_version, wrapped, _aad(version))
        session.execute(
            update(KEYS)
            .where(KEYS.c.version == version)
            .values(kek_version=target, wrapped=provider.wrap(target, key, _aad(version)))
        )
    return len(rows)


def on_old_kek(session: Session, provider: KeyProvider) -> int:
    """How many audit keys are still wrapped by an older KEK version."""
    target = provider.current_version()
    query = select(func.count()).select_from(KEYS).where(KEYS.c.kek_version != target)
    return session.scalar(query) or 0
