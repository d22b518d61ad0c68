"""Pure rules of policy updates: classification, effective dates, what a person's activity
after a change means (acceptance by continued use, or only "notified"), and which version a
person who has not accepted a material change is still handled under (decision 0022)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from safehold.policy import Policy
from safehold.policy.diff import WIDENING_PURPOSE_KINDS, Span, longer
from safehold.policy.document import ChangeClass
from safehold.policy.durations import duration_in_words
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
# The rule that refuses what a material change allows and the person has not accepted.
NOT_ACCEPTED = "policy.not_accepted"
# The material changes Safehold holds back per person until they accept (decision 0022):
# new or wider purposes (``purposes.<id>.pending_acceptance``), new recipients or more
# categories, purposes or a different country or role for one (``policy.not_accepted`` on a
# disclosure), and longer retention (the shorter period keeps applying to them). Every other
# material change applies to everyone from its effective date, and the notice says so.
PER_PERSON_KINDS = WIDENING_PURPOSE_KINDS | frozenset(
    {
        "recipient.added",
        "recipient.categories_added",
        "recipient.purposes_added",
        "recipient.changed",
        "recipient.legal_reference_required_removed",
        "sharing.allowed_purposes_added",
        "retention.period_extended",
    }
)


class ClassLowered(ValueError):
    """The operator asked for minor where the rule diff says material."""


def final_class(computed: str, requested: str | None) -> str:
    """The operator may raise a change to material, never lower it to minor."""
    if requested is None or requested == computed:
        return computed
    if requested == MATERIAL:
        return MATERIAL
    raise ClassLowered(computed)


def earliest_effective(
    now: datetime, change_class: str, policy: Policy, *, follows: datetime | None = None
) -> datetime:
    """Material changes give people the policy's notice period; minor ones may apply now.
    Neither may take effect before the version it follows (``follows``, its effective date)."""
    earliest = add_duration(now, policy.changes.notice_period) if change_class == MATERIAL else now
    return max(earliest, follows) if follows is not None else earliest


def first_whole_day(moment: datetime) -> date:
    """The first date whose midnight (UTC) is not before ``moment``: what to enter in a form
    that takes a date."""
    day = moment.astimezone(UTC).date()
    return day if moment == datetime.combine(day, time.min, UTC) else day + timedelta(days=1)


def too_soon_words(
    change_class: str, policy: Policy, earliest: datetime, *, follows: tuple[str, datetime] | None,
) -> str:  # fmt: skip
    """The refusal of an effective date before ``earliest``: the real bound, and what sets
    it (the version followed, the notice period, or only that it cannot be in the past)."""
    when = f"{earliest.astimezone(UTC):%-d %B %Y at %H:%M} UTC"
    day = f"{first_whole_day(earliest):%-d %B %Y}"
    if follows is not None and follows[1] >= earliest:
        why = f"the version it follows, {follows[0]}, takes effect then"
    elif change_class == MATERIAL:
        why = (f"a material change waits for the policy's notice period of "
               f"{duration_in_words(policy.changes.notice_period)}")  # fmt: skip
    else:
        why = "a version cannot take effect in the past"
    return (f"this {change_class} change can take effect from {when} at the earliest "
            f"(as a date: {day}): {why}")  # fmt: skip


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


def held_back(kind: str) -> bool:
    """Whether a material change of this kind waits for each person's acceptance."""
    return kind in PER_PERSON_KINDS


def pending_versions(
    versions: Sequence[VersionFacts], accepted_seq: int, now: datetime
) -> tuple[int, ...]:
    """The material versions in force that the person has not accepted, oldest first."""
    return tuple(
        v.seq
        for v in sorted(versions, key=lambda v: v.seq)
        if v.seq > accepted_seq and v.effective_at <= now and v.change_class == MATERIAL
    )


@dataclass(frozen=True)
class Cohort:
    """The people whose newest accepted version is in ``[lo, hi)``: they have not accepted the
    material version ``hi`` and are handled under ``baseline``, the version before it."""

    baseline: int
    lo: int
    hi: int


def cohorts(versions: Sequence[VersionFacts], now: datetime) -> tuple[Cohort, ...]:
    """One cohort per material version in force (after the first version): everyone who
    accepted something before it and nothing from it on is handled under the version before
    it — its minor changes apply to everyone, its material ones wait for acceptance."""
    ordered = sorted(versions, key=lambda v: v.seq)
    found: list[Cohort] = []
    lo = 0
    for version in ordered:
        if version.change_class != MATERIAL or version.effective_at > now:
            continue
        before = [v.seq for v in ordered if v.seq < version.seq]
        if before:
            found.append(Cohort(max(before), lo, version.seq))
        lo = version.seq
    return tuple(found)


def handled_under(versions: Sequence[VersionFacts], accepted_seq: int, now: datetime) -> int | None:
    """The version the person is still handled under (None: the version in force, fully)."""
    for cohort in cohorts(versions, now):
        if cohort.lo <= accepted_seq < cohort.hi:
            return cohort.baseline
    return None


def shorter_spans(baseline: Policy, current: Policy) -> dict[str, Span]:
    """Per category, the retention span of ``baseline`` where ``current`` can keep the data
    longer: what a person handled under ``baseline`` keeps (the shorter one)."""
    spans: dict[str, Span] = {}
    for category in current.category_ids:
        if category not in baseline.category_ids:
            continue
        try:
            old, new = baseline.retention_rule_for(category), current.retention_rule_for(category)
        except KeyError:  # only in a policy that failed validation
            continue
        if longer((old.period, old.from_), (new.period, new.from_)) > 0:
            spans[category] = (old.period, old.from_)
    return spans


def follows(seqs: Sequence[int], withdrawn: set[int]) -> dict[int, int]:
    """Each version's predecessor: the newest earlier version not withdrawn (what it was
    classified and is compared against). The first version follows none."""
    found: dict[int, int] = {}
    last: int | None = None
    for seq in sorted(seqs):
        if last is not None:
            found[seq] = last
        if seq not in withdrawn:
            last = seq
    return found


def text_diff(old_text: str, new_text: str, old_label: str, new_label: str) -> str:
    """A unified diff of two rendered policies, for people who want to see every word."""
    lines = difflib.unified_diff(
        old_text.splitlines(), new_text.splitlines(), old_label, new_label, lineterm=""
    )
    return "\n".join(lines)
