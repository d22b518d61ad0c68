"""Pure rules for communication: message kinds and their purposes, a person's marketing state,
suppression, the delivery states and their transitions, and the retry schedule.

No FastAPI, no SQLAlchemy: the API, the worker and the tests all ask these functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from safehold.policy.capabilities import RESTRICTION_NOTICE_PURPOSE
from safehold.policy.rules import purpose_rule

SERVICE = "communication.service"
MARKETING = "communication.marketing"

# Every message kind and the purpose it is sent under (seed §2, Communication).
KINDS: dict[str, str] = {
    "service_update": SERVICE,
    "announcement": SERVICE,
    "account_notice": SERVICE,
    "marketing": MARKETING,
}

# Messages Safehold itself sends to let a person exercise their rights (verification codes,
# the notices of a restriction of processing), when the person is restricted (GDPR Art. 18):
# only legal obligations may then use their data, and answering the person is one (Art.
# 12, 18(3)). Never offered to API clients (``POST /v1/messages`` refuses it).
RIGHTS = RESTRICTION_NOTICE_PURPOSE
RIGHTS_NOTICE = "rights_notice"
# The e-mail that tells a person their erasure is complete (decision 0028): queued by the
# erasure before it shreds the address, sent to an erased person under the legal obligation
# to answer their request (Art. 12(3)), to the address sealed on the row under a data key of
# the row's own (:func:`row_key_class`), which is destroyed once the delivery is settled.
ERASURE_COMPLETED = "erasure_completed"
INTERNAL_KINDS: dict[str, str] = {RIGHTS_NOTICE: RIGHTS, ERASURE_COMPLETED: RIGHTS}
# Kinds whose rows keep their recipient (and secret) under the row's own data key, not the
# person's ``account.email`` key: they outlive the person's other data, and only that long.
OWN_KEY_KINDS = frozenset({ERASURE_COMPLETED})
# A row with its own key is held back (queued, with this reason) until its sender releases
# it; claimed while still held — its sender never finished — it is skipped with HELD_EXPIRED.
HELD = "outbox.held"
HELD_EXPIRED = "outbox.held_expired"
# However its delivery goes, a row with its own key is settled (skipped, OWN_KEY_EXPIRED) and
# its key destroyed when it is first claimed past this age: the bound on how long the address
# is kept, which the erasure certificate states. Longer than the whole retry schedule.
OWN_KEY_TTL = timedelta(days=7)
OWN_KEY_EXPIRED = "outbox.own_key_expired"


def row_key_class(item_hex: str) -> str:
    """The "retention class" of a row's own data key: named after the row, so settling the
    row names exactly the key to destroy (``data_keys.retention_class`` is 64 characters)."""
    return f"outbox.{item_hex}"


ACCOUNT_NOTICE = "account_notice"


def notice_kind(account_status: str) -> str:
    """The kind of a code or notice e-mail to a person: a rights notice while restricted,
    otherwise an account notice (communication.service), as before restriction existed."""
    return RIGHTS_NOTICE if account_status == "restricted" else ACCOUNT_NOTICE


OPTED_IN, OPTED_OUT = "opted_in", "opted_out"
CHOICES = (OPTED_IN, OPTED_OUT)
# Where a marketing choice was made. ``sign_up`` is written by registration, ``one_click`` by
# the unsubscribe link; the API may record the others on a person's behalf.
CHANNELS = ("sign_up", "api", "privacy_center", "one_click", "reply")
API_CHANNELS = ("api", "privacy_center", "reply")

# Delivery: an outbox row's life. ``sending`` means claimed by a worker under a lease.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1  # the first try, then one per delay: ~9 hours in all
LEASE = timedelta(minutes=5)  # a claimed row returns to the pool if its worker vanishes


class Status(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    SKIPPED = "skipped"


PENDING = (Status.QUEUED, Status.SENDING)
TERMINAL = frozenset({Status.SENT, Status.SUPPRESSED, Status.SKIPPED})

# Which status may follow which. ``failed`` is not final: an operator may queue it again.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.SENDING, Status.SKIPPED, Status.SUPPRESSED}),
    Status.SENDING: frozenset(
        {
            Status.SENDING,  # the lease ran out (the worker died) and another worker claimed it
            Status.QUEUED,  # a temporary failure: retried later
            Status.SENT,
            Status.FAILED,
            Status.SKIPPED,
            Status.SUPPRESSED,
        }
    ),
    # queued again by an operator, or settled as skipped when what it announced was
    # withdrawn (a policy version: ``notices.withdrawal``)
    Status.FAILED: frozenset({Status.QUEUED, Status.SKIPPED}),
    Status.SENT: frozenset(),
    Status.SKIPPED: frozenset(),
    Status.SUPPRESSED: frozenset(),
}


def can_move(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]


def next_attempt_at(attempts: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` failed tries, or None: give up (status failed)."""
    if attempts < 1:
        raise ValueError("attempts counts the tries made so far, at least 1")
    if attempts >= MAX_ATTEMPTS:
        return None
    return now + RETRY_DELAYS[attempts - 1]


class SuppressionKind(StrEnum):
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    ERASED = "erased"


# A hard bounce stops all mail to the address (it cannot be delivered); a complaint and an
# erased person's fingerprint stop marketing only.
SUPPRESSES: dict[SuppressionKind, frozenset[str]] = {
    SuppressionKind.HARD_BOUNCE: frozenset({SERVICE, MARKETING, RIGHTS}),
    SuppressionKind.COMPLAINT: frozenset({MARKETING}),
    SuppressionKind.ERASED: frozenset({MARKETING}),
}


def suppression_reason(kinds: Iterable[str], purpose: str) -> str | None:
    """``suppression.<kind>`` for the first listed kind that blocks ``purpose``, else None."""
    present = set(kinds)
    for kind in SuppressionKind:
        if kind in present and purpose in SUPPRESSES[kind]:
            return f"suppression.{kind}"
    return None


def marketing_sets(latest_choice: str | None) -> tuple[frozenset[str], frozenset[str]]:
    """The purposes a person opted out of and consented to, from their latest choice.

    An opt-out refuses marketing whatever its basis; an opt-in counts as consent, so a policy
    that moves marketing to the ``consent`` basis only reaches people who opted in. No
    choice at all is neither (the soft opt-in of ``legitimate_interests`` applies)."""
    opted_out = frozenset({MARKETING}) if latest_choice == OPTED_OUT else frozenset()
    consented = frozenset({MARKETING}) if latest_choice == OPTED_IN else frozenset()
    return opted_out, consented


def opt_out_reason() -> str:
    """The reason recorded on pending marketing mail cancelled by an opt-out."""
    return purpose_rule(MARKETING, "opt_out")


def message_id(item_hex: str, mail_from: str) -> str:
    """A stable RFC 5322 Message-ID for one outbox row: the same on every retry, so a copy
    sent twice after a crash is recognisable as the same message."""
    domain = mail_from.rpartition("@")[2] or "safehold.invalid"
    return f"<{item_hex}@{domain}>"
