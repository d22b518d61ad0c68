from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from safehold.db import Base


class DataKey(Base):
    """A person's data key for one retention class, wrapped by a KEK version.

    One key per (person, retention class), so data kept longer for a legal reason (its own
    retention class) can outlive the rest: shredding the other classes' keys erases those
    fields only. Deleting the row is the erasure (NIST SP 800-88 cryptographic erase): every
    ciphertext under the key, in the database, its backups and any export, becomes unreadable.
    """

    __tablename__ = "data_keys"

    subject_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # An epoch key's class and version name its month: ``usage_events@2026-03`` (vault.epochs).
    retention_class: Mapped[str] = mapped_column(String(96), primary_key=True)
    kek_version: Mapped[str] = mapped_column(String(96))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class KeyRotation(Base):
    """A finished key rotation: the date the record of processing activities reports as
    "keys last rotated", and how complete it was."""

    __tablename__ = "kek_rotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target_version: Mapped[str] = mapped_column(String(32))
    finished_at: Mapped[datetime]
    rewrapped: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
