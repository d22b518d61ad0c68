"""Finding a person by e-mail address: the look-up table ``email_lookup`` (blind index ->
person), which keeps one account per address by its primary key.

``subjects`` keeps the person's own copy of the index (read with the person: suppression,
erasure) but no unique key on it, so it can be sharded by person; the look-up table is
distributed by the index (``safehold.sharding``). Every change of an address goes through
:func:`claim` and every erasure through :func:`release`, in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import ColumnElement, delete, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safehold.subjects.errors import EmailTaken
from safehold.subjects.models import EmailLookup, Subject


def owner(session: Session, index: str) -> uuid.UUID | None:
    """The person whose address has blind index ``index``, if any."""
    return session.scalar(select(EmailLookup.subject_id).where(EmailLookup.email_index == index))


def finds(index: str) -> ColumnElement[bool]:
    """A condition on :class:`Subject` true for the owner of ``index`` alone."""
    return Subject.id.in_(
        select(EmailLookup.subject_id).where(EmailLookup.email_index == index).scalar_subquery()
    )


def claim(session: Session, subject_id: uuid.UUID, old: str | None, new: str) -> None:
    """Move the person's address from ``old`` to ``new``; :class:`EmailTaken` when another
    account holds ``new`` (also when one takes it at the same moment: the key refuses it)."""
    if old == new:
        return
    try:
        with session.begin_nested():
            if old is not None:
                session.execute(
                    delete(EmailLookup).where(
                        EmailLookup.email_index == old, EmailLookup.subject_id == subject_id
                    )
                )
            session.add(EmailLookup(email_index=new, subject_id=subject_id))
    except IntegrityError:
        raise EmailTaken("another account already uses this e-mail address") from None


def release(session: Session, people: Iterable[Subject]) -> None:
    """The addresses of these people find no one any more (their erasure). By index, so a
    sharded database goes straight to each address's shard."""
    held = [(p.email_index, p.id) for p in people if p.email_index is not None]
    if held:
        session.execute(
            delete(EmailLookup).where(
                tuple_(EmailLookup.email_index, EmailLookup.subject_id).in_(held)
            )
        )
