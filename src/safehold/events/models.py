"""The events feature's ORM tables. The events themselves live in month partitions created at
run time (``storage.py``), outside this metadata; they are registered here as unmanaged so
migration drift checks ignore them (``safehold.migrate.include_name``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from safehold.db import UNMANAGED_TABLES, Base

# The partitioned parent (PostgreSQL) or the union view (SQLite), and the month tables.
Base.metadata.info.setdefault(UNMANAGED_TABLES, set()).update({r"events", r"events_\d{6}"})


class EventPartition(Base):
    """A month of events that has its partition (the registry both backends share).

    Inserting a month's row is the first write of every batch: it takes SQLite's write lock
    before anything is read, and on PostgreSQL it orders concurrent creators of a new month."""

    __tablename__ = "event_partitions"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[date] = mapped_column(unique=True)
    created_at: Mapped[datetime]


class SubjectDevice(Base):
    """A device a person used, as coarse fields only (never the User-Agent), once per
    distinct (type, OS, OS major, browser or app, its major), with first and last use."""

    __tablename__ = "devices"
    __table_args__ = (
        PrimaryKeyConstraint("subject_id", "id"),  # by person: safehold.sharding
        UniqueConstraint("subject_id", "fingerprint"),
        Index("ix_devices_fingerprint", "fingerprint"),  # the refiner finds quick answers
    )

    id: Mapped[uuid.UUID] = mapped_column()
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(32))
    device_type: Mapped[str] = mapped_column(String(16))
    os_family: Mapped[str | None] = mapped_column(String(40))
    os_major: Mapped[str | None] = mapped_column(String(16))
    browser_family: Mapped[str | None] = mapped_column(String(40))
    browser_major: Mapped[str | None] = mapped_column(String(16))
    brand: Mapped[str | None] = mapped_column(String(40))  # the device's maker, if known
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class DeviceParse(Base):
    """The persistent parse cache: one full answer per distinct (User-Agent, hints), shared
    by every process and kept across restarts, so each string is parsed fully once per
    deployment. Keyed by a keyed hash of the string (``refine.cache_key``), never the string;
    it holds no person's data. ``parser`` names the detector's version: an answer from an
    older one is parsed again."""

    __tablename__ = "device_parses"

    key: Mapped[str] = mapped_column(String(31), primary_key=True)
    device_type: Mapped[str] = mapped_column(String(16))
    brand: Mapped[str | None] = mapped_column(String(40))
    os_family: Mapped[str | None] = mapped_column(String(40))
    os_major: Mapped[str | None] = mapped_column(String(16))
    browser_family: Mapped[str | None] = mapped_column(String(40))
    browser_major: Mapped[str | None] = mapped_column(String(16))
    parser: Mapped[str] = mapped_column(String(40))
    parsed_at: Mapped[datetime]


class Login(Base):
    """One sign-in, closed by the next sign-out: the login history (its own category and
    retention, so sign-ins are kept here rather than in the month partitions), with the
    login and logout events' dimension properties and the minimised IP address.

    Keyed by (person, login event id) and (person, logout event id): what makes a retried
    sign-in or sign-out a duplicate."""

    __tablename__ = "logins"
    __table_args__ = (
        Index("ix_logins_subject_id_logged_in_at", "subject_id", "logged_in_at"),
        UniqueConstraint("subject_id", "logout_id"),
        # The person's own device (co-located); deleting a device clears it first
        # (retention.usage), as no database empties one column of a two-column key alike.
        ForeignKeyConstraint(["subject_id", "device_id"], ["devices.subject_id", "devices.id"]),
    )

    subject_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the login event's id
    logged_in_at: Mapped[datetime]
    logged_out_at: Mapped[datetime | None]
    device_id: Mapped[uuid.UUID | None]
    properties: Mapped[dict[str, Any] | None]
    logout_properties: Mapped[dict[str, Any] | None]
    ip: Mapped[str | None] = mapped_column(String(64))  # plain: before migration 0043 only
    logout_id: Mapped[uuid.UUID | None]  # the sign-out event's id that closed it
    # The address sealed under the person's ``network_ip@YYYY-MM`` key (``events.ips``).
    ip_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    ip_class: Mapped[str | None] = mapped_column(String(96))
    ip_whole: Mapped[bool | None]


class AnonymousLink(Base):
    """An anonymous device id (as a keyed blind index, never the id) and the person who
    signed in on it. Kept after the person is erased, so a late anonymous event from that
    device is refused rather than starting a new history (it holds no personal data)."""

    __tablename__ = "anonymous_links"

    anonymous_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    # No foreign key: a look-up table, sharded by its own key (``safehold.sharding``).
    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    linked_at: Mapped[datetime]
