"""Material changes wait for each person's acceptance (decision 0022): no disclosure went to
a person that the version they were still handled under, at that moment, refused."""

from __future__ import annotations

from sqlalchemy import func, select

from safehold.notices import rules as notice_rules
from safehold.notices.models import Acceptance
from safehold.promises.rules import Check, Context, Finding
from safehold.sharing import rules as sharing_rules
from safehold.sharing.models import Disclosure, DisclosureSubject
from safehold.subjects.models import Subject

BATCH = 1000


def disclosures_not_accepted(ctx: Context) -> Finding:
    """Each person's share of each disclosure, judged by the version they were handled under
    when it was made (their newest acceptance before it, and the versions in force then).
    Erased people are left out: their acceptance records go with the erasure."""
    found = Finding()
    facts = ctx.book.facts()
    if not any(f.change_class == notice_rules.MATERIAL for f in facts):
        return found  # no material version: everyone is handled under the version in force
    accepted_then = (
        select(func.max(Acceptance.version_seq))
        .where(
            Acceptance.subject_id == DisclosureSubject.subject_id,
            Acceptance.at <= Disclosure.at,
            Acceptance.method.in_(sorted(notice_rules.ACCEPTING_METHODS)),
        )
        .correlate(DisclosureSubject, Disclosure)
        .scalar_subquery()
    )
    query = (
        select(Disclosure, DisclosureSubject.subject_id, DisclosureSubject.categories,
               accepted_then)
        .join(DisclosureSubject, DisclosureSubject.disclosure_id == Disclosure.id)
        .join(Subject, Subject.id == DisclosureSubject.subject_id)
        .where(DisclosureSubject.outcome == "disclosed", Subject.status != "erased")
        .order_by(Disclosure.id, DisclosureSubject.subject_id)
        .execution_options(yield_per=BATCH)
    )  # fmt: skip
    for disclosure, _sid, categories, accepted in ctx.session.execute(query):
        baseline_seq = notice_rules.handled_under(facts, accepted or 0, disclosure.at)
        in_force = notice_rules.in_force(facts, disclosure.at)
        if baseline_seq is None or in_force is None:
            continue
        baseline, current = ctx.book.version(baseline_seq), ctx.book.version(in_force.seq)
        if baseline is None or current is None:
            continue
        if disclosure.recipient_id not in current.policy.recipient_ids:
            continue  # outside the policy altogether: sharing.within_policy reports it
        refusal = sharing_rules.not_accepted(
            baseline.policy, current.policy, label=f"v{baseline_seq}",
            recipient=disclosure.recipient_id, purpose=disclosure.purpose,
            categories=categories, reference=disclosure.reference,
        )  # fmt: skip
        if refusal is not None:
            found.add([disclosure.id])
    return found


CHECKS = (
    Check("sharing.only_what_was_accepted",
          "Until a person accepts a material change, nothing is disclosed to them under it "
          "(a new recipient, more categories or purposes).", disclosures_not_accepted),
)  # fmt: skip
