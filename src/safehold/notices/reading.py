"""A person's policy acceptance records, read for a purpose like the rest of their data.

The records (which version, how, through which channel, when, the evidence id) say what the
person did on the platform, so they are read as :data:`rules.ACCEPTANCE_CATEGORY`: the policy
decides for the purpose and the person, a refusal is audited and raised as
:class:`PurposeRefused`, a read is audited. The person's pending acceptance does not refuse
this read: reading whether someone still has to accept is how the service learns to ask them.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.notices import rules, service
from safehold.notices.book import PolicyBook
from safehold.notices.schemas import SubjectPolicyOut
from safehold.policy import Policy
from safehold.policy.rules import audited_purpose, decide, declared_purpose
from safehold.subjects import service as subjects
from safehold.subjects.errors import PurposeRefused

ACTION = "subject.policy_acceptance.read"


def standing_for(
    session: Session, book: PolicyBook, policy: Policy, subject_id: uuid.UUID, *,
    purpose: str, actor: Actor, clock: Clock,
) -> SubjectPolicyOut:  # fmt: skip
    """The person's acceptance records and standing, if the policy lets ``purpose`` read
    them for this person (a refusal's audit entry is kept although the request fails)."""
    subject = subjects.get(session, subject_id)
    # Without the policy book the state has no pending acceptance (see the module docstring).
    state = subjects.state_of(session, subject)
    category = rules.ACCEPTANCE_CATEGORY
    decision = decide(policy, purpose, [category], state)
    recorded = audited_purpose(policy, purpose)  # never an undeclared value verbatim (F3)
    if decision.refused:
        _audit(session, actor, subject_id, recorded, "refused", clock)
        raise PurposeRefused(
            decision.refused_message or "the policy refuses this purpose",
            details={"purpose": declared_purpose(policy, purpose), "rule": decision.refused_rule},
        )
    _audit(session, actor, subject_id, recorded, "allowed", clock)
    return service.standing_of(session, book, subject_id, clock.now())


def _audit(
    session: Session, actor: Actor, subject_id: uuid.UUID, purpose: str | None, outcome: str,
    clock: Clock,
) -> None:  # fmt: skip
    audit.record(
        session, actor=actor, action=ACTION, subject_id=subject_id,
        categories=[rules.ACCEPTANCE_CATEGORY], purpose=purpose, outcome=outcome, clock=clock,
    )  # fmt: skip
