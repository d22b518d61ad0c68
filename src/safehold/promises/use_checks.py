"""How data was used, read off the audit log and the stored fields: every use stayed within
its purpose's categories (under the version in force then), only declared fields are kept,
and a closed account's data is used only for what the closure allows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from safehold.access.models import AuditEntry
from safehold.comms.models import OutboxItem
from safehold.notices import rules as notice_rules
from safehold.policy import Policy
from safehold.policy.document import LawfulBasis
from safehold.promises.rules import USED, Check, Context, Finding
from safehold.subjects.models import PersonalValue, Subject

BATCH = 2000
# The audited actions that use a person's data *for a purpose* the caller named: reads,
# look-ups and disclosures. Other entries name categories as what they concern (an erasure,
# a retention deletion, a hold, an access request's export), not as a use under a purpose.
PURPOSE_USES = (
    "subject.read", "subject.read.kept", "subject.lookup", "events.read", "events.logins.read",
    "events.devices.read", "marketing.read", "disclosure.create",
)  # fmt: skip


def _policy_at(ctx: Context, moment: Any) -> Policy:
    facts = notice_rules.in_force(ctx.book.facts(), moment)
    version = ctx.book.version(facts.seq) if facts is not None else None
    return version.policy if version is not None else ctx.policy


def uses_outside_purpose(ctx: Context) -> Finding:
    """An audited read, look-up or disclosure (outcome ok, partial or disclosed) whose
    categories are not all among its purpose's categories in the version in force at that
    moment. A purpose the policy does not declare is refused before any data is read."""
    found = Finding()
    rows = ctx.session.execute(
        select(AuditEntry.seq, AuditEntry.at, AuditEntry.purpose, AuditEntry.categories)
        .where(
            AuditEntry.action.in_(PURPOSE_USES),
            AuditEntry.outcome.in_(USED),
            AuditEntry.purpose.isnot(None),
        )
        .order_by(AuditEntry.seq)
        .execution_options(yield_per=BATCH)
    )
    try:
        for seq, at, purpose, categories in rows:
            policy = _policy_at(ctx, at)
            if purpose not in policy.purpose_ids or not categories:
                continue
            if not set(categories) <= set(policy.purpose(purpose).categories):
                found.add([f"audit entry {seq}"])
    finally:
        rows.close()
    return found


def undeclared_fields(ctx: Context) -> Finding:
    """A stored personal value whose (category, field) the policy does not declare."""
    found = Finding()
    declared = {(c.id, f.name) for c in ctx.policy.categories for f in c.fields}
    for sid, category, field in ctx.session.execute(
        select(PersonalValue.subject_id, PersonalValue.category, PersonalValue.field)
        .distinct()
        .order_by(PersonalValue.subject_id)
    ):
        if (category, field) not in declared:
            found.add([f"{category}.{field} of {sid}"])
    return found


def _ends_with_account(ctx: Context) -> list[str]:
    """The purposes that stop at closure: neither a legal obligation nor ``after_closure``."""
    return [
        p.id for p in ctx.policy.purposes
        if p.lawful_basis != LawfulBasis.LEGAL_OBLIGATION and not p.after_closure
    ]  # fmt: skip


def used_after_closure(ctx: Context) -> Finding:
    """After a closure, an audited use of the person's data or an e-mail sent to them for a
    purpose that ends with the account."""
    found = Finding()
    stopped = _ends_with_account(ctx)
    closed = (Subject.status == "closed", Subject.closed_at.isnot(None))
    reads = (
        select(AuditEntry.seq, AuditEntry.categories)
        .join(Subject, Subject.id == AuditEntry.subject_id)
        .where(*closed, AuditEntry.at > Subject.closed_at, AuditEntry.action.in_(PURPOSE_USES),
               AuditEntry.outcome.in_(USED), AuditEntry.purpose.in_(stopped))
        .order_by(AuditEntry.seq)
    )  # fmt: skip
    found.add(f"audit entry {seq}" for seq, categories in ctx.session.execute(reads) if categories)
    sent = (
        select(OutboxItem.id)
        .join(Subject, Subject.id == OutboxItem.subject_id)
        .where(*closed, OutboxItem.sent_at > Subject.closed_at, OutboxItem.purpose.in_(stopped))
        .order_by(OutboxItem.id)
    )
    found.add(ctx.session.scalars(sent))
    return found


CHECKS = (
    Check("purposes.uses_within_categories",
          "Information is used only for the purposes listed, and each purpose only uses the "
          "information listed for it.", uses_outside_purpose),
    Check("categories.only_declared_fields",
          "We keep only the fields the policy lists for each kind of information.",
          undeclared_fields),
    Check("closure.uses_end_with_the_account",
          "After an account is closed, its data is used only for what the closure needs or "
          "the law requires.", used_after_closure),
)  # fmt: skip
