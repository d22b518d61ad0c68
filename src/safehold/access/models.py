from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Integer,
    LargeBinary,
    Sequence,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from safehold.db import Base


class ApiKey(Base):
    """A credential for the service's back end. Only a hash of the secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]]
    purposes: Mapped[list[str]]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None]


class AuditEntry(Base):
    """One access to personal data: who, what categories (never values), whose, why, when.

    Entries sit on one of several independent chains (one per connection: ``access.chains``), at
    ``position`` 1, 2, … on it; ``hash`` is the keyed link over the entry, its chain and
    position and the previous entry's ``hash`` on that chain, so an edit, deletion, insertion,
    reordering or move to another chain breaks the chain at that point. ``seq`` numbers the
    rows across chains (for paging), given by the database."""

    __tablename__ = "audit_entries"
    __table_args__ = (UniqueConstraint("chain", "position"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        Sequence("audit_entries_seq_seq"),
        primary_key=True,
    )
    chain: Mapped[int] = mapped_column(SmallInteger)
    position: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(80))
    subject_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    categories: Mapped[list[str]]
    purpose: Mapped[str | None] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(40))
    request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # The audit key version that keyed ``hash`` (``access.audit_keys``): 0 is the key derived
    # from the index key, 1, 2, … the rotated ones in ``audit_keys``.
    key_version: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")


class AuditKey(Base):
    """A rotated audit key (``safehold audit rotate-key``): 32 random bytes wrapped by the
    key-encryption key (``kek_version``), so the database holds it but cannot use it — only
    a process holding the KEK can unwrap it. Version 0 is not here: it is derived from the
    index key."""

    __tablename__ = "audit_keys"

    version: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    kek_version: Mapped[str] = mapped_column(String(32))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class AuditHead(Base):
    """One chain's head: ``id`` is the chain's number, ``last_seq`` its last position and
    ``last_hash`` the link there. The database moves it as entries are inserted, refusing one
    that does not extend it (trigger ``audit_entries_extend``, migration 0028)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """Every chain's head sealed at one moment (``access.checkpoints``): ``heads`` lists
    ``[chain, position, hash]``; ``mac`` is the audit key's HMAC over the checkpoint and the
    previous checkpoint's ``mac``. Copies live outside the database too."""

    __tablename__ = "audit_checkpoints"

    number: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime]
    heads: Mapped[list[list[Any]]] = mapped_column(JSON)
    prev_mac: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))
    key_version: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
