"""Pure rules of the admin console: which page needs which scope, what the navigation
shows a key, how the audit log pages, and how a report becomes a chart.

No FastAPI, no SQLAlchemy. A staff member signs in with their personal API key, so the
console offers exactly what the key's scopes allow: a page the key cannot use is not in the
navigation, and asking for it anyway answers 403 naming the missing scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from safehold.access.rules import holds, purpose_allowed
from safehold.analytics import rules as analytics_rules
from safehold.policy.durations import can_exceed, duration_in_words
from safehold.requests.rules import OPEN, Status


@dataclass(frozen=True)
class Page:
    path: str
    label: str
    scope: str | None  # None: any signed-in staff member


# The console's pages in navigation order, with the scope each one checks.
PAGES: tuple[Page, ...] = (
    Page("/admin", "Overview", None),
    Page("/admin/requests", "Requests", "requests:open"),
    Page("/admin/people", "People", "subjects:read"),
    Page("/admin/retention", "Retention", "holds:write"),
    Page("/admin/audit", "Audit log", "audit:read"),
    Page("/admin/promises", "Promises", "audit:read"),
    Page("/admin/messages", "Messages", "messages:admin"),
    Page("/admin/policy", "Policy", "policy:admin"),
    Page("/admin/ropa", "Record of processing", "ropa:read"),
    Page("/admin/analytics", "Analytics", "analytics:read"),
)
SCOPE_OF = {p.path: p.scope for p in PAGES}
# Staff management: an owner member's alone (no scope grants it), listed last.
STAFF_PAGE = Page("/admin/staff", "Staff", None)

AUDIT_PAGE = 50  # audit entries per page
QUEUE_LIMIT = 500  # requests shown in the queue at once (soonest deadline first)
MESSAGES_SHOWN = 25  # newest messages on the messages page
FAILURES_SHOWN = 25  # newest failed deliveries on the messages page
EXPIRIES_SHOWN = 6  # event months and account periods listed as "next expiries"
POLICY_UPLOAD_MAX = 500_000  # bytes, as the API's limit: a policy file is a few kilobytes
MAX_FILTER = 80  # characters of an audit filter (an action name)
PERSON_ROWS = 50  # a person's requests and holds shown on their page (newest deadlines last)
MAX_CONTACT = 320  # characters of a look-up's e-mail address or phone number (RFC 5321's path)

# How a person asked, when staff open a request on their behalf (the request's ``channel``;
# "api" and "privacy_center" are the service's and the person's own ways).
STAFF_CHANNELS = {"email": "by e-mail", "phone": "by phone", "post": "by post"}


def hold_until(day: date) -> datetime:
    """A hold placed "until" a day keeps the data through that whole day (UTC)."""
    return datetime.combine(day, time(23, 59, 59), UTC)


def lookup_kind(text: str) -> str:
    """Whether a look-up's text is an e-mail address or a phone number: an address has an @."""
    return "email" if "@" in text else "phone"


# The queue's status filter: the open requests (what staff must still answer) unless asked
# for every request or one status.
QUEUE_OPEN, QUEUE_ANY = "open", "any"


# Whose requests the queue lists: a staff member's opens on their own ("mine"); the
# break-glass key, which owns none, on everyone's.
OWNER_MINE, OWNER_ANYONE, OWNER_NOBODY = "mine", "anyone", "nobody"
OWNER_CHOICES = {OWNER_MINE: "Mine", OWNER_ANYONE: "Anyone's", OWNER_NOBODY: "Nobody's yet"}


def queue_owner(choice: str | None, *, member: bool) -> str:
    """The owner filter shown as chosen; anything unknown, or nothing, is the default."""
    if choice in OWNER_CHOICES and (member or choice != OWNER_MINE):
        return str(choice)
    return OWNER_MINE if member else OWNER_ANYONE


def queue_filter(choice: str | None) -> tuple[str, list[str] | None]:
    """The filter shown as chosen and the statuses it lists (``None``: all); anything
    unknown, or nothing, is the open requests."""
    if choice == QUEUE_ANY:
        return QUEUE_ANY, None
    if choice in set(Status):
        return str(choice), [str(choice)]
    return QUEUE_OPEN, sorted(OPEN)


# How long a deadline extension may be, offered in words (the value posted is the ISO
# duration); the policy's ``max_extension`` is always one of the choices.
EXTENSION_STEPS = ("P1M", "P2M")


def extension_choices(max_extension: str) -> dict[str, str]:
    """ISO duration -> its words, shortest first: the steps the policy allows, then its
    longest, e.g. ``P2M`` -> {"P1M": "1 month", "P2M": "2 months (the longest allowed)"}."""
    allowed = [step for step in EXTENSION_STEPS if not can_exceed(step, max_extension)]
    choices = {step: duration_in_words(step) for step in allowed if step != max_extension}
    choices[max_extension] = f"{duration_in_words(max_extension)} (the longest allowed)"
    return choices


def nav(scopes: Iterable[str], *, owner: bool = False) -> list[Page]:
    """The pages a principal with ``scopes`` may open, in order (staff management last, for
    an owner)."""
    held = set(scopes)
    pages = [p for p in PAGES if p.scope is None or holds(held, p.scope)]
    return [*pages, STAFF_PAGE] if owner else pages


def usable_purposes(declared: Sequence[str], key_purposes: list[str]) -> list[str]:
    """The policy's purposes this key may read personal data for (a look-up names one)."""
    return [p for p in declared if purpose_allowed(key_purposes, p)]


def chart(
    chart_id: str, title: str, kind: str, labels: Sequence[str], values: Sequence[int | None]
) -> dict[str, object]:
    """The JSON a page embeds for ``console-charts.js``: suppressed cells (None) are left
    out of the chart, exactly as they are left blank in the table beside it."""
    shown = [(label, v) for label, v in zip(labels, values, strict=True) if v is not None]
    return {
        "id": chart_id,
        "title": title,
        "type": kind,
        "labels": [label for label, _ in shown],
        "values": [v for _, v in shown],
    }


# The calendar's order of the logins-by-weekday and by-hour reports (they come by count):
# Monday first as ISO 8601 has it, hours 00 to 23; folded cells ("(other)") go last.
WEEKDAYS = analytics_rules.WEEKDAYS
HOURS = tuple(f"{hour:02d}" for hour in range(24))


def calendar_position(calendar: Sequence[str], label: str) -> int:
    """Where ``label`` goes in ``calendar`` (:data:`WEEKDAYS` or :data:`HOURS`); anything
    else after the whole calendar."""
    return calendar.index(label) if label in calendar else len(calendar)


def previous_month(today: date) -> date:
    """The last calendar month that has ended: the default month of the reports."""
    first = today.replace(day=1)
    return date(first.year - 1, 12, 1) if first.month == 1 else date(first.year, first.month - 1, 1)


# --- what a request's page offers, by kind and status ---------------------------------------

# The action that answers a verified request of each kind (and resumes an erasure).
ANSWER = {
    "erasure": "erase",
    "access": "access",
    "objection": "object",
    "rectification": "rectify",
    "restriction": "restrict",
}
NOTICES = {  # ?done=… after an action: a closed list, so no value ever rides in the URL
    "code_sent": "A new code was e-mailed to the person.",
    "verified": "The code was right: the request is verified.",
    "extended": "The deadline was extended.",
    "rejected": "The request was rejected.",
    "erased": "The erasure is done: the certificate is below.",
    "objected": "The objection was carried out.",
    "rectified": "The correction was made and the request completed.",
    "restricted": "Processing is restricted; recipients and the person are being told.",
    "lift_announced": "The e-mail telling the person is queued; lift once it is sent.",
    "lifted": "The restriction is lifted; recipients are being told.",
    "published": "The new policy version was published.",
    "withdrawn": "The version was withdrawn: it will not take effect.",
    "requeued": "The failed deliveries were queued again.",
    "opened": "The request was opened and the person e-mailed a code to confirm it is them.",
    "hold_placed": "The legal hold was placed.",
    "assigned": "Who answers the request was changed.",
    "noted": "The note was added. Only staff see it.",
}


def actions(kind: str, status: str, extended: bool) -> frozenset[str]:
    """The forms a request's page shows: the code while it waits for verification, the
    answer once verified (an erasure also while in progress: it resumes), the extension
    once and only while open, a rejection until it is being answered."""
    found: set[str] = set()
    if status == "received":
        found |= {"send_code", "verify", "reject"}
    if status == "verified":
        found |= {ANSWER[kind], "reject"}
    if status == "in_progress" and kind == "erasure":
        found.add("erase")
    if status in {"received", "verified", "in_progress"} and not extended:
        found.add("extend")
    return frozenset(found)


def restriction_actions(lifted: bool) -> frozenset[str]:
    """The forms for a restriction in force: tell the person of the lift (again, if the
    e-mail failed), and lift it (the service refuses, with the reason shown next to the
    button, until the e-mail telling the person has been sent)."""
    return frozenset() if lifted else frozenset({"lift_notice", "lift"})
