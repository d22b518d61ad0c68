"""Sweep of the retention run: month epochs whose retention has ended, their KEK destroyed.

An epoch (``usage_events@2026-03``, :mod:`safehold.vault.epochs`) ends when its month's end
plus its class's period has passed. Then, in this order:

1. one transaction: the data keys of people under a legal hold on the class's categories are
   re-wrapped under the current KEK version (their data stays readable until the hold ends;
   a later run deletes the key once it has), every other data key of the epoch is deleted,
   and the run's audit entry is written;
2. the provider destroys the epoch KEK (the key file is rewritten without it): every copy of
   the month's data keys, in any backup, can no longer be unwrapped.

A crash between the two leaves the KEK, and the next run destroys it (the epoch is still
listed by the provider and past its end). Epochs are found from the provider's list and from
the data keys' classes (a restored backup may name epochs the provider no longer holds: their
rows go too). A provider that cannot destroy epochs holds none, and this sweep finds nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from safehold.db import transaction
from safehold.policy.document import Policy
from safehold.retention.common import Env, active_holds, audit_run
from safehold.vault import epochs, rules
from safehold.vault.models import DataKey
from safehold.vault.providers import KeyProvider

ACTION = "destroy_epoch"  # the report line's action
AUDIT_ACTION = "retention.epoch.destroy"


def categories_of(policy: Policy, retention_class: str) -> tuple[str, ...]:
    """The categories whose data a (rule or exception) class holds."""
    for rule in policy.retention:
        if rule.id == retention_class:
            return rule.categories
        for exc in rule.exceptions:
            if exc.id == retention_class:
                return exc.categories or rule.categories
    return ()


def due(session: Session, provider: KeyProvider, policy: Policy, now: datetime) -> list[str]:
    """The epochs past their end, held by the provider or named by a data key."""
    named = session.scalars(
        select(DataKey.retention_class)
        .where(DataKey.retention_class.contains(epochs.MARK))
        .distinct()
    )
    found = set(provider.epochs()) | set(named)
    return sorted(e for e in found if (end := epochs.end_of(policy, e)) is not None and end <= now)


def sweep_epochs(env: Env) -> None:
    provider = env.vault.provider
    with env.sessions() as session:
        ended = due(session, provider, env.policy, env.now)
    for epoch in ended:
        klass, month = epochs.parse(epoch) or (epoch, None)
        categories = categories_of(env.policy, klass)
        # A line per epoch (class@month): what the run destroyed, apart from the month drops.
        line = env.report.line(categories[0] if categories else klass, epoch, ACTION)
        if month is not None:
            line.months.append(month.isoformat()[:7])
        if env.dry_run:
            continue
        with transaction(env.sessions) as session:
            held = _held(session, env, set(categories))
            rescued = _rescue_held(session, env, epoch, held)
            doomed = delete(DataKey).where(DataKey.retention_class == epoch)
            if held:  # a key rescued earlier goes once its hold has ended
                doomed = doomed.where(DataKey.subject_id.not_in(held))
            gone = session.execute(
                doomed.returning(DataKey.subject_id).execution_options(synchronize_session=False)
            ).all()
            line.shredded += len(gone)
            if rescued:
                line.notes.append(f"{epoch}: {rescued} person(s) under a legal hold keep their key")
            audit_run(session, env, AUDIT_ACTION, None, categories or [klass])
        if epoch in provider.epochs():
            provider.destroy_epoch(epoch)
        env.vault.epochs.forget(epoch)


def _held(session: Session, env: Env, categories: set[str]) -> list[uuid.UUID]:
    """People under a legal hold in force on any of the categories."""
    found = {uuid.UUID(h.subject_id) for h in active_holds(session, env.now)
             if h.categories & categories}  # fmt: skip
    return sorted(found)


def _rescue_held(session: Session, env: Env, epoch: str, held: list[uuid.UUID]) -> int:
    """Re-wrap the epoch's data keys of people under a legal hold on its categories under the
    current KEK version, so destroying the epoch leaves their held data readable."""
    provider = env.vault.provider
    if not held or epoch not in provider.epochs():  # gone already: nothing left to rescue
        return 0
    target = provider.current_version()
    rows = session.scalars(
        select(DataKey).where(DataKey.kek_version == epoch, DataKey.subject_id.in_(held))
    ).all()
    for row in rows:
        aad = rules.key_aad(row.subject_id, row.retention_class)
        dek = provider.unwrap(epoch, row.wrapped_key, aad)
        row.kek_version, row.wrapped_key = target, provider.wrap(target, dek, aad)
    session.flush()
    return len(rows)
