"""Pure rules of third-party sharing: may this disclosure happen, who must be told about an
erasure, restriction or correction, and how a notice moves from queued to acknowledged.

No database, no clock, no framework: the API, the CLI, the delivery job and the tests all
get the same answers, and Hypothesis can check the promises (nothing outside what the
recipient may receive is ever allowed; backoff never shrinks and never exceeds its cap).

Rule names are stable strings that appear in 403 responses, the audit log and the docs:

- ``policy.recipients.unknown`` / ``policy.purposes.unknown`` / ``policy.categories.unknown``
  — not declared in the policy;
- ``sharing.allowed_purposes`` — the policy's sharing rule does not allow the purpose;
- ``recipients.<id>.purposes`` / ``recipients.<id>.categories`` — outside what that
  recipient may receive;
- ``purposes.<id>.categories`` — the purpose itself may not use the category;
- ``recipients.<id>.legal_reference_required`` — an authority (or a recipient that requires
  one) without a legal reference or case number;
- ``policy.not_accepted`` — for one person: a material change they have not accepted allows
  this disclosure, the version they are still handled under does not (decision 0022).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from safehold.policy.document import EEA_COUNTRIES, Policy, RecipientRole
from safehold.policy.durations import add_duration
from safehold.policy.rules import UNKNOWN_CATEGORY, UNKNOWN_PURPOSE, purpose_rule

NOT_ACCEPTED = "policy.not_accepted"  # the same string as notices.rules.NOT_ACCEPTED

UNKNOWN_RECIPIENT = "policy.recipients.unknown"
SHARING_RULE = "sharing.allowed_purposes"
MAX_PEOPLE = 500  # per disclosure request: one response, one transaction
MAX_REFERENCE = 200

# Delivery of notices: exponential backoff from 30 s, capped at 6 h, 16 attempts in all
# (about a day and a half), then the notice waits for staff (state ``failed``).
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=6)
MAX_ATTEMPTS = 16


def recipient_rule(recipient_id: str, suffix: str) -> str:
    """``recipients.payment_processor.categories`` — the rule name for a recipient's check."""
    return f"recipients.{recipient_id}.{suffix}"


def is_third_country(country: str) -> bool:
    return country not in EEA_COUNTRIES


@dataclass(frozen=True)
class Refusal:
    """Why a disclosure request is refused as a whole; ``categories`` names the offenders
    (declared ids only: undeclared input is never echoed)."""

    rule: str
    message: str
    categories: tuple[str, ...] = ()


def reference_required(policy: Policy, recipient_id: str) -> bool:
    recipient = policy.recipient(recipient_id)
    return recipient.legal_reference_required or recipient.role is RecipientRole.AUTHORITY


def check_request(
    policy: Policy,
    *,
    recipient: str,
    purpose: str,
    categories: Sequence[str],
    reference: str | None,
) -> Refusal | None:
    """The whole-request checks, in order; the first refusal wins and nothing is disclosed.

    A request asking for more than the recipient may receive is refused, not trimmed: a
    processor must receive exactly what the policy allows, and a caller asking for more has
    a bug that should fail loudly rather than send less without saying so."""
    if recipient not in policy.recipient_ids:
        return Refusal(UNKNOWN_RECIPIENT, "the policy names no such recipient")
    spec = policy.recipient(recipient)
    if purpose not in policy.purpose_ids:
        return Refusal(UNKNOWN_PURPOSE, "the policy declares no such purpose")
    if purpose not in policy.sharing.allowed_purposes:
        allowed = ", ".join(policy.sharing.allowed_purposes)
        return Refusal(
            SHARING_RULE,
            f"the policy shares personal data with third parties only for: {allowed}",
        )
    if purpose not in spec.purposes:
        return Refusal(
            recipient_rule(recipient, "purposes"),
            f"recipient '{recipient}' does not receive data for '{purpose}'",
        )
    if not categories:
        return Refusal(purpose_rule(purpose, "categories"), "no categories were requested")
    declared = set(policy.category_ids)
    if any(c not in declared for c in categories):
        return Refusal(UNKNOWN_CATEGORY, "the request names a category the policy does not declare")
    outside = tuple(c for c in dict.fromkeys(categories) if c not in spec.categories)
    if outside:
        return Refusal(
            recipient_rule(recipient, "categories"),
            f"recipient '{recipient}' may not receive: {', '.join(outside)}",
            outside,
        )
    unused = tuple(
        c for c in dict.fromkeys(categories) if c not in policy.purpose(purpose).categories
    )
    if unused:
        return Refusal(
            purpose_rule(purpose, "categories"),
            f"'{purpose}' may not use: {', '.join(unused)}",
            unused,
        )
    if reference_required(policy, recipient) and not (reference and reference.strip()):
        return Refusal(
            recipient_rule(recipient, "legal_reference_required"),
            f"every disclosure to '{recipient}' must cite its legal basis or case number "
            "in 'reference'",
        )
    return None


def not_accepted(
    baseline: Policy,
    current: Policy,
    *,
    label: str,
    recipient: str,
    purpose: str,
    categories: Sequence[str],
    reference: str | None,
) -> Refusal | None:
    """For a person still handled under ``baseline`` (version ``label``): the refusal when
    ``baseline`` would not allow what ``current`` allows — a new recipient, more categories
    or purposes for one, a purpose newly shared, or a recipient now elsewhere (country) or
    in another role. None: the disclosure was already allowed by the version they accepted.
    """
    refusal = check_request(
        baseline, recipient=recipient, purpose=purpose, categories=categories, reference=reference
    )
    if refusal is None:
        before, now = baseline.recipient(recipient), current.recipient(recipient)
        if (before.country, before.role) != (now.country, now.role):
            refusal = Refusal(
                recipient_rule(recipient, "country"),
                f"recipient '{recipient}' was {before.role.value} in {before.country}",
            )
    if refusal is None:
        return None
    return Refusal(
        NOT_ACCEPTED,
        "the person has not accepted the policy change that allows this disclosure; until "
        f"they do, they are handled under {label}, which refuses it ({refusal.message})",
        refusal.categories,
    )


class Event(StrEnum):
    """What a recipient is told about (GDPR Art. 19: rectification, erasure, restriction)."""

    ERASURE = "erasure"
    RESTRICTION = "restriction"
    RESTRICTION_END = "restriction_end"  # the restriction was lifted: processing may resume
    RECTIFICATION = "rectification"

    @property
    def webhook_type(self) -> str:
        return {
            "erasure": "subject.erased",
            "restriction": "subject.restricted",
            "restriction_end": "subject.unrestricted",
            "rectification": "subject.rectified",
        }[self.value]

    @property
    def action(self) -> str:
        """What the recipient is asked to do."""
        return {
            "erasure": "erase",
            "restriction": "restrict",
            "restriction_end": "lift_restriction",
            "rectification": "update",
        }[self.value]


# A restriction and its end alternate: a recipient is not told the same one twice in a row
# while the first is still on its way.
RESTRICTION_EVENTS = frozenset({Event.RESTRICTION, Event.RESTRICTION_END})


@dataclass(frozen=True)
class Notice:
    recipient_id: str
    categories: tuple[str, ...]


def notices_for(
    policy: Policy,
    received: Mapping[str, Iterable[str]],
    event: Event,
    changed: Iterable[str] | None = None,
) -> list[Notice]:
    """Who must be told, and about which categories, given what each recipient received.

    ``received`` maps recipient ids to the categories disclosed to them for this person.
    A recipient whose policy entry says ``notify_on_erasure: false`` (an authority) is not
    told; one no longer in the policy still is — it holds the data all the same. A
    correction only concerns recipients that received one of the ``changed`` categories."""
    notices: list[Notice] = []
    changed_set = None if changed is None else set(changed)
    for recipient_id in sorted(received):
        if (
            recipient_id in policy.recipient_ids
            and not policy.recipient(recipient_id).notify_on_erasure
        ):
            continue
        categories = sorted(set(received[recipient_id]))
        if event is Event.RECTIFICATION:
            categories = [c for c in categories if changed_set is None or c in changed_set]
        if categories:
            notices.append(Notice(recipient_id, tuple(categories)))
    return notices


def due_at(created_at: datetime, policy: Policy) -> datetime:
    """When a notice is overdue: the policy's request deadline (one month by default), the
    time the controller has to answer the person (Art. 12(3)), telling recipients included."""
    return add_duration(created_at, policy.requests.deadline)


class State(StrEnum):
    QUEUED = "queued"  # to be delivered (webhook) or passed on by staff (manual)
    FAILED = "failed"  # the webhook's retries are exhausted: staff must act
    ACKNOWLEDGED = "acknowledged"  # the recipient confirmed, or staff recorded that it did


class Step(StrEnum):
    ATTEMPT_FAILED = "attempt_failed"
    EXHAUSTED = "exhausted"
    DELIVERED = "delivered"  # the recipient's endpoint answered 2xx to the signed notice
    STAFF_ACK = "staff_ack"
    RETRY = "retry"


TRANSITIONS: dict[tuple[State, Step], State] = {
    (State.QUEUED, Step.ATTEMPT_FAILED): State.QUEUED,
    (State.QUEUED, Step.EXHAUSTED): State.FAILED,
    (State.QUEUED, Step.DELIVERED): State.ACKNOWLEDGED,
    (State.QUEUED, Step.STAFF_ACK): State.ACKNOWLEDGED,
    (State.FAILED, Step.RETRY): State.QUEUED,
    (State.FAILED, Step.STAFF_ACK): State.ACKNOWLEDGED,
}
OUTSTANDING = (State.QUEUED, State.FAILED)


class InvalidTransition(ValueError):
    def __init__(self, state: State, step: Step) -> None:
        super().__init__(f"a {state.value} notice cannot take the step {step.value}")
        self.state, self.step = state, step


def transition(state: State, step: Step) -> State:
    try:
        return TRANSITIONS[(state, step)]
    except KeyError:
        raise InvalidTransition(state, step) from None


def backoff(attempt: int) -> timedelta:
    """The wait after the ``attempt``-th failed delivery (1-based): 30 s, 1 min, 2 min, …
    doubling up to 6 h."""
    if attempt < 1:
        raise ValueError("attempts are counted from 1")
    doublings = min(attempt - 1, 32)  # 2**32 x 30 s is far past the cap: no overflow
    return min(BACKOFF_BASE * (1 << doublings), BACKOFF_CAP)


@dataclass(frozen=True)
class AttemptOutcome:
    state: State
    next_attempt_at: datetime | None


def after_attempt(attempts: int, delivered: bool, now: datetime) -> AttemptOutcome:
    """Where a notice goes after its ``attempts``-th delivery attempt."""
    if delivered:
        return AttemptOutcome(transition(State.QUEUED, Step.DELIVERED), None)
    if attempts >= MAX_ATTEMPTS:
        return AttemptOutcome(transition(State.QUEUED, Step.EXHAUSTED), None)
    return AttemptOutcome(transition(State.QUEUED, Step.ATTEMPT_FAILED), now + backoff(attempts))


def is_overdue(state: State, due: datetime, now: datetime) -> bool:
    return state is not State.ACKNOWLEDGED and now > due
