"""The suppression list: addresses that must not receive mail again, as keyed hashes only.

Hard bounces and complaints come from the mail provider (its webhook, or an operator with
the CLI); erased people leave a fingerprint of their address (the vault's blind index of the
e-mail), so an address imported again later still never receives marketing. The list is
checked when a message is queued and again just before each e-mail is handed over.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.comms import rules
from safehold.comms.models import OutboxItem, Suppression
from safehold.subjects import emails
from safehold.subjects.models import Subject
from safehold.subjects.rules import EMAIL, normalise_email
from safehold.vault.service import EMAIL_INDEX, Vault

CHUNK = 500
ERASURE_ACTOR = Actor("system", "erasure")


def kinds_by_index(session: Session, email_indexes: Iterable[str]) -> dict[str, set[str]]:
    """Suppression kinds per blind index, for the indexes that have any."""
    indexes = sorted(set(email_indexes))
    out: dict[str, set[str]] = {}
    for start in range(0, len(indexes), CHUNK):
        rows = session.execute(
            select(Suppression.email_index, Suppression.kind).where(
                Suppression.email_index.in_(indexes[start : start + CHUNK])
            )
        )
        for index, kind in rows:
            out.setdefault(index, set()).add(kind)
    return out


def reason(session: Session, email_index: str | None, purpose: str) -> str | None:
    """``suppression.<kind>`` when the address may not receive mail for ``purpose``."""
    if email_index is None:
        return None
    kinds = session.scalars(select(Suppression.kind).where(Suppression.email_index == email_index))
    return rules.suppression_reason(kinds, purpose)


def add(
    session: Session, *, email_index: str, kind: rules.SuppressionKind, source: str,
    actor: Actor, clock: Clock,
) -> bool:  # fmt: skip
    """Put an address on the list (idempotent: False when it already was) and stop the mail
    still pending to it that the kind suppresses."""
    now = clock.now()
    exists = session.get(Suppression, (email_index, str(kind)))
    created = False
    if exists is None:
        try:
            with session.begin_nested():  # a concurrent report of the same bounce loses here
                session.add(
                    Suppression(
                        email_index=email_index, kind=str(kind), created_at=now, source=source
                    )
                )
            created = True
        except IntegrityError:
            created = False
    subject_ids = list(session.scalars(select(Subject.id).where(emails.finds(email_index))))
    if subject_ids:
        session.execute(
            update(OutboxItem)
            .where(
                OutboxItem.subject_id.in_(subject_ids),
                OutboxItem.purpose.in_(sorted(rules.SUPPRESSES[kind])),
                OutboxItem.status.in_(rules.PENDING),
            )
            .values(
                status=rules.Status.SUPPRESSED,
                reason=f"suppression.{kind}",
                claim_token=None,
                updated_at=now,
                sealed_secret=None,
            )
            .execution_options(synchronize_session=False)
        )
    if created:
        audit.record(
            session,
            actor=actor,
            action=f"mail.suppress.{kind}",
            subject_id=subject_ids[0] if subject_ids else None,
            categories=[EMAIL],
            purpose=None,
            outcome="ok",
            clock=clock,
        )
    session.flush()
    return created


def record_report(
    session: Session, vault: Vault, *, email: str, kind: rules.SuppressionKind, source: str,
    actor: Actor, clock: Clock,
) -> bool:  # fmt: skip
    """A hard bounce or complaint reported for an address (checked, lower-cased, hashed;
    the address itself is not kept). True when it was new."""
    index = vault.index(EMAIL_INDEX, normalise_email(email))
    return add(session, email_index=index, kind=kind, source=source, actor=actor, clock=clock)


def suppress_erased(
    session: Session, email_index: str, *, clock: Clock, actor: Actor = ERASURE_ACTOR
) -> bool:
    """Called by erasure with the erased person's e-mail blind index (``Subject.email_index``)
    before it is dropped: that address never receives marketing again, and nothing but the
    keyed hash is kept."""
    return add(
        session,
        email_index=email_index,
        kind=rules.SuppressionKind.ERASED,
        source="erasure",
        actor=actor,
        clock=clock,
    )


def remove(
    session: Session, *, email_index: str, kind: rules.SuppressionKind, actor: Actor, clock: Clock
) -> bool:
    """Take an address off the list for one kind (an operator's correction)."""
    row = session.get(Suppression, (email_index, str(kind)))
    if row is None:
        return False
    session.delete(row)
    audit.record(
        session,
        actor=actor,
        action=f"mail.unsuppress.{kind}",
        subject_id=emails.owner(session, email_index),
        categories=[EMAIL],
        purpose=None,
        outcome="ok",
        clock=clock,
    )
    session.flush()
    return True
