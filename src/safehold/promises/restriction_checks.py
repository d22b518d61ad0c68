"""While a restriction of processing (GDPR Art. 18) is in force, the person's data is used
only under a legal obligation (decision 0023): no read that returned data, no e-mail sent
and no disclosure for any other purpose between its start and its lift."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select

from safehold.access.models import AuditEntry
from safehold.comms.models import OutboxItem
from safehold.policy.document import LawfulBasis
from safehold.promises.rules import MAX_EXAMPLES, USED, Check, Context, Finding
from safehold.sharing.models import Disclosure, DisclosureSubject
from safehold.subjects.models import Restriction


def _legal(ctx: Context) -> list[str]:
    return [p.id for p in ctx.policy.purposes if p.lawful_basis == LawfulBasis.LEGAL_OBLIGATION]


def _during(time: Any) -> Any:
    """``time`` falls after a restriction of the same person was applied and before its lift
    (what happened in the very instant it was applied belongs to the time before)."""
    return and_(
        Restriction.applied_at < time,
        or_(Restriction.lifted_at.is_(None), time < Restriction.lifted_at),
    )


def _count(ctx: Context, found: Finding, query: Any) -> None:
    count = ctx.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if count:
        found.add(ctx.session.scalars(query.limit(MAX_EXAMPLES)), count)


def used_while_restricted(ctx: Context) -> Finding:
    found = Finding()
    legal = _legal(ctx)
    reads = (
        select(AuditEntry.seq, AuditEntry.categories)
        .join(Restriction, Restriction.subject_id == AuditEntry.subject_id)
        .where(
            _during(AuditEntry.at), AuditEntry.outcome.in_(USED),
            AuditEntry.purpose.isnot(None), AuditEntry.purpose.not_in(legal),
        )
        .order_by(AuditEntry.seq)
    )  # fmt: skip
    found.add(f"audit entry {seq}" for seq, categories in ctx.session.execute(reads) if categories)
    sent = (
        select(OutboxItem.id)
        .join(Restriction, Restriction.subject_id == OutboxItem.subject_id)
        .where(_during(OutboxItem.sent_at), OutboxItem.sent_at.isnot(None),
               OutboxItem.purpose.not_in(legal))
    )  # fmt: skip
    _count(ctx, found, sent)
    shared = (
        select(Disclosure.id)
        .join(DisclosureSubject, DisclosureSubject.disclosure_id == Disclosure.id)
        .join(Restriction, Restriction.subject_id == DisclosureSubject.subject_id)
        .where(_during(Disclosure.at), DisclosureSubject.outcome == "disclosed",
               Disclosure.purpose.not_in(legal))
    )  # fmt: skip
    _count(ctx, found, shared)
    return found


CHECKS = (
    Check("restriction.only_legal_obligation",
          "While processing is restricted, the person's data is used, e-mailed about or "
          "shared only where the law obliges us to.", used_while_restricted),
)  # fmt: skip
