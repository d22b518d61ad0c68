"""The cross-checks of what events may record: IP minimisation (prefix lengths, whole
addresses only for a declared security purpose and briefly) and the event names (each maps
to a usage category and names only dimensions and personal properties it may hold). Part
of :func:`safehold.policy.validate.check_policy`."""

from __future__ import annotations

from collections.abc import Iterator

from safehold.policy.document import CategoryGroup, IpMode, Policy
from safehold.policy.durations import can_exceed
from safehold.policy.issues import did_you_mean

MAX_IPV4_PREFIX = 24  # a finer prefix keeps a near-identifying address
MAX_IPV6_PREFIX = 48
MAX_FULL_IP_PERIOD = "P30D"  # whole addresses are kept only briefly, for security
EVENT_GROUPS = frozenset({CategoryGroup.USAGE})  # what an event name may record
IDENTIFYING_GROUPS = frozenset({CategoryGroup.ACCOUNT})  # never needed for aggregates

Found = tuple[str, str, str]  # (location, message, fix), as in validate.py


def _unknown(kind: str, value: str, declared: tuple[str, ...]) -> tuple[str, str]:
    plural = {"category": "categories", "purpose": "purposes"}[kind]
    return (
        f"unknown {kind} '{value}'",
        f"use one of the declared {plural}{did_you_mean(value, declared)}",
    )


def check_minimisation(policy: Policy) -> Iterator[Found]:
    ip = policy.events.ip
    for key, value, limit in (
        ("ipv4_prefix", ip.ipv4_prefix, MAX_IPV4_PREFIX),
        ("ipv6_prefix", ip.ipv6_prefix, MAX_IPV6_PREFIX),
    ):
        if value > limit:
            yield (
                f"events.ip.{key}",
                f"{key} {value} keeps too much of the address to count as truncated",
                f"use {limit} or less, or `mode: drop`",
            )
    yield from _check_full_ip(policy)


def _check_full_ip(policy: Policy) -> Iterator[Found]:
    ip = policy.events.ip
    if ip.mode is not IpMode.FULL:
        if ip.full is not None:
            yield (
                "events.ip.full",
                f"`full` is set but IP addresses are kept as '{ip.mode}'",
                "remove `full`, or set `mode: full` if whole addresses are really needed",
            )
        return
    if ip.full is None:
        yield (
            "events.ip.mode",
            "whole IP addresses would be kept without a declared purpose and period",
            "add `full: {purpose: <a purpose using network.ip>, period: P7D}`",
        )
        return
    if ip.full.purpose not in policy.purpose_ids:
        yield ("events.ip.full.purpose", *_unknown("purpose", ip.full.purpose, policy.purpose_ids))
    else:
        purpose = policy.purpose(ip.full.purpose)
        network = [
            c for c in purpose.categories
            if c in policy.category_ids and policy.category(c).group is CategoryGroup.NETWORK
        ]  # fmt: skip
        if not network:
            yield (
                "events.ip.full.purpose",
                f"purpose '{purpose.id}' uses no network category, so it cannot need IP addresses",
                "name the security purpose that lists the IP address category",
            )
    if can_exceed(ip.full.period, MAX_FULL_IP_PERIOD):
        yield (
            "events.ip.full.period",
            f"whole IP addresses kept for '{ip.full.period}' is not short",
            f"use {MAX_FULL_IP_PERIOD} or shorter, or truncate the addresses instead",
        )


def check_event_names(policy: Policy) -> Iterator[Found]:
    rules = policy.events
    seen: set[str] = set()
    for index, kind in enumerate(rules.names):
        here = f"events.names[{index}]"
        if kind.name in seen:
            yield (f"{here}.name", f"event name '{kind.name}' is declared twice", "merge them")
        seen.add(kind.name)
        if kind.category not in policy.category_ids:
            yield (f"{here}.category", *_unknown("category", kind.category, policy.category_ids))
        elif policy.category(kind.category).group not in EVENT_GROUPS:
            yield (
                f"{here}.category",
                f"event '{kind.name}' records '{kind.category}', which is not usage data",
                "use a category of the usage group; devices and IPs come from the context",
            )
        for name in sorted(set(kind.dimensions) & set(kind.personal)):
            yield (
                f"{here}.personal",
                f"property '{name}' of '{kind.name}' is both a dimension and personal",
                "keep it under `personal` only: personal properties are encrypted",
            )
    if rules.login_event == rules.logout_event:
        yield (
            "events.logout_event",
            f"'{rules.logout_event}' is both the login and the logout event",
            "give the sign-out its own event name",
        )
    if not rules.names:
        return
    login = rules.kind(rules.login_event)
    for key in ("login_event", "logout_event"):
        name = getattr(rules, key)
        declared = rules.kind(name)
        if declared is None:
            yield (
                f"events.{key}",
                f"{key.replace('_', ' ')} '{name}' is not among the declared event names",
                f"declare `- name: {name}` under events.names with the login category",
            )
        elif login is not None and declared.category != login.category:
            yield (
                f"events.{key}",
                f"'{name}' records '{declared.category}', not the login event's category",
                "sign-ins and sign-outs belong to the same (login history) category",
            )
    for index, kind in enumerate(rules.names):
        signs_in = kind.name in (rules.login_event, rules.logout_event)
        if signs_in and kind.personal:
            yield (
                f"events.names[{index}].personal",
                f"sign-in event '{kind.name}' declares personal properties",
                "the login history keeps times and dimensions only; drop `personal` here",
            )
        if login is not None and not signs_in and kind.category == login.category:
            yield (
                f"events.names[{index}].category",
                f"event '{kind.name}' records '{kind.category}', the login history category",
                f"only '{rules.login_event}' and '{rules.logout_event}' record sign-ins",
            )
