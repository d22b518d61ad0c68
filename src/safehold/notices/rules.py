"""Pure rules of policy updates: classification, effective dates, and what a person's
activity after a change means (acceptance by continued use, or only "notified")."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from safehold.policy import Policy
from safehold.policy.document import ChangeClass
from safehold.policy.rules import add_duration

MINOR, MATERIAL = ChangeClass.MINOR.value, ChangeClass.MATERIAL.value
ACCEPTING_METHODS = frozenset({"sign_up", "explicit", "continued_use"})
# The category a person's acceptance records are read as: what they did on the platform
# (signed up, accepted in the privacy center, kept using the service), so a purpose that may
# not use ``usage.action`` — marketing, legal obligations, aggregate-only improvement — does
# not read them either (decision 0018).
ACCEPTANCE_CATEGORY = "usage.action"
# Version numbers are 32-bit integer columns: a larger one in a URL is refused (422), not a 500.
MAX_VERSION = 2**31 - 1


class ClassLowered(ValueError):
    """The operator asked for minor where the rule diff says material."""


def final_class(computed: str, requested: str | None) -> str:
    """The operator may raise a change to material, never lower it to minor."""
    if requested is None or requested == computed:
        return computed
    if requested == MATERIAL:
        return MATERIAL
    raise ClassLowered(computed)


def earliest_effective(now: datetime, change_class: str, policy: Policy) -> datetime:
    """Material changes give people the policy's notice period; minor ones may apply now."""
    if change_class == MATERIAL:
        return add_duration(now, policy.changes.notice_period)
    return now


@dataclass(frozen=True)
class VersionFacts:
    seq: int
    change_class: str
    effective_at: datetime
    needs_acceptance: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActivityOutcome:
    """What a person's activity at ``now`` records: acceptance of ``accepted`` by continued
    use, and "notified" for the material versions they still have to accept explicitly."""

    accepted: int | None
    notified: tuple[int, ...]


def in_force(versions: Sequence[VersionFacts], now: datetime) -> VersionFacts | None:
    current = None
    for version in sorted(versions, key=lambda v: v.seq):
        if version.effective_at <= now:
            current = version
    return current


def on_activity(
    versions: Sequence[VersionFacts], accepted_seq: int, now: datetime, *, minor_by_use: bool
) -> ActivityOutcome:
    """Walk the versions in force after the person's last accepted one: minor changes are
    accepted by continued use (when the policy says so) up to the first material change,
    which — like every material one after it — is only "notified" until accepted explicitly.
    """
    accepted: int | None = None
    notified: list[int] = []
    blocked = not minor_by_use
    for version in sorted(versions, key=lambda v: v.seq):
        if version.seq <= accepted_seq or version.effective_at > now:
            continue
        if version.change_class == MATERIAL:
            blocked = True
            notified.append(version.seq)
        elif not blocked:
            accepted = version.seq
    return ActivityOutcome(accepted, tuple(notified))


def pending_purposes(
    versions: Sequence[VersionFacts], accepted_seq: int, now: datetime
) -> frozenset[str]:
    """Purposes the person may not yet be processed for: those a material version in force
    added or widened after the last version the person accepted."""
    return frozenset(
        purpose
        for v in versions
        if v.seq > accepted_seq and v.effective_at <= now and v.change_class == MATERIAL
        for purpose in v.needs_acceptance
    )


def text_diff(old_text: str, new_text: str, old_label: str, new_label: str) -> str:
    """A unified diff of two rendered policies, for people who want to see every word."""
    lines = difflib.unified_diff(
        old_text.splitlines(), new_text.splitlines(), old_label, new_label, lineterm=""
    )
    return "\n".join(lines)
