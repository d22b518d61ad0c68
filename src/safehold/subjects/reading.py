"""The purpose-scoped read's one query: the person, what the policy decision needs to know
about them for that purpose, and the encrypted values — with their wrapped data keys — of
the categories the policy lets the purpose use at all.

Only ciphertext comes back for those categories: the decision then narrows them for this
person (status, opt-out, objection, pending acceptance) and ``subjects.service.read``
decrypts only what it allows. One statement, Core rows rather than ORM entities: this runs
on every read of a person's data. A look-up by e-mail or phone (:func:`person_where`) gets
the person and the same facts in one statement too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, Table, and_, bindparam, false, select
from sqlalchemy.orm import Session

from safehold.analytics.models import Objection
from safehold.notices.book import PolicyBook
from safehold.policy import Policy
from safehold.policy.rules import SubjectState
from safehold.subjects import state
from safehold.subjects.models import PersonalValue, Subject
from safehold.vault.models import DataKey

SUBJECTS: Table = Subject.__table__  # type: ignore[assignment]
VALUES: Table = PersonalValue.__table__  # type: ignore[assignment]
KEYS: Table = DataKey.__table__  # type: ignore[assignment]
OBJECTIONS: Table = Objection.__table__  # type: ignore[assignment]


class ValueRow(NamedTuple):
    """One encrypted field; ``wrapped_key`` is None once its data key was destroyed."""

    category: str
    field: str
    retention_class: str
    ciphertext: bytes
    kek_version: str | None
    wrapped_key: bytes | None


def candidates(policy: Policy, purpose: str, wanted: Iterable[str]) -> list[str]:
    """The wanted categories the policy lets ``purpose`` use for anybody: the most any
    person's decision can allow (an unknown purpose: none)."""
    if purpose not in policy.purpose_ids:
        return []
    usable = set(policy.purpose(purpose).categories)
    return [c for c in dict.fromkeys(wanted) if c in usable]


@lru_cache(maxsize=64)
def _statement(n_categories: int) -> Select[Any]:
    """The query for ``n_categories`` candidate categories (bound as ``c0``…), built and
    compiled once per count."""
    in_categories = (
        VALUES.c.category.in_([bindparam(f"c{i}") for i in range(n_categories)])
        if n_categories
        else false()
    )
    objected = (
        select(OBJECTIONS.c.id)
        .where(
            OBJECTIONS.c.subject_id == SUBJECTS.c.id,
            OBJECTIONS.c.purpose == bindparam("purpose"),
            OBJECTIONS.c.withdrawn_at.is_(None),
        )
        .correlate(SUBJECTS)
        .exists()
    )
    return (
        select(
            SUBJECTS.c.status,
            state.LATEST_CHOICE,
            state.ACCEPTED_SEQ,
            objected,
            VALUES.c.category,
            VALUES.c.field,
            VALUES.c.retention_class,
            VALUES.c.ciphertext,
            KEYS.c.kek_version,
            KEYS.c.wrapped_key,
        )
        .select_from(SUBJECTS)
        .outerjoin(VALUES, and_(VALUES.c.subject_id == SUBJECTS.c.id, in_categories))
        .outerjoin(
            KEYS,
            and_(
                KEYS.c.subject_id == VALUES.c.subject_id,
                KEYS.c.retention_class == VALUES.c.retention_class,
            ),
        )
        .where(SUBJECTS.c.id == bindparam("subject_id"))
    )


def person_with_values(
    session: Session, subject_id: uuid.UUID, purpose: str, categories: Sequence[str],
    book: PolicyBook | None, now: datetime,
) -> tuple[SubjectState, list[ValueRow]] | None:  # fmt: skip
    """The person's state for ``purpose``'s decision (None: there is no such person) and
    their values of ``categories`` (see :func:`candidates`). The state is complete for that
    purpose only: other purposes' objections are not read."""
    params: dict[str, object] = {"subject_id": subject_id, "purpose": purpose}
    params.update({f"c{i}": c for i, c in enumerate(categories)})
    session.flush()  # as session.execute would: the query sees this transaction's changes
    rows = session.connection().execute(_statement(len(categories)), params).all()
    if not rows:
        return None
    status, choice, accepted, objected = rows[0][:4]
    versions = book.facts() if book is not None else ()
    subject_state = state.state_from(
        status, choice, int(accepted or 0), [purpose] if objected else [], versions, now
    )
    return subject_state, [ValueRow(*row[4:]) for row in rows if row[4] is not None]


def person_where(
    session: Session, where: ColumnElement[bool], purpose: str, book: PolicyBook | None,
    now: datetime,
) -> tuple[Subject, SubjectState] | None:  # fmt: skip
    """The person ``where`` finds (a blind index equal to a value: ``Subject.phone_index ==
    …``), with their state for ``purpose``'s decision — one statement, whether or not there
    is such a person, so a look-up takes as long either way (None: nobody)."""
    found = people_where(session, where, purpose, book, now, limit=1)
    return found[0] if found else None


def people_where(
    session: Session, where: ColumnElement[bool], purpose: str, book: PolicyBook | None,
    now: datetime, *, limit: int,
) -> list[tuple[Subject, SubjectState]]:  # fmt: skip
    """Everyone ``where`` finds, at most ``limit`` (a phone number may be a household's),
    oldest account first, each with their state for ``purpose``'s decision."""
    objected = (
        select(Objection.id)
        .where(
            Objection.subject_id == Subject.id,
            Objection.purpose == purpose,
            Objection.withdrawn_at.is_(None),
        )
        .correlate(Subject)
        .exists()
    )
    rows = session.execute(
        select(Subject, state.LATEST_CHOICE, state.ACCEPTED_SEQ, objected)
        .where(where)
        .order_by(Subject.created_at, Subject.id)
        .limit(limit)
    ).all()
    versions = book.facts() if rows and book is not None else ()
    return [
        (subject, state.state_from(
            subject.status, choice, int(accepted or 0), [purpose] if has_objected else [],
            versions, now,
        ))
        for subject, choice, accepted, has_objected in rows
    ]  # fmt: skip
