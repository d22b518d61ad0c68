"""What an outbox row keeps sealed until its delivery is settled: a per-recipient secret
(``{{ secret }}``) and an address of its own, vault-encrypted and bound to the row.

Ordinary rows seal them under the person's ``account.email`` data key, so erasing the person
makes them unreadable. Rows of a kind in :data:`rules.OWN_KEY_KINDS` (the e-mail that says an
erasure is complete) seal them under a data key of the row's own
(:func:`rules.row_key_class`), which the erasure does not shred: the key is destroyed when the
row is settled (:func:`destroy_row_keys`, called by :func:`outbox.record`), and the row is
settled at the latest :data:`rules.OWN_KEY_TTL` after it was queued.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from safehold.comms import rules
from safehold.comms.models import OutboxItem
from safehold.policy import Policy
from safehold.policy.rules import SUBJECT_ERASED, Decision, SubjectState, decide
from safehold.subjects.rules import EMAIL
from safehold.vault.models import DataKey

if TYPE_CHECKING:
    from safehold.comms.service import Context


def secret_field(item_id: uuid.UUID) -> str:
    """The vault field a row's secret is encrypted as: it binds the ciphertext to the row."""
    return f"outbox_secret#{item_id}"


def recipient_field(item_id: uuid.UUID) -> str:
    """The vault field a row's sealed recipient address is encrypted as."""
    return f"outbox_recipient#{item_id}"


def key_class(ctx: Context, item_id: uuid.UUID, *, own_key: bool) -> str:
    """The data key a row's sealed values are under: its own, or the person's address key."""
    return (
        rules.row_key_class(item_id.hex) if own_key else ctx.policy.retention_class(EMAIL, "email")
    )


def seal(
    session: Session, ctx: Context, subject_id: uuid.UUID, item_id: uuid.UUID, field: str,
    value: str, *, own_key: bool,
) -> bytes:  # fmt: skip
    """Encrypt one of a row's values (its field is :func:`secret_field` or
    :func:`recipient_field`), creating the row's own key when ``own_key``."""
    klass = key_class(ctx, item_id, own_key=own_key)
    return ctx.vault.encrypt(session, subject_id, klass, EMAIL, field, value)


def open_secret(
    session: Session, ctx: Context, item: OutboxItem, *, own_key: bool = False
) -> str | None:
    """The row's secret in plain text (None if it has none); raises the vault's
    ``DataKeyDestroyed`` once its key is gone (the person erased, or the row settled)."""
    if item.sealed_secret is None:
        return None
    klass = key_class(ctx, item.id, own_key=own_key)
    return ctx.vault.decrypt(
        session, item.subject_id, klass, EMAIL, secret_field(item.id), item.sealed_secret
    )


def open_recipient(
    session: Session, ctx: Context, item: OutboxItem, *, own_key: bool = False
) -> str | None:
    """The row's own recipient address (None: the account's address); ``DataKeyDestroyed``
    once its key is gone."""
    if item.sealed_recipient is None:
        return None
    klass = key_class(ctx, item.id, own_key=own_key)
    return ctx.vault.decrypt(
        session, item.subject_id, klass, EMAIL, recipient_field(item.id), item.sealed_recipient
    )


def destroy_row_keys(session: Session, ids: Sequence[uuid.UUID]) -> int:
    """Destroy the own data keys of these rows (those that have one): called with every row
    whose delivery is settled, in the statement's transaction. One indexed look-up of the
    rows that still carry a sealed address, then one DELETE if any of them has a key."""
    pairs = [
        (subject_id, rules.row_key_class(item_id.hex))
        for item_id, subject_id in session.execute(
            select(OutboxItem.id, OutboxItem.subject_id).where(
                OutboxItem.id.in_(list(ids)), OutboxItem.sealed_recipient.is_not(None)
            )
        )
    ]
    if not pairs:
        return 0
    gone = session.execute(
        delete(DataKey)
        .where(tuple_(DataKey.subject_id, DataKey.retention_class).in_(pairs))
        .returning(DataKey.retention_class)
        .execution_options(synchronize_session=False)
    ).all()
    return len(gone)


def decide_own_address(policy: Policy, purpose: str, state: SubjectState) -> Decision:
    """The decision for a row with its own key: its templates use nothing of the account
    (:func:`service.enqueue` refuses personal variables for these kinds), only the address
    sealed on the row, which the erasure kept for this one e-mail and its certificate lists.
    So the address counts as kept for an erased person; everything else is decided as for
    any e-mail — only a ``legal_obligation`` purpose reaches an erased person at all, and
    only if the policy lets it use an address."""
    decision = decide(policy, purpose, (EMAIL,), state)
    erased_address = tuple(w.category for w in decision.withheld if w.rule == SUBJECT_ERASED)
    if (
        state.account_status == "erased"
        and erased_address == (EMAIL,)
        and len(decision.withheld) == 1
    ):
        return Decision(purpose, (EMAIL,), (), None, None)
    return decision
