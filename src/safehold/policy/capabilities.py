"""What Safehold implements of what a policy file can promise — one registry, read both by
the validator (a policy may not offer what is not here) and by the features that do it (the
request service opens exactly the kinds registered here), so the two cannot drift apart.

The schema (``document.py``) names everything a policy may *say*; this module names what
the code *does*. It lives in ``policy/`` because the validator may not import a feature
package; the request service imports :class:`ServedKind` from here as its own ``Kind``.
A capability added to the schema before it is built is refused by :func:`check_capabilities`
with the path of the entry (``requests.kinds[3]``) until it is registered here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum

from safehold.policy.document import (
    LawfulBasis,
    NoticeChannel,
    Policy,
    RequestKind,
    RetentionFrom,
    VerificationMethod,
)


class ServedKind(StrEnum):
    """The data-subject requests the request service opens, verifies and answers."""

    ERASURE = "erasure"
    ACCESS = "access"
    RECTIFICATION = "rectification"
    OBJECTION = "objection"
    RESTRICTION = "restriction"


# Each request kind a policy may offer -> the request that answers it. ``export`` (Art. 20,
# a machine-readable copy) is answered by the access request: its download is that JSON file.
REQUEST_KINDS: Mapping[RequestKind, ServedKind] = {
    RequestKind.ACCESS: ServedKind.ACCESS,
    RequestKind.EXPORT: ServedKind.ACCESS,
    RequestKind.RECTIFICATION: ServedKind.RECTIFICATION,
    RequestKind.ERASURE: ServedKind.ERASURE,
    RequestKind.OBJECTION: ServedKind.OBJECTION,
    RequestKind.RESTRICTION: ServedKind.RESTRICTION,
}
# How people are told of a policy change: the e-mail notice (notices.announce) and the
# pending version with its accept button on /me/policy. Safehold does not run the
# operator's website, so it cannot put a banner on it.
NOTICE_CHANNELS: frozenset[NoticeChannel] = frozenset(
    {NoticeChannel.EMAIL, NoticeChannel.PRIVACY_CENTER}
)
VERIFICATION_METHODS: frozenset[VerificationMethod] = frozenset({VerificationMethod.EMAIL_CODE})
# A restricted person is told by e-mail before the restriction is lifted (Art. 18(3)); while
# restricted only legal_obligation purposes may use their data, so that e-mail (and the codes
# they need to make requests) is sent under this purpose, which must use the name and address.
RESTRICTION_NOTICE_PURPOSE = "legal_obligation"
RESTRICTION_NOTICE_CATEGORIES = ("account.name", "account.email")

# The categories a new account cannot be created without: what registration
# (``subjects.schemas.RegisterIn``) requires. A category the policy calls ``required`` is
# published as "required to create and maintain your account", so only these may be.
PERSONAL_PROPERTIES = "properties"  # the field events' personal properties are sealed as
NETWORK_IP = "network.ip"  # a known person's addresses: sealed per month too (events.ips)
IP_FIELD = "ip"  # the field they are sealed as
REGISTRATION_REQUIRED: frozenset[str] = frozenset({"account.name", "account.email"})

Found = tuple[str, str, str]  # (location, message, fix) as in validate.py


def offered_kinds(policy: Policy) -> frozenset[ServedKind]:
    """The requests a person may open under ``policy`` (kinds Safehold does not implement
    are refused by the validator, so never reach here; skipped all the same)."""
    return frozenset(REQUEST_KINDS[k] for k in policy.requests.kinds if k in REQUEST_KINDS)


def can_notify_restricted(policy: Policy) -> bool:
    """Whether the policy's ``legal_obligation`` purpose may e-mail a restricted person."""
    if RESTRICTION_NOTICE_PURPOSE not in policy.purpose_ids:
        return False
    purpose = policy.purpose(RESTRICTION_NOTICE_PURPOSE)
    return purpose.lawful_basis is LawfulBasis.LEGAL_OBLIGATION and set(
        RESTRICTION_NOTICE_CATEGORIES
    ) <= set(purpose.categories)


def collected_periods(policy: Policy) -> dict[str, str]:
    """Retention class → period, for the classes (rules and exceptions) counted from
    collection: the ones whose data is sealed per month (``safehold.vault.epochs``)."""
    periods: dict[str, str] = {}
    for rule in policy.retention:
        if rule.from_ is RetentionFrom.COLLECTED:
            periods[rule.id] = rule.period
        for exc in rule.exceptions:
            if exc.from_ is RetentionFrom.COLLECTED:
                periods[exc.id] = exc.period
    return periods


def sealed_by_month(policy: Policy) -> tuple[str, ...]:
    """The categories ingestion seals under month keys: the event categories whose personal
    properties it seals (a declared event with personal properties, stored in the month
    tables — not a sign-in or sign-out, which keeps none — whose class is counted from
    collection), and ``network.ip`` when its class is counted from collection (a known
    person's address, on an event or a sign-in; anonymous events keep none). What the
    rendered policy says of backups, and what ``retention.month_keys`` checks."""
    periods = collected_periods(policy)
    signs = {policy.events.login_event, policy.events.logout_event}
    found = {
        kind.category
        for kind in policy.events.names
        if kind.personal and kind.name not in signs
        and policy.retention_class(kind.category, PERSONAL_PROPERTIES) in periods
    }  # fmt: skip
    if NETWORK_IP in policy.category_ids and policy.retention_class(NETWORK_IP, IP_FIELD) in (
        periods
    ):
        found.add(NETWORK_IP)
    return tuple(sorted(found))


def _unimplemented(
    section: str, values: tuple[StrEnum, ...], implemented: frozenset[str], what: str
) -> Iterator[Found]:
    for index, value in enumerate(values):
        if value not in implemented:
            yield (
                f"{section}[{index}]",
                f"{what} '{value}' is promised but Safehold does not implement it",
                f"remove it; Safehold implements {', '.join(sorted(implemented))}",
            )


def check_capabilities(policy: Policy) -> Iterator[Found]:
    """Refuse any enumerated promise the code cannot keep, at the entry's path."""
    kinds = frozenset(str(k) for k in REQUEST_KINDS)
    yield from _unimplemented("requests.kinds", policy.requests.kinds, kinds, "request kind")
    channels = frozenset(str(c) for c in NOTICE_CHANNELS)
    yield from _unimplemented("changes.notify", policy.changes.notify, channels, "notice channel")
    method = policy.requests.verification
    if method not in VERIFICATION_METHODS:
        yield (
            "requests.verification",
            f"verification method '{method}' is promised but Safehold does not implement it",
            f"use {', '.join(sorted(VERIFICATION_METHODS))}",
        )
    for index, category in enumerate(policy.categories):
        if category.required and category.id not in REGISTRATION_REQUIRED:
            yield (
                f"categories[{index}].required",
                f"'{category.id}' is published as required to create and maintain an account, "
                "but Safehold creates accounts without it",
                f"set required: false (only {', '.join(sorted(REGISTRATION_REQUIRED))} are "
                "required at registration); say what happens without it in the purpose's "
                "'consequence'",
            )
    restricting = RequestKind.RESTRICTION in policy.requests.kinds
    if (
        restricting
        and RequestKind.RESTRICTION in REQUEST_KINDS
        and not can_notify_restricted(policy)
    ):
        index = policy.requests.kinds.index(RequestKind.RESTRICTION)
        yield (
            f"requests.kinds[{index}]",
            "restriction is offered but no 'legal_obligation' purpose may use the person's "
            "name and e-mail address, so they could not be told before it is lifted "
            "(Art. 18(3))",
            "declare purpose 'legal_obligation' (basis legal_obligation) with account.name "
            "and account.email, or stop offering restriction",
        )
