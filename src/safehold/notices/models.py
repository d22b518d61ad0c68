from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, PrimaryKeyConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safehold.db import Base


class PolicyVersion(Base):
    """A published policy: never edited; a correction is a new version.

    It keeps the source file, the rendered text that was posted, the content hash of the
    rules, how it was classified against the version before it, and what a person must
    accept explicitly before the new processing applies to them."""

    __tablename__ = "policy_versions"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    content_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    rendered_md: Mapped[str] = mapped_column(Text)
    change_class: Mapped[str] = mapped_column(String(16))  # minor | material
    changes: Mapped[list[dict[str, Any]]]  # [{kind, subject, description, change_class}]
    needs_acceptance: Mapped[list[str]]  # purposes new or widened by a material change
    effective_at: Mapped[datetime]
    published_at: Mapped[datetime]
    published_by: Mapped[str] = mapped_column(String(120))

    @property
    def label(self) -> str:
        return f"v{self.seq}"


class Acceptance(Base):
    """A person's relation to a policy version, with the fields a consent record needs
    (ISO/IEC TS 27560 style): who, which version, when, how, and the evidence."""

    __tablename__ = "policy_acceptances"
    __table_args__ = (
        PrimaryKeyConstraint("subject_id", "id"),  # by person: safehold.sharding
        UniqueConstraint("subject_id", "version_seq", "method"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    subject_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), index=True
    )
    version_seq: Mapped[int] = mapped_column(ForeignKey("policy_versions.seq"), index=True)
    method: Mapped[str] = mapped_column(String(24))  # sign_up|explicit|continued_use|notified
    channel: Mapped[str] = mapped_column(String(32))  # api|privacy_center|login|activity
    at: Mapped[datetime]
    evidence: Mapped[str | None] = mapped_column(String(120))  # a request id, never an IP
    actor: Mapped[str] = mapped_column(String(120))


class PolicyNotice(Base):
    """A message that announced a version (``change``) or its withdrawal (``withdrawal``):
    what a withdrawal stops, and whom it tells."""

    __tablename__ = "policy_notices"

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    version_seq: Mapped[int] = mapped_column(ForeignKey("policy_versions.seq"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # change | withdrawal


class PolicyWithdrawal(Base):
    """A scheduled version taken back before it took effect. The version itself stays as
    published (it was posted); this record says it never applied, who withdrew it, and what
    became of its change notices."""

    __tablename__ = "policy_withdrawals"

    version_seq: Mapped[int] = mapped_column(ForeignKey("policy_versions.seq"), primary_key=True)
    withdrawn_at: Mapped[datetime]
    withdrawn_by: Mapped[str] = mapped_column(String(120))
    notices_stopped: Mapped[int] = mapped_column(Integer)  # change notices never sent
    people_told: Mapped[int] = mapped_column(Integer)  # already e-mailed: one note each
