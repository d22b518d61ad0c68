"""Key rotation: re-wrap data keys under the current KEK version, batch by batch.

The encrypted data is never read or written: only the 32-byte data keys are unwrapped under
their old KEK version and wrapped again under the current one. Each batch is one transaction,
so an interrupted run keeps what it finished; the job has no state of its own beyond each
row's ``kek_version``, so re-running it simply picks up the keys still on an old version.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from safehold.clock import Clock, SystemClock
from safehold.db import transaction
from safehold.vault import rules
from safehold.vault.keyring import EPOCH_MARK as MARK
from safehold.vault.models import DataKey, KeyRotation
from safehold.vault.providers import KeyProvider

ROTATION_BATCH_SIZE = 500


@dataclass(frozen=True)
class RotationReport:
    target_version: str
    rewrapped: int
    batches: int
    remaining: int  # keys still on an old version (created meanwhile by a stale process)


def _old(target: str) -> ColumnElement[bool]:
    """Keys on another version than ``target`` — not the epoch keys, which stay under their
    month's own KEK until it is destroyed (docs/vault.md, "Key epochs")."""
    return and_(DataKey.kek_version != target, DataKey.kek_version.not_like(f"%{MARK}%"))


def _count_old(session: Session, target: str) -> int:
    query = select(func.count()).select_from(DataKey).where(_old(target))
    return session.scalar(query) or 0


def _rewrap_batch(
    session: Session,
    provider: KeyProvider,
    target: str,
    after: tuple[uuid.UUID, str] | None,
    batch_size: int,
) -> tuple[int, tuple[uuid.UUID, str] | None]:
    """Re-wrap the next batch in primary-key order; return (re-wrapped, last key seen)."""
    pk = tuple_(DataKey.subject_id, DataKey.retention_class)
    query = select(
        DataKey.subject_id, DataKey.retention_class, DataKey.kek_version, DataKey.wrapped_key
    ).where(_old(target))
    if after is not None:
        query = query.where(pk > tuple_(*after))  # keyset: one pass, never rescans done rows
    query = query.order_by(DataKey.subject_id, DataKey.retention_class).limit(batch_size)
    # PostgreSQL: parallel rotations split the work; SQLite serialises writers anyway.
    rows = session.execute(query.with_for_update(skip_locked=True)).all()
    if not rows:
        return 0, None
    rewrapped = 0
    for subject_id, retention_class, version, wrapped in rows:
        aad = rules.key_aad(subject_id, retention_class)
        dek = provider.unwrap(version, wrapped, aad)
        # Guarded by the old wrapped bytes: a key shredded or re-wrapped meanwhile is skipped.
        changed = session.execute(
            update(DataKey)
            .where(
                DataKey.subject_id == subject_id,
                DataKey.retention_class == retention_class,
                DataKey.wrapped_key == wrapped,
            )
            .values(kek_version=target, wrapped_key=provider.wrap(target, dek, aad))
            .returning(DataKey.subject_id)
        ).all()
        rewrapped += len(changed)
    last = rows[-1]
    return rewrapped, (last.subject_id, last.retention_class)


def rotate(
    provider: KeyProvider,
    sessions: sessionmaker[Session],
    *,
    batch_size: int = ROTATION_BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
    clock: Clock | None = None,
) -> RotationReport:
    """Re-wrap every data key not under ``provider.current_version()``.

    Run it after ``provider.add_version()`` (and after restarting the processes that cached
    the old current version). ``progress(done, total)`` is called after each committed
    batch; an exception from it stops the run with those batches kept.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    target = provider.current_version()
    with transaction(sessions) as session:
        total = _count_old(session, target)
    done = batches = 0
    after: tuple[uuid.UUID, str] | None = None
    while True:
        with transaction(sessions) as session:
            rewrapped, after = _rewrap_batch(session, provider, target, after, batch_size)
        if after is None:
            break
        done += rewrapped
        batches += 1
        if progress is not None:
            progress(done, total)
    with transaction(sessions) as session:
        remaining = _count_old(session, target)
        session.add(
            KeyRotation(
                target_version=target,
                finished_at=(clock or SystemClock()).now(),
                rewrapped=done,
                remaining=remaining,
            )
        )
    return RotationReport(target, done, batches, remaining)


def last_rotation(session: Session) -> KeyRotation | None:
    """The newest finished rotation, if any has run."""
    return session.scalars(
        select(KeyRotation).order_by(KeyRotation.finished_at.desc(), KeyRotation.id.desc())
    ).first()
