"""Pure rules for data-subject requests: the states and their transitions, deadlines and the
one extension (GDPR Art. 12(3)), the one-time verification code, and the erasure plan — what
is erased and what is kept, with its reason and end date.

No FastAPI, no SQLAlchemy: the API, the CLI, the job and the tests all ask these functions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from safehold.policy.capabilities import ServedKind
from safehold.policy.document import Policy, RetentionFrom
from safehold.policy.durations import add_duration
from safehold.requests.errors import (
    CodeAttemptsExhausted,
    CodeExpired,
    CodeInvalid,
    CodeMissing,
    ExtensionInvalid,
    ObjectionInvalid,
    RectificationInvalid,
    TransitionRefused,
)

# The request kinds are the capability registry's: the validator refuses a policy offering
# any other, so what the policy offers and what this service opens cannot drift apart.
Kind = ServedKind


class Status(StrEnum):
    RECEIVED = "received"
    VERIFIED = "verified"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    PARTIALLY_COMPLETED = "partially_completed"
    REJECTED = "rejected"


# Which status may follow which. Terminal states have no way out: the log is the proof.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.VERIFIED, Status.REJECTED}),
    Status.VERIFIED: frozenset({Status.IN_PROGRESS, Status.REJECTED}),
    Status.IN_PROGRESS: frozenset({Status.COMPLETED, Status.PARTIALLY_COMPLETED}),
    Status.COMPLETED: frozenset(),
    Status.PARTIALLY_COMPLETED: frozenset(),
    Status.REJECTED: frozenset(),
}
TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
OPEN = frozenset(Status) - TERMINAL

# Where a request came in. ``api`` = staff or the back end on the person's behalf.
CHANNELS = ("api", "email", "phone", "post", "privacy_center")
ACTOR_KINDS = ("staff", "subject")

# Closed lists, so the request log stays free of personal data (it outlives the erasure).
REJECTION_REASONS: dict[str, str] = {
    "identity_not_verified": "the requester's identity could not be verified",
    "manifestly_unfounded": "the request is manifestly unfounded (Art. 12(5))",
    "excessive": "the request is excessive, in particular repetitive (Art. 12(5))",
    "legal_exemption": "an exemption in law applies (e.g. Art. 17(3))",
    "withdrawn": "the person withdrew the request",
    "duplicate": "the same request is already open",
}
EXTENSION_REASONS: dict[str, str] = {
    "complexity": "the request is complex (Art. 12(3))",
    "number_of_requests": "of the number of requests received (Art. 12(3))",
}
# The same reasons in the words the person reads: the extension e-mail and /me "My requests".
EXTENSION_WORDS: dict[str, str] = {
    "complexity": "Your request is complex, and answering it fully takes us longer.",
    "number_of_requests": "We received many requests at the same time as yours.",
}

# The one-time code sent to the account's e-mail address.
CODE_DIGITS = 8
CODE_TTL = timedelta(minutes=15)
CODE_MAX_ATTEMPTS = 5
CODES_PER_REQUEST = 5  # sends (and resends) of a code for one request
REQUEST_LOG_RETENTION = "P24M"  # the PII-free request log, from the response date
DEFAULT_DEADLINE = "P1M"  # GDPR Art. 12(3), when the policy names none
EXPORT_LINK_TTL = timedelta(days=7)  # an access request's download link, from fulfilment


def check_transition(current: str, target: Status) -> Status:
    """The target, or :class:`TransitionRefused` naming both states."""
    state = Status(current)
    if target not in TRANSITIONS[state]:
        allowed = sorted(TRANSITIONS[state])
        raise TransitionRefused(
            f"a request that is '{state}' cannot become '{target}'",
            details={"status": str(state), "target": str(target), "allowed": allowed},
        )
    return target


def deadline(received_at: datetime, period: str | None) -> datetime:
    """When the answer is due: the received time plus the policy's period (calendar months)."""
    return add_duration(received_at, period or DEFAULT_DEADLINE)


def extended_deadline(
    received_at: datetime, period: str | None, extension: str, max_extension: str
) -> datetime:
    """The deadline after the one extension: the original one plus ``extension``, which may
    not reach past the original plus ``max_extension`` (compared on these dates)."""
    original = deadline(received_at, period)
    try:
        wanted = add_duration(original, extension)
        limit = add_duration(original, max_extension)
    except ValueError:
        raise ExtensionInvalid(
            "the extension must be an ISO 8601 duration such as P1M or P30D", details={}
        ) from None
    if wanted <= original:
        raise ExtensionInvalid("the extension must be longer than zero", details={})
    if wanted > limit:
        raise ExtensionInvalid(
            "the extension is longer than the policy allows",
            details={"max_extension": max_extension},
        )
    return wanted


def is_overdue(status: str, deadline_at: datetime, now: datetime) -> bool:
    return Status(status) in OPEN and now > deadline_at


def log_expired(responded_at: datetime | None, now: datetime) -> bool:
    """An answered request leaves the log once :data:`REQUEST_LOG_RETENTION` has passed since
    its response; an open one never does (it has no response date yet)."""
    return responded_at is not None and add_duration(responded_at, REQUEST_LOG_RETENTION) <= now


# --- objection and rectification --------------------------------------------------------

OPT_OUT = "marketing_opt_out"  # an objection to marketing: the person's opt-out
LEAVE_PURPOSE = "purpose_objection"  # any other objectable purpose: recorded, decide() refuses
# What a rectification request may correct, by field name -> (category, contact argument).
RECTIFIABLE: dict[str, str] = {
    "name": "account.name",
    "email": "account.email",
    "phone": "account.phone",
    "street": "account.address",
    "postal_code": "account.address",
    "city": "account.address",
    "country": "account.address",
}
ADDRESS_PARTS = ("street", "postal_code", "city", "country")


def objection_effect(policy: Policy, purpose: str | None) -> str:
    """What objecting to ``purpose`` does: an opt-out for marketing, otherwise the person
    leaves the purpose (analytics for ``platform_improvement``). Raises unless the policy
    says the purpose is objectable."""
    if purpose is None or purpose not in policy.purpose_ids:
        raise ObjectionInvalid(
            "an objection names one of the policy's purposes", details={"field": "purpose"}
        )
    declared = policy.purpose(purpose)
    if declared.is_marketing:
        return OPT_OUT
    if not declared.objectable:
        raise ObjectionInvalid(
            "the policy does not let a person object to this purpose",
            details={"field": "purpose", "purpose": purpose},
        )
    return LEAVE_PURPOSE


# The optional details a person may have deleted by a rectification request (the name and
# the sign-in address are needed for the account: they can only be corrected).
REMOVABLE: dict[str, str] = {"phone": "account.phone", "address": "account.address"}


def removal_fields(remove: Iterable[str], values: Mapping[str, str]) -> list[str]:
    """The details to delete, checked: known ones only, and none also given a new value."""
    gone = sorted(set(remove))
    unknown = [g for g in gone if g not in REMOVABLE]
    both = [g for g in gone if g in values or (g == "address" and "street" in values)]
    if unknown or both:
        raise RectificationInvalid(
            "only the phone number and the postal address can be removed, and not also "
            "corrected in the same request",
            details={"removable": sorted(REMOVABLE), "unknown": len(unknown), "both": both},
        )
    return gone


def rectification_fields(values: Mapping[str, str]) -> tuple[str, ...]:
    """The field names a correction touches, checked: known names only, and an address in
    full (its four parts go together). The values themselves are never looked at here."""
    unknown = sorted(set(values) - set(RECTIFIABLE))
    if unknown or not values:
        raise RectificationInvalid(
            "a correction names fields from the list, with their new values",
            details={"allowed": sorted(RECTIFIABLE), "unknown_fields": len(unknown)},
        )
    parts = [p for p in ADDRESS_PARTS if p in values]
    if parts and len(parts) != len(ADDRESS_PARTS):
        raise RectificationInvalid(
            "an address is corrected in full: street, postal_code, city and country",
            details={"missing": [p for p in ADDRESS_PARTS if p not in values]},
        )
    return tuple(sorted(values))


# --- the one-time code ------------------------------------------------------------------


def new_code() -> str:
    """Eight random decimal digits: typed by a person, read out over the phone."""
    return "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))


def code_key(index_key: bytes) -> bytes:
    """The HMAC key for codes, derived from the vault's index key (never used directly)."""
    return hmac.new(index_key, b"safehold/request-code/v1", hashlib.sha256).digest()


def typed_code(text: str | None) -> str | None:
    """What a person typed, as a code: the digits without spaces, or None when it is not
    :data:`CODE_DIGITS` digits (a form then says so next to the field)."""
    digits = "".join((text or "").split())
    return digits if digits.isdigit() and len(digits) == CODE_DIGITS else None


def hash_code(key: bytes, request_id: uuid.UUID, code: str) -> str:
    """Keyed hash of a code bound to its request: a stolen table does not give the codes,
    and a code cannot be used for another request."""
    normalised = "".join(code.split())
    return hmac.new(key, request_id.bytes + normalised.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CodeState:
    hash: str | None
    expires_at: datetime | None
    attempts: int


def check_code(
    key: bytes, request_id: uuid.UUID, state: CodeState, code: str, now: datetime
) -> None:
    """Raise unless ``code`` is the live code. The caller counts the attempt either way."""
    if state.hash is None or state.expires_at is None:
        raise CodeMissing("no code is waiting for this request: send a new one", details={})
    if state.attempts >= CODE_MAX_ATTEMPTS:
        raise CodeAttemptsExhausted(
            "too many wrong codes: send a new one", details={"max_attempts": CODE_MAX_ATTEMPTS}
        )
    if now >= state.expires_at:
        raise CodeExpired("the code has expired: send a new one", details={})
    if not hmac.compare_digest(state.hash, hash_code(key, request_id, code)):
        left = CODE_MAX_ATTEMPTS - state.attempts - 1
        raise CodeInvalid("the code is wrong", details={"attempts_left": left})


# --- the erasure plan -------------------------------------------------------------------


@dataclass(frozen=True)
class Hold:
    id: str
    categories: frozenset[str]
    reason: str
    legal_basis: str
    until: datetime


@dataclass(frozen=True)
class Held:
    """Why a category (and its classes) is kept, and until when."""

    category: str
    classes: tuple[str, ...]
    kind: str  # "retention_exception" | "legal_hold"
    ref: str  # the exception id or the hold id
    reason: str
    legal_basis: str
    until: datetime


@dataclass(frozen=True)
class Plan:
    erase_classes: tuple[str, ...]  # data keys to shred
    erase_categories: tuple[str, ...]  # categories with something erased
    kept: tuple[Held, ...]
    kept_classes: tuple[str, ...] = field(default=())
    # Exceptions that would keep data through erasure but whose basis does not apply to this
    # person (exception id, the categories it needs held): their data is erased.
    not_applicable: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    def keeps(self, category: str, retention_class: str) -> bool:
        """A stored value is kept only under its own exception or a hold on its category."""
        return any(category == h.category and retention_class in h.classes for h in self.kept)

    @property
    def partial(self) -> bool:
        """A legal hold kept something the person asked to erase: the request is only partly
        answered. Retention exceptions are the law's limit of the right (Art. 17(3)), not a
        shortfall."""
        return any(h.kind == "legal_hold" for h in self.kept)


@dataclass(frozen=True)
class Times:
    """The moments a retention period can count from, for this person."""

    collected: datetime
    last_activity: datetime
    account_closed: datetime


def _start(times: Times, start: RetentionFrom) -> datetime:
    return {
        RetentionFrom.COLLECTED: times.collected,
        RetentionFrom.LAST_ACTIVITY: times.last_activity,
        RetentionFrom.ACCOUNT_CLOSED: times.account_closed,
    }.get(start, times.collected)


def plan(
    policy: Policy, stored: Mapping[str, Iterable[str]], holds: Iterable[Hold], times: Times
) -> Plan:
    """Decide, per stored category (category -> retention classes present), what is erased.

    A class is kept when a retention exception that survives erasure owns it, or when an
    active hold names a category stored in it (a class's key cannot be half shredded; the
    other categories' rows in a held class are still deleted). Everything else is shredded.
    """
    held_by: dict[str, Hold] = {}
    for hold in holds:
        for category in hold.categories:
            current = held_by.get(category)
            if current is None or hold.until > current.until:
                held_by[category] = hold
    classes = {c: set(k) for c, k in stored.items()}
    keep: set[str] = set()
    kept: list[Held] = []
    for category in sorted(classes):
        holding = held_by.get(category)
        if holding is not None:
            keep |= classes[category]
            kept.append(
                Held(category, tuple(sorted(classes[category])), "legal_hold", holding.id,
                     holding.reason, holding.legal_basis, holding.until)
            )  # fmt: skip
            continue
        surviving = [
            exc
            for exc in policy.exceptions_for(category)
            if exc.survives_erasure and exc.id in classes[category] and exc.applies_to(classes)
        ]
        for exc in surviving:
            keep.add(exc.id)
            kept.append(
                Held(category, (exc.id,), "retention_exception", exc.id,
                     exc.reason or exc.description, exc.legal_basis or "",
                     add_duration(_start(times, exc.from_), exc.period))
            )  # fmt: skip
    not_applicable = tuple(
        sorted({
            (exc.id, exc.only_for_people_with)
            for category in classes
            for exc in policy.exceptions_for(category)
            if exc.survives_erasure and exc.id in classes[category]
            and not exc.applies_to(classes)
        })
    )  # fmt: skip
    all_classes = set().union(*classes.values()) if classes else set()
    kept_pairs = {(h.category, c) for h in kept for c in h.classes}
    return Plan(
        erase_classes=tuple(sorted(all_classes - keep)),
        erase_categories=tuple(
            sorted(c for c, ks in classes.items() if any((c, k) not in kept_pairs for k in ks))
        ),
        kept=tuple(kept),
        kept_classes=tuple(sorted(keep)),
        not_applicable=not_applicable,
    )


# The erasure's steps, in order. Each runs in its own transaction and is recorded on the
# request when it commits, so a crash resumes at the first step not recorded.
STEPS = (
    "plan",
    "notify_recipients",
    "suppress_address",
    "queue_completion_mail",
    "shred",
    "delete_rows",
    "delete_events",
    "delete_mail_copies",
    "close_subject",
    "verify",
    "certificate",
)
ERASURE_LEASE = timedelta(minutes=10)  # a runner that vanished leaves the request after this


def next_step(done: Iterable[str]) -> str | None:
    finished = set(done)
    return next((s for s in STEPS if s not in finished), None)


def categories_of_class(policy: Policy, retention_class: str) -> tuple[str, ...]:
    """The categories whose data can be encrypted under a retention class."""
    for rule in policy.retention:
        if rule.id == retention_class:
            return rule.categories
        for exc in rule.exceptions:
            if exc.id == retention_class:
                return exc.categories or rule.categories
    return ()
