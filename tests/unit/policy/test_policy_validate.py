"""Cross-checks: each kind of mistake an operator can make in a policy file, reported at
its line, naming the offending value, with a fix.

Each case breaks the valid minimal policy in one place (``old`` -> ``new``), then checks
the issue at ``location``: its line is the line holding ``needle``, its message contains
``message`` and its fix contains ``fix``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from safehold.policy import PolicyIssue
from tests.unit.policy.conftest import DEFAULT_POLICY_PATH

Issues = Callable[[str], list[PolicyIssue]]
LineOf = Callable[[str, str], int]


@dataclass(frozen=True)
class Mistake:
    old: str
    new: str
    location: str
    needle: str
    message: str
    fix: str


MISTAKES = {
    "unknown category in a purpose": Mistake(
        "aggregate_only: true\n    categories: [usage.login]",
        "aggregate_only: true\n    categories: [usage.logn]",
        "purposes[1].categories[0]",
        "usage.logn",
        "unknown category 'usage.logn'",
        "did you mean 'usage.login'?",
    ),
    "unknown purpose in a recipient": Mistake(
        "    purposes: [service_provision]\n    categories: [account.payment]\n    country: IE\n"
        "    agreement",
        "    purposes: [service_provison]\n    categories: [account.payment]\n    country: IE\n"
        "    agreement",
        "recipients[0].purposes[0]",
        "service_provison",
        "unknown purpose 'service_provison'",
        "did you mean 'service_provision'?",
    ),
    "unknown category in a recipient": Mistake(
        "    purposes: [service_provision]\n    categories: [account.payment]",
        "    purposes: [service_provision]\n    categories: [account.card]",
        "recipients[0].categories[0]",
        "account.card",
        "unknown category 'account.card'",
        "use one of the declared categories",
    ),
    "recipient receives a category none of its purposes allows": Mistake(
        "    purposes: [legal_obligation]\n    categories: [account.payment]",
        "    purposes: [legal_obligation]\n    categories: [account.payment, usage.login]",
        "recipients[1].categories[1]",
        "categories: [account.payment, usage.login]",
        "recipient 'tax_office' receives 'usage.login', which none of its purposes",
        "add 'usage.login' to one of those purposes, or remove it here",
    ),
    "recipient outside the seed's sharing rule": Mistake(
        "    purposes: [service_provision]\n    categories: [account.payment]",
        "    purposes: [service_provision, communication.marketing]\n"
        "    categories: [account.payment]",
        "recipients[0].purposes[1]",
        "communication.marketing]",
        "receives data for 'communication.marketing', but the sharing rule only allows",
        "remove this purpose from the recipient",
    ),
    "authority without a legal reference": Mistake(
        "    legal_reference_required: true\n",
        "",
        "recipients[1].role",
        "role: authority",
        "authority 'tax_office' can receive data without a legal reference",
        "legal_reference_required: true",
    ),
    "processor without an agreement": Mistake(
        "    agreement: a data processing agreement\n",
        "",
        "recipients[0].role",
        "role: processor",
        "processor 'payment_processor' has no agreement",
        "GDPR Art. 28(3)",
    ),
    "recipient outside the EEA without a transfer safeguard": Mistake(
        "    categories: [account.payment]\n    country: IE\n    agreement",
        "    categories: [account.payment]\n    country: US\n    agreement",
        "recipients[0].country",
        "country: US",
        "recipient 'payment_processor' is in US, outside the European Economic Area, and no "
        "safeguard for the transfer is named",
        "transfer_safeguard:",
    ),
    "category with no retention rule": Mistake(
        "    categories: [account.name, account.email]\n    period: P90D",
        "    categories: [account.name]\n    period: P90D",
        "categories[1].id",
        "- id: account.email",
        "category 'account.email' has no retention rule",
        "add it to a rule under retention",
    ),
    "category in two retention rules": Mistake(
        "    categories: [usage.login]\n    period: P12M",
        "    categories: [usage.login, account.email]\n    period: P12M",
        "retention[2].categories[1]",
        "categories: [usage.login, account.email]",
        "category 'account.email' is in two retention rules ('account' and 'logins')",
        "keep it in exactly one rule",
    ),
    "duplicate category id": Mistake(
        "  - id: usage.login\n    label: Login times",
        "  - id: account.name  # copied\n    label: Login times",
        "categories[3].id",
        "# copied",
        "duplicate id 'account.name' in categories",
        "give every entry its own id",
    ),
    "duplicate purpose id": Mistake(
        "  - id: legal_obligation\n    label: Legal obligations",
        "  - id: service_provision  # copied\n    label: Legal obligations",
        "purposes[3].id",
        "# copied",
        "duplicate id 'service_provision' in purposes",
        "give every entry its own id",
    ),
    "marketing purpose without opt-out": Mistake(
        "    marketing: true\n    opt_out: true\n",
        "    marketing: true\n",
        "purposes[2].opt_out",
        "- id: communication.marketing",
        "marketing purpose 'communication.marketing' cannot be opted out of",
        "opt_out: true",
    ),
    "marketing purpose that outlives the account": Mistake(
        "    marketing: true\n",
        "    marketing: true\n    after_closure: true\n",
        "purposes[2].after_closure",
        "after_closure: true",
        "marketing purpose 'communication.marketing' would continue after the account is closed",
        "after_closure: false",
    ),
    "legitimate interests that cannot be objected to": Mistake(
        "    objectable: true\n    aggregate_only: true",
        "    objectable: false\n    aggregate_only: true",
        "purposes[1].objectable",
        "objectable: false",
        "purpose 'platform_improvement' relies on legitimate interests but cannot be objected",
        "GDPR Art. 21",
    ),
    "legitimate interests without naming them": Mistake(
        "    lawful_basis: legitimate_interests\n    interest: A better product.\n",
        "    lawful_basis: legitimate_interests  # no interest named\n",
        "purposes[1].lawful_basis",
        "# no interest named",
        "purpose 'platform_improvement' relies on legitimate interests without naming them",
        "interest:",
    ),
    "consent that cannot be withdrawn": Mistake(
        "    lawful_basis: legitimate_interests\n    interest: Telling customers about similar "
        "services.\n    marketing: true\n    opt_out: true\n",
        "    lawful_basis: consent\n    marketing: false\n",
        "purposes[2].opt_out",
        "- id: communication.marketing",
        "consent-based purpose 'communication.marketing' cannot be withdrawn",
        "GDPR Art. 7(3)",
    ),
    "retention exception without a legal basis": Mistake(
        "        legal_basis: Tax law.\n",
        "",
        "retention[1].exceptions[0]",
        "- id: payment_records",
        "retention exception 'payment_records' has no legal basis",
        "legal_basis:",
    ),
    "retention exception without a reason": Mistake(
        "        reason: Audits.\n",
        "",
        "retention[1].exceptions[0]",
        "- id: payment_records",
        "retention exception 'payment_records' has no reason",
        "reason:",
    ),
    "retention exception for a category its rule does not govern": Mistake(
        "        description: Payment records\n",
        "        description: Payment records\n        categories: [account.name]\n",
        "retention[1].exceptions[0].categories[0]",
        "categories: [account.name]",
        "exception 'payment_records' covers 'account.name', which rule 'payment'",
        "use one of: account.payment",
    ),
    "aggregate-only purpose listing payment data": Mistake(
        "aggregate_only: true\n    categories: [usage.login]",
        "aggregate_only: true\n    categories: [usage.login, account.payment]",
        "purposes[1].categories[1]",
        "categories: [usage.login, account.payment]",
        "aggregate-only purpose 'platform_improvement' lists 'account.payment'",
        "remove 'account.payment' from this purpose",
    ),
    "category no purpose uses": Mistake(
        "  - id: usage.login\n",
        "  - id: account.phone\n    label: Phone\n    group: account\n    source: provided\n"
        "    description: Your phone number.\n    fields: [{name: phone, label: phone}]\n"
        "  - id: usage.login\n",
        "categories[3].id",
        "- id: account.phone",
        "category 'account.phone' is collected but no purpose uses it",
        "stop collecting it",
    ),
    "category group without a description": Mistake(
        "  - id: usage\n    label: Usage data\n    description: What we record while you use "
        "the service.\n",
        "",
        "categories[3].group",
        "group: usage",
        "category 'usage.login' is in group 'usage', which has no entry in groups",
        "- id: usage",
    ),
    "sharing rule naming an unknown purpose": Mistake(
        "retention:\n",
        "sharing:\n  allowed_purposes: [legal_obligation, service_provisioning]\nretention:\n",
        "sharing.allowed_purposes[1]",
        "service_provisioning",
        "unknown purpose 'service_provisioning'",
        "did you mean 'service_provision'?",
    ),
    "material changes accepted by continued use": Mistake(
        "material_requires_explicit_acceptance: true",
        "material_requires_explicit_acceptance: false",
        "changes.material_requires_explicit_acceptance",
        "material_requires_explicit_acceptance",
        "material changes would be accepted by continued use",
        "set it to true",
    ),
    "request deadline longer than GDPR allows": Mistake(
        "  deadline: P1M",
        "  deadline: P45D",
        "requests.deadline",
        "deadline: P45D",
        "request deadline 'P45D' can end later than one month",
        "GDPR Art. 12(3)",
    ),
    "request extension longer than GDPR allows": Mistake(
        "  max_extension: P2M",
        "  max_extension: P3M",
        "requests.max_extension",
        "max_extension: P3M",
        "request extension 'P3M' can be longer than two months",
        "P2M or shorter",
    ),
    "IP address kept whole": Mistake(
        "    mode: truncate\n",
        "    mode: truncate\n    ipv4_prefix: 32\n",
        "events.ip.ipv4_prefix",
        "ipv4_prefix: 32",
        "ipv4_prefix 32 keeps too much of the address",
        "use 24 or less",
    ),
    "duplicate retention exception id": Mistake(
        "    reason: Security.\n",
        "    reason: Security.\n    exceptions:\n      - id: payment_records  # copied\n"
        "        description: Login audit\n        period: P2Y\n        from: collected\n"
        "        legal_basis: Security law.\n        reason: Audits.\n",
        "retention[2].exceptions[0].id",
        "# copied",
        "duplicate retention exception id 'payment_records'",
        "unique across the whole policy",
    ),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_mistake_is_reported_at_its_line_with_a_fix(
    name: str, minimal_text: str, issues_for: Issues, line_of: LineOf
) -> None:
    mistake = MISTAKES[name]
    assert minimal_text.count(mistake.old) == 1, "the edit must apply to exactly one place"
    text = minimal_text.replace(mistake.old, mistake.new)
    issues = issues_for(text)
    matching = [i for i in issues if i.location == mistake.location]
    assert matching, f"no issue at {mistake.location}; got {[str(i) for i in issues]}"
    issue = next((i for i in matching if mistake.message in i.message), matching[0])
    assert mistake.message in issue.message
    assert mistake.fix in issue.fix
    assert issue.line == line_of(text, mistake.needle)
    assert issue.source == "policies/test.yaml"
    assert str(issue).startswith(f"policies/test.yaml:{issue.line}: {mistake.location}: ")


def test_there_are_at_least_ten_kinds_of_mistake() -> None:
    assert len({m.message.split("'")[0] for m in MISTAKES.values()}) >= 10


def test_exception_field_not_declared_by_its_categories(issues_for: Issues) -> None:
    text = DEFAULT_POLICY_PATH.read_text()
    broken = text.replace("fields: [card_brand, last4, expiry]", "fields: [card_brand, cvv]")
    assert broken != text
    issues = issues_for(broken)
    assert any("field 'cvv'" in i.message and i.line is not None for i in issues)
    assert any("last4" in i.fix for i in issues)


def test_retention_class_splits_fields_kept_longer() -> None:
    from safehold.policy import load_policy

    policy = load_policy(DEFAULT_POLICY_PATH)
    assert policy.retention_class("account.payment", "last4") == "payment_records"
    assert policy.retention_class("account.payment", "processor_token") == "payment"
    assert policy.retention_class("account.name", "full_name") == "invoice_records"
    assert policy.retention_class("account.email", "email") == "account_contact"


def test_an_exception_limited_to_people_with_an_undeclared_category_is_refused(
    issues_for: Issues,
) -> None:
    text = DEFAULT_POLICY_PATH.read_text()
    broken = text.replace(
        "only_for_people_with: [account.payment]", "only_for_people_with: [account.invoice]"
    )
    assert broken != text
    issues = issues_for(broken)
    found = [i for i in issues if i.location.endswith("only_for_people_with[0]")]
    assert found, [str(i) for i in issues]
    assert "account.invoice" in found[0].message
    assert found[0].line is not None


def test_a_limit_on_whom_an_exception_keeps_needs_survives_erasure(issues_for: Issues) -> None:
    text = DEFAULT_POLICY_PATH.read_text()
    broken = text.replace(
        "        survives_erasure: true\n        # Only people who were billed",
        "        # Only people who were billed",
    )
    assert broken != text
    issues = issues_for(broken)
    assert any(
        i.location.endswith("only_for_people_with") and "survives_erasure" in i.fix for i in issues
    ), [str(i) for i in issues]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    role: processor\n    description: Delivers the e-mails",
         "    role: authority\n    legal_reference_required: true\n"
         "    description: Delivers the e-mails", "is not a processor"),
        ("    categories: [account.email, account.name]\n    country: DE",
         "    categories: [account.email]\n    country: DE", "account.name"),
        ("    purposes: [service_provision]\n    categories: [account.email, account.name]\n"
         "    country: DE",
         "    purposes: [service_provision, legal_obligation]\n"
         "    categories: [account.email, account.name]\n    country: DE", "2 purposes"),
        ("    country: IE\n    agreement: a data processing agreement (GDPR Art. 28)\n"
         "  # The e-mail provider",
         "    country: IE\n    agreement: a data processing agreement (GDPR Art. 28)\n"
         "    delivers_email: true\n  # The e-mail provider", "both deliver every e-mail"),
    ],
)  # fmt: skip
def test_the_email_provider_must_be_one_processor_receiving_what_an_email_carries(
    issues_for: Issues, old: str, new: str, message: str
) -> None:
    text = DEFAULT_POLICY_PATH.read_text()
    assert text.count(old) == 1, old
    issues = issues_for(text.replace(old, new))
    assert any(i.location.endswith("delivers_email") and message in i.message for i in issues), [
        str(i) for i in issues
    ]
