"""A correction (:mod:`safehold.events.refine`): a person's device row written from a quick
answer, its sign-ins and its events made the full answer's, once the parse cache has it."""

from __future__ import annotations

from sqlalchemy import Table, delete, update
from sqlalchemy.orm import Session

from safehold.events import storage
from safehold.events.devices import Device
from safehold.events.models import DeviceParse, Login, SubjectDevice
from safehold.events.people import upsert_devices


def correct(session: Session, row: SubjectDevice, parsed: DeviceParse) -> None:
    """One person's quick-answer device row, its sign-ins and its events, made the full
    answer's."""
    full = Device(parsed.device_type, parsed.os_family, parsed.os_major,
                  parsed.browser_family, parsed.browser_major, parsed.brand)  # fmt: skip
    ids = upsert_devices(session, [(row.subject_id, full, row.first_seen_at),
                                   (row.subject_id, full, row.last_seen_at)])  # fmt: skip
    target = ids[(row.subject_id, full.fingerprint)]
    session.execute(update(Login).where(Login.device_id == row.id).values(device_id=target))

    def events(table: Table) -> object:
        c = table.c
        return (
            update(table)
            .where(
                c.subject_id == row.subject_id,
                c.occurred_at >= row.first_seen_at,
                c.occurred_at <= row.last_seen_at,
                c.device_type == row.device_type,
                c.os_family.is_not_distinct_from(row.os_family),
                c.os_major.is_not_distinct_from(row.os_major),
                c.browser_family.is_not_distinct_from(row.browser_family),
                c.browser_major.is_not_distinct_from(row.browser_major),
            )
            .values(
                device_type=full.device_type,
                is_bot=full.is_bot,
                os_family=full.os_family,
                os_major=full.os_major,
                browser_family=full.browser_family,
                browser_major=full.browser_major,
            )
        )

    # No late-event rows here: an event of an earlier day already has one from ingestion
    # (its day waits for it), and today's roll-up is rebuilt whole; a final day's roll-up
    # would count a second row twice.
    storage.for_each_month(session, events, since=row.first_seen_at)  # type: ignore[arg-type]
    session.execute(delete(SubjectDevice).where(SubjectDevice.id == row.id))
