"""A policy cannot promise what Safehold cannot do: every enumerated capability it states
(request kinds, notice channels, the verification method) is checked against the one
registry the code itself reads, and refused at the entry's path and line."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from safehold.policy import Policy, PolicyIssue, capabilities, check_policy, parse_policy
from safehold.policy.document import RecipientRole, RequestKind
from safehold.policy.issues import PolicyFileError
from safehold.requests import rules as request_rules
from safehold.subjects.schemas import RegisterIn

Issues = Callable[[str], list[PolicyIssue]]
LineOf = Callable[[str, str], int]
KINDS = "  kinds: [access, erasure]"


def test_the_shipped_policy_promises_only_what_is_implemented(default_policy: Policy) -> None:
    assert list(capabilities.check_capabilities(default_policy)) == []
    assert capabilities.offered_kinds(default_policy) == frozenset(request_rules.Kind)


def test_the_request_service_opens_exactly_the_registered_kinds() -> None:
    # requests.rules.Kind *is* the registry's enum: no second list to drift from.
    assert request_rules.Kind is capabilities.ServedKind
    assert set(capabilities.REQUEST_KINDS.values()) == set(request_rules.Kind)


def test_a_notice_channel_safehold_cannot_use_is_refused_at_its_line(
    minimal_text: str, issues_for: Issues, line_of: LineOf
) -> None:
    text = minimal_text.replace(
        "  posted_at: /policy\n", "  posted_at: /policy\n  notify: [email, website_banner]\n"
    )
    issues = [i for i in issues_for(text) if i.location == "changes.notify[1]"]
    assert len(issues) == 1
    assert "notice channel 'website_banner' is promised but Safehold does not implement it" in (
        issues[0].message
    )
    assert "email, privacy_center" in issues[0].fix
    assert issues[0].line == line_of(text, "website_banner")


def test_a_request_kind_not_in_the_registry_is_refused_at_its_index(
    minimal_text: str, issues_for: Issues, line_of: LineOf, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were restriction not built, a policy offering it would not load."""
    built = {
        k: v for k, v in capabilities.REQUEST_KINDS.items() if k is not RequestKind.RESTRICTION
    }
    monkeypatch.setattr(capabilities, "REQUEST_KINDS", built)
    text = minimal_text.replace(KINDS, "  kinds: [access, erasure, export, restriction]")
    issues = [i for i in issues_for(text) if i.location == "requests.kinds[3]"]
    assert [i.message for i in issues] == [
        "request kind 'restriction' is promised but Safehold does not implement it"
    ]
    assert issues[0].line == line_of(text, "kinds: [access")


def test_restriction_needs_a_legal_obligation_purpose_that_can_e_mail_the_person(
    minimal_text: str, issues_for: Issues
) -> None:
    text = minimal_text.replace(KINDS, "  kinds: [access, erasure, restriction]")
    issues = [i for i in issues_for(text) if i.location == "requests.kinds[2]"]
    assert len(issues) == 1
    assert "could not be told before it is lifted (Art. 18(3))" in issues[0].message
    fixed = text.replace(
        "    categories: [account.name, account.payment]",
        "    categories: [account.name, account.email, account.payment]",
    )
    assert fixed != text
    assert not [i for i in _issues_or_none(fixed) if i.location.startswith("requests.kinds")]


def _issues_or_none(text: str) -> list[PolicyIssue]:
    try:
        policy = parse_policy(text, "policies/test.yaml")
    except PolicyFileError as failed:
        return failed.issues
    return check_policy(policy)


def test_every_kind_the_schema_knows_is_implemented() -> None:
    """The schema names nothing the request service cannot open (export is the access
    request's machine-readable download)."""
    assert set(capabilities.REQUEST_KINDS) == set(RequestKind)
    assert capabilities.REQUEST_KINDS[RequestKind.EXPORT] is request_rules.Kind.ACCESS


def test_only_what_registration_requires_may_be_published_as_required(
    minimal_text: str, issues_for: Issues
) -> None:
    required = {name for name, field in RegisterIn.model_fields.items() if field.is_required()} - {
        "marketing_opt_in"
    }  # a choice asked at sign-up, not a category of data
    assert {f"account.{name}" for name in required} == capabilities.REGISTRATION_REQUIRED
    policy = parse_policy(minimal_text)
    index = next(i for i, c in enumerate(policy.categories) if c.id not in
                 capabilities.REGISTRATION_REQUIRED)  # fmt: skip
    category = policy.categories[index].id
    text = minimal_text.replace(
        f"  - id: {category}\n", f"  - id: {category}\n    required: true\n", 1
    )
    found = [i for i in issues_for(text) if i.location == f"categories[{index}].required"]
    assert len(found) == 1
    assert "Safehold creates accounts without it" in found[0].message


@pytest.mark.parametrize("role", ["buyer", "third_party", "controller", "partner"])
def test_a_recipient_can_only_be_a_processor_or_an_authority(
    minimal_text: str, issues_for: Issues, role: str
) -> None:
    """ "We do not sell it": no recipient can be declared that is not a processor acting on
    our instructions or an authority with a legal reference, and nothing goes to anyone the
    policy does not name (sharing.rules.check_request)."""
    assert {r.value for r in RecipientRole} == {"processor", "authority"}
    text = minimal_text.replace("    role: processor\n", f"    role: {role}\n", 1)
    assert text != minimal_text
    found = [i for i in issues_for(text) if i.location.endswith(".role")]
    assert len(found) == 1
