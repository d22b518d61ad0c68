"""The vault's use cases: data keys per (person, retention class), field encryption and
decryption, blind indexes, and crypto-shredding. Services flush, never commit.

Every read goes through the ``data_keys`` row in the caller's transaction, so a key shredded
by another process (or another API worker) is gone here too; the in-memory cache only saves
the unwrap (a KMS round trip with a real KMS), and is checked against the row's wrapped bytes.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable

from sqlalchemy import delete, event, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from safehold.backup import ledger as erasure_ledger
from safehold.clock import Clock
from safehold.vault import epochs, jobs, rules
from safehold.vault.errors import DataKeyDestroyed, UnknownKeyVersion
from safehold.vault.models import DataKey
from safehold.vault.providers import KeyProvider

DEK_CACHE_SIZE = 10_000  # unwrapped data keys kept in memory: 32 bytes each, ~1 MB in all
EMAIL_INDEX = "email"
PHONE_INDEX = "phone"  # the caller normalises to E.164 before indexing

_CacheKey = tuple[uuid.UUID, str]
HELD = "safehold.vault.held_keys"


@event.listens_for(Session, "after_transaction_end")
def _forget_held_keys(session: Session, _transaction: SessionTransaction) -> None:
    """Held rows live for one transaction (or savepoint) only: the next one reads the table
    again, so a key shredded or re-wrapped meanwhile by another process is seen."""
    session.info.pop(HELD, None)


class DekCache:
    """A bounded LRU of unwrapped data keys, safe to share between request threads.

    An entry only answers for the exact wrapped bytes it came from, so a re-wrapped or
    re-created key is unwrapped afresh and a stale entry can never stand in for a missing row.
    """

    def __init__(self, capacity: int = DEK_CACHE_SIZE) -> None:
        if capacity < 0:
            raise ValueError("the cache capacity cannot be negative")
        self.capacity = capacity
        self._entries: OrderedDict[_CacheKey, tuple[bytes, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: _CacheKey, wrapped: bytes) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != wrapped:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: _CacheKey, wrapped: bytes, dek: bytes) -> None:
        if self.capacity == 0:
            return
        with self._lock:
            self._entries[key] = (wrapped, dek)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def evict(self, subject_id: uuid.UUID, retention_classes: Iterable[str] | None) -> None:
        """Forget a person's keys (all of them when ``retention_classes`` is None)."""
        with self._lock:
            if retention_classes is None:
                doomed = [k for k in self._entries if k[0] == subject_id]
            else:
                doomed = [(subject_id, c) for c in retention_classes]
            for key in doomed:
                self._entries.pop(key, None)


class Vault:
    """Field encryption under per-person data keys wrapped by the provider's KEK."""

    def __init__(
        self, provider: KeyProvider, clock: Clock, *, cache_size: int = DEK_CACHE_SIZE,
        ledger: erasure_ledger.Ledger | None = None,
    ) -> None:  # fmt: skip
        self.provider = provider
        self.clock = clock
        self.cache = DekCache(cache_size)
        self.ledger = ledger  # where shreds are written down outside the database (backups)
        self.epochs = epochs.Epochs(provider, clock)  # per-month keys (vault.epochs)

    def data_key(
        self, session: Session, subject_id: uuid.UUID, retention_class: str, *, create: bool
    ) -> bytes:
        """The person's data key for the class; created (when asked) if there is none.

        Without ``create``, a missing key raises :class:`DataKeyDestroyed`: data can only
        exist under a key that existed, so its absence means the data was erased.
        """
        row = self._held(session).get((subject_id, retention_class))
        if row is None:
            row = session.get(DataKey, (subject_id, retention_class))
        if row is None:
            if not create:
                raise DataKeyDestroyed(
                    "this data was erased: its encryption key has been destroyed",
                    details={"retention_class": retention_class},
                )
            return self._create(session, subject_id, retention_class)
        self._held(session)[(subject_id, retention_class)] = row
        return self.unwrapped(subject_id, retention_class, row.kek_version, row.wrapped_key)

    def unwrapped(
        self, subject_id: uuid.UUID, retention_class: str, kek_version: str, wrapped: bytes
    ) -> bytes:
        """The data key from its ``data_keys`` row as the caller read it in its own
        transaction (the read path joins it to the values it opens): from the cache when it
        holds these exact wrapped bytes, else unwrapped by the provider."""
        cached = self.cache.get((subject_id, retention_class), wrapped)
        if cached is not None:
            return cached
        aad = rules.key_aad(subject_id, retention_class)
        try:
            dek = self.provider.unwrap(kek_version, wrapped, aad)
        except UnknownKeyVersion:
            if not epochs.is_epoch(kek_version):
                raise
            # The month's retention ended and its epoch KEK was destroyed: erased, as a
            # shredded key is (a restored backup still holds the wrapped key, not its KEK).
            raise DataKeyDestroyed(
                "this data was erased: its retention period ended and its month's key "
                "has been destroyed",
                details={"retention_class": epochs.base_class(retention_class)},
            ) from None
        self.cache.put((subject_id, retention_class), wrapped, dek)
        return dek

    @staticmethod
    def _held(session: Session) -> dict[_CacheKey, DataKey]:
        """Rows this session has loaded, held strongly: the session's identity map only holds
        weak references, so without this every field's decrypt would query its key again."""
        held: dict[_CacheKey, DataKey] = session.info.setdefault(HELD, {})
        return held

    def preload(self, session: Session, subject_id: uuid.UUID) -> None:
        """Load all of a person's data keys in one query before decrypting many fields."""
        held = self._held(session)
        for row in session.scalars(select(DataKey).where(DataKey.subject_id == subject_id)):
            held[(subject_id, row.retention_class)] = row

    def _create(self, session: Session, subject_id: uuid.UUID, retention_class: str) -> bytes:
        dek = rules.new_key()
        # An epoch's data keys are wrapped by the epoch's own KEK (opened by Epochs.key_class).
        version = (
            retention_class if epochs.is_epoch(retention_class) else self.provider.current_version()
        )
        wrapped = self.provider.wrap(version, dek, rules.key_aad(subject_id, retention_class))
        row = DataKey(
            subject_id=subject_id,
            retention_class=retention_class,
            kek_version=version,
            wrapped_key=wrapped,
            created_at=self.clock.now(),
        )
        try:
            # A savepoint, so losing a race to a concurrent creator leaves the caller's
            # transaction usable: roll back just the insert, then use the winner's key.
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            return self.data_key(session, subject_id, retention_class, create=False)
        self._held(session)[(subject_id, retention_class)] = row
        self.cache.put((subject_id, retention_class), wrapped, dek)
        return dek

    def encrypt(
        self,
        session: Session,
        subject_id: uuid.UUID,
        retention_class: str,
        category: str,
        field: str,
        value: str,
    ) -> bytes:
        """Ciphertext of ``value`` bound to (person, category, field); creates the key."""
        dek = self.data_key(session, subject_id, retention_class, create=True)
        return rules.encrypt_field(
            dek, value.encode("utf-8"), subject_id=subject_id, category=category, field=field
        )

    def decrypt(
        self,
        session: Session,
        subject_id: uuid.UUID,
        retention_class: str,
        category: str,
        field: str,
        blob: bytes,
    ) -> str:
        """The plaintext, :class:`DataKeyDestroyed` once shredded, or :class:`DecryptionFailed`
        for a value that was altered or belongs to another person, category or field."""
        dek = self.data_key(session, subject_id, retention_class, create=False)
        plaintext = rules.decrypt_field(
            dek, blob, subject_id=subject_id, category=category, field=field
        )
        return plaintext.decode("utf-8")

    def shred(
        self,
        session: Session,
        subject_id: uuid.UUID,
        retention_classes: Iterable[str] | None = None,
        *,
        why: str = erasure_ledger.ERASURE,
        ref: str | None = None,
    ) -> list[str]:
        """Crypto-shred a person's data: destroy their data keys (all classes, or the given
        ones) and return the classes destroyed.

        One DELETE of at most a handful of rows, whatever the amount of data, because the data
        is not touched: without the key, every copy of its ciphertext is noise (NIST SP 800-88
        cryptographic erase). Physical deletion of the ciphertext rows follows separately.
        The destruction is final once the caller commits.

        With a ledger, the shred is also appended to it (``why``: an ``erasure``, always
        written down; a ``retention`` shred, when it destroyed a key) before the caller
        commits, so a restore from an older backup re-applies it (:mod:`safehold.backup`).
        """
        statement = delete(DataKey).where(DataKey.subject_id == subject_id)
        classes = None if retention_classes is None else sorted(set(retention_classes))
        if classes is not None:
            if not classes:
                return []
            # A class's month epochs (``class@YYYY-MM``) go with it.
            statement = statement.where(
                or_(
                    DataKey.retention_class.in_(classes),
                    *(
                        DataKey.retention_class.startswith(f"{c}{epochs.MARK}", autoescape=True)
                        for c in classes
                    ),
                )
            )
        gone = list(session.scalars(statement.returning(DataKey.retention_class)))
        destroyed = sorted({epochs.base_class(c) for c in gone})  # a class, its epochs in it
        if self.ledger is not None and (destroyed or why == erasure_ledger.ERASURE):
            entry = erasure_ledger.new_entry(
                at=self.clock.now(), kind=why, subject_id=subject_id, classes=classes, ref=ref
            )
            self.ledger.append(session, entry)
        held = self._held(session)
        for retention_class in gone:
            held.pop((subject_id, retention_class), None)
        self.cache.evict(subject_id, None if classes is None else gone)
        return destroyed

    def key_versions(self, session: Session) -> dict[str, int]:
        """How many data keys each KEK version wraps: what rotation has left to do, and
        whether an old version can be retired (none left under it)."""
        query = select(DataKey.kek_version, func.count()).group_by(DataKey.kek_version)
        return {str(version): int(count) for version, count in session.execute(query)}

    def index(self, kind: str, value: str) -> str:
        """The blind index of an already-normalised value (see :mod:`safehold.vault.rules`)."""
        return rules.blind_index(self.provider.index_key(), kind, value)

    def email_index(self, address: str) -> str:
        return self.index(EMAIL_INDEX, rules.normalise_email(address))

    def rotate(
        self,
        sessions: sessionmaker[Session],
        *,
        batch_size: int = jobs.ROTATION_BATCH_SIZE,
        progress: Callable[[int, int], None] | None = None,
    ) -> jobs.RotationReport:
        """Re-wrap every data key under the current KEK version (see :func:`jobs.rotate`)."""
        return jobs.rotate(
            self.provider, sessions, batch_size=batch_size, progress=progress, clock=self.clock
        )
