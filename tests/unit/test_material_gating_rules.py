"""Who is still handled under which version after a material change, what that version keeps
shorter, which disclosures it refuses, and what the change notice promises (decision 0022)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from safehold.notices import rules
from safehold.notices.announce import notice_text
from safehold.notices.models import PolicyVersion
from safehold.notices.rules import MATERIAL, MINOR, Cohort, VersionFacts
from safehold.policy import Policy, parse_policy
from safehold.policy.document import RetentionFrom
from safehold.sharing import rules as sharing_rules
from tests.conftest import DEFAULT_POLICY
from tests.e2e.test_material_gating import V1, V2

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=1000)


def history(classes: list[str]) -> list[VersionFacts]:
    return [VersionFacts(i + 1, c, T0 + timedelta(days=10 * i)) for i, c in enumerate(classes)]


def test_one_cohort_per_material_version_in_force_under_the_version_before_it() -> None:
    versions = history([MINOR, MINOR, MATERIAL, MINOR, MATERIAL])
    assert rules.cohorts(versions, NOW) == (Cohort(2, 0, 3), Cohort(4, 3, 5))
    assert rules.cohorts(versions, T0 + timedelta(days=25)) == (Cohort(2, 0, 3),)
    assert rules.handled_under(versions, 1, NOW) == 2  # v2 minor applies to everyone
    assert rules.handled_under(versions, 3, NOW) == 4
    assert rules.handled_under(versions, 4, NOW) == 4
    assert rules.handled_under(versions, 5, NOW) is None
    assert rules.pending_versions(versions, 1, NOW) == (3, 5)
    assert rules.pending_versions(versions, 4, NOW) == (5,)


def test_a_material_version_not_in_force_yet_holds_nobody_back() -> None:
    versions = history([MINOR, MATERIAL])
    assert rules.handled_under(versions, 1, T0 + timedelta(days=5)) is None
    assert rules.pending_versions(versions, 1, T0 + timedelta(days=5)) == ()


@given(st.lists(st.sampled_from([MINOR, MATERIAL]), min_size=1, max_size=10), st.integers(0, 10))
def test_handled_under_a_version_before_the_first_material_one_not_accepted(
    classes: list[str], accepted: int
) -> None:
    versions = history(classes)
    pending = rules.pending_versions(versions, accepted, NOW)
    under = rules.handled_under(versions, accepted, NOW)
    if not pending or pending[0] == 1:
        assert under is None
    else:
        assert under == pending[0] - 1
        assert under >= min(accepted, under)
        assert all(v.change_class == MINOR for v in versions if accepted < v.seq <= under)


def _policies() -> tuple[Policy, Policy]:
    return parse_policy(V1, "v1"), parse_policy(V2, "v2")


def test_the_shorter_retention_of_the_accepted_version_is_kept() -> None:
    old, new = _policies()
    assert rules.shorter_spans(old, new) == {"network.ip": ("P30D", RetentionFrom.COLLECTED)}
    assert rules.shorter_spans(new, old) == {}  # shortening applies to everyone at once


def test_a_disclosure_the_accepted_version_refuses_is_not_accepted() -> None:
    old, new = _policies()
    refusal = sharing_rules.not_accepted(
        old, new, label="v1", recipient="insights_partner", purpose="service_provision",
        categories=["account.email"], reference=None,
    )  # fmt: skip
    assert refusal is not None
    assert refusal.rule == rules.NOT_ACCEPTED == sharing_rules.NOT_ACCEPTED
    assert "handled under v1" in refusal.message
    allowed = sharing_rules.not_accepted(
        old, new, label="v1", recipient="email_delivery", purpose="service_provision",
        categories=["account.email"], reference=None,
    )  # fmt: skip
    assert allowed is None


def test_a_recipient_moved_to_another_country_waits_for_acceptance() -> None:
    old = parse_policy(V1, "v1")
    moved = V1.replace("    country: DE\n", "    country: US\n    transfer_safeguard: EU SCCs\n")
    new = parse_policy(moved, "v2")
    refusal = sharing_rules.not_accepted(
        old, new, label="v1", recipient="email_delivery", purpose="service_provision",
        categories=["account.email"], reference=None,
    )  # fmt: skip
    assert refusal is not None
    assert refusal.rule == rules.NOT_ACCEPTED
    assert "DE" in refusal.message


def _version(changes: list[tuple[str, str, str]]) -> PolicyVersion:
    return PolicyVersion(
        seq=2, change_class=MATERIAL, effective_at=T0,
        changes=[{"kind": k, "subject": "x", "description": d, "change_class": c}
                 for k, d, c in changes],
    )  # fmt: skip


def test_the_notice_says_which_changes_wait_for_acceptance_and_which_do_not() -> None:
    _, text = notice_text(
        _version([
            ("recipient.added", "New recipient: Example Insights Inc.", MATERIAL),
            ("analytics.k_anonymity_changed", "Smallest group in reports: 10 → 5 people.",
             MATERIAL),
            ("text.changed", "Contact details changed.", MINOR),
        ])
    )  # fmt: skip
    listed, promise = text.split("This is a material change.")
    assert "- Contact details changed." in listed  # every change is listed once
    held, everyone = promise.split("These changes cannot wait for each person")
    assert "Until you accept it, these changes do not apply to your data" in held
    assert "- New recipient: Example Insights Inc." in held
    assert "Smallest group" not in held
    assert "- Smallest group in reports: 10 → 5 people." in everyone
    assert "Contact details" not in everyone  # minor: in "What changes", not promised here
    assert "{{ privacy_center_url }}" in everyone


def test_only_the_kinds_enforced_per_person_are_held_back() -> None:
    for kind in ("purpose.added", "recipient.added", "recipient.categories_added",
                 "recipient.purposes_added", "sharing.allowed_purposes_added",
                 "retention.period_extended"):  # fmt: skip
        assert rules.held_back(kind)
    for kind in ("category.added", "events.ip.mode_changed", "controller.changed",
                 "analytics.k_anonymity_changed", "retention.exception.period_extended",
                 "requests.deadline_extended", "recipient.notify_on_erasure_removed"):  # fmt: skip
        assert not rules.held_back(kind)


def test_the_rendered_policy_says_what_waits_and_what_does_not() -> None:
    from safehold.policy.render import render_markdown

    text = " ".join(render_markdown(parse_policy(DEFAULT_POLICY.read_text(), "p")).split())
    assert "do not share it with a new recipient" in text
    assert "do not keep it longer than that version says" in text
    assert "they apply to everyone from their effective date" in text
    assert "apply to you only once you accept them explicitly" not in text
