"""What ingestion encrypts, and under which data keys: an event's personal properties and a
known person's address (``network.ip``), each under the person's key for its retention class
— for a class counted from collection, the key of the month's epoch (``class@YYYY-MM``,
:mod:`safehold.vault.epochs`, decision 0043) — with every key fetched once per batch.

The address is sealed under the epoch of ``network.ip``'s class and the month its row is
filed under: an event's filing month, a sign-in's month of ``logged_in_at`` (the row keeps
the time it was first stored with, so a retry, a duplicate, changes nothing). When that
month's end plus the class's period has passed, the retention run destroys the epoch and
the address is unreadable in every backup. A provider that cannot destroy epochs (the
environment variable) gives the person's ordinary key for the class: sealed all the same.
Anonymous events keep no address (``service._resolve_people``): there is no person's key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from safehold.events import rules
from safehold.events.intake import Pending
from safehold.events.ips import IP_FIELD, NETWORK_CATEGORY, NO_IP
from safehold.policy import Policy
from safehold.vault import many
from safehold.vault import rules as vault_rules
from safehold.vault.models import DataKey
from safehold.vault.service import Vault

Keys = dict[tuple[uuid.UUID, str], bytes]
_KEYS: Table = DataKey.__table__  # type: ignore[assignment]


def ip_class(policy: Policy) -> str | None:
    """The retention class addresses are kept in, looked up as the personal properties' is
    (None: the policy declares no addresses, so none are kept)."""
    if NETWORK_CATEGORY not in policy.category_ids:
        return None
    return policy.retention_class(NETWORK_CATEGORY, IP_FIELD)


def epoch_classes(
    vault: Vault, policy: Policy, actions: Iterable[Pending], logins: Iterable[Pending]
) -> None:
    """Choose each event's key classes: personal properties (events) and address (events and
    sign-ins of a known person), the epoch asked of the vault once per class and month."""
    chosen: dict[tuple[str, date], str] = {}

    def pick(klass: str, month: date) -> str:
        if (klass, month) not in chosen:
            chosen[(klass, month)] = vault.epochs.key_class(policy, klass, month)
        return chosen[(klass, month)]

    addresses = ip_class(policy)
    for p in actions:
        if p.personal_class is not None and p.filing is not None:
            p.personal_class = pick(p.personal_class, p.filing.month)
    for p in (*actions, *logins):
        if addresses is not None and p.ip is not None and p.subject_id is not None:
            month = p.filing.month if p.filing is not None else rules.month_start(p.occurred_at)
            p.ip_class = pick(addresses, month)


def data_keys(session: Session, vault: Vault, pending: Iterable[Pending]) -> Keys:
    """The data key of each (person, key class) with something to seal, once per batch: the
    rows of exactly those keys read in one query (columns, not ORM objects: a batch may name
    hundreds of people, each with several keys) and unwrapped (the vault's cache answers
    after the first time); the missing ones created together (``vault.many``)."""
    wanted: set[tuple[uuid.UUID, str]] = set()
    for p in pending:
        if p.subject_id is not None:
            wanted.update((p.subject_id, k) for k in (p.personal_class, p.ip_class) if k)
    if not wanted:
        return {}
    keys: Keys = {}
    people, classes = {s for s, _ in wanted}, {k for _, k in wanted}
    t = _KEYS  # Core on the session's connection: the keys the vault made are flushed
    found = session.connection().execute(
        select(t.c.subject_id, t.c.retention_class, t.c.kek_version, t.c.wrapped_key)
        .where(t.c.subject_id.in_(people), t.c.retention_class.in_(classes))
    )  # fmt: skip
    for sid, klass, version, wrapped in found:
        if (sid, klass) in wanted:
            keys[(sid, klass)] = vault.unwrapped(sid, klass, version, wrapped)
    if missing := sorted(wanted - keys.keys()):  # people's first batch: one INSERT for all
        keys |= many.create(vault, session, missing)
    return keys


def ip_values(p: Pending, keys: Keys) -> dict[str, Any]:
    """The row's address columns: sealed for a known person (what ``Vault.encrypt`` does,
    with the key fetched once for the batch); never plain."""
    if p.ip is None or p.subject_id is None or p.ip_class is None:
        return dict(NO_IP)
    sealed = vault_rules.encrypt_field(
        keys[(p.subject_id, p.ip_class)],
        p.ip.encode(),
        subject_id=p.subject_id,
        category=NETWORK_CATEGORY,
        field=IP_FIELD,
    )
    whole = rules.is_whole_address(p.ip)
    return {"ip": None, "ip_sealed": sealed, "ip_class": p.ip_class, "ip_whole": whole}
