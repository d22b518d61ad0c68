"""Fixtures for the policy package: the shipped default policy and a small valid policy
that validation tests break one mistake at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from safehold.policy import Policy, PolicyFileError, PolicyIssue, load_policy, parse_policy

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_POLICY_PATH = ROOT / "policies" / "default.yaml"

MINIMAL_POLICY = """\
schema_version: 1
policy:
  title: Test Policy
  operator: Example Operator
controller:
  name: Example Operator
  email: privacy@example.com
  website: https://example.com
groups:
  - id: account
    label: Account information
    description: What you give us.
  - id: usage
    label: Usage data
    description: What we record while you use the service.
categories:
  - id: account.name
    label: Name
    group: account
    source: provided
    description: Your name.
    fields: [{name: full_name, label: full name}]
  - id: account.email
    label: E-mail address
    group: account
    source: provided
    description: Your e-mail address.
    fields: [{name: email, label: e-mail address}]
  - id: account.payment
    label: Payment information
    group: account
    source: provided
    description: Card token and last 4 digits.
    fields: [{name: processor_token, label: token}, {name: last4, label: last 4 digits}]
  - id: usage.login
    label: Login times
    group: usage
    source: observed
    description: When you signed in.
    fields: [{name: logged_in_at, label: sign-in time}]
purposes:
  - id: service_provision
    label: Service provision
    description: Run the service.
    lawful_basis: contract
    categories: [account.name, account.email, account.payment, usage.login]
  - id: platform_improvement
    label: Platform improvement
    description: Improve the service.
    lawful_basis: legitimate_interests
    interest: A better product.
    objectable: true
    aggregate_only: true
    categories: [usage.login]
  - id: communication.marketing
    label: Marketing
    description: Offers.
    lawful_basis: legitimate_interests
    interest: Telling customers about similar services.
    marketing: true
    opt_out: true
    objectable: true
    categories: [account.email]
  - id: legal_obligation
    label: Legal obligations
    description: Keep the records the law requires.
    lawful_basis: legal_obligation
    categories: [account.name, account.payment]
recipients:
  - id: payment_processor
    name: Example Payments
    role: processor
    description: Takes payments.
    purposes: [service_provision]
    categories: [account.payment]
    country: IE
    agreement: a data processing agreement
  - id: tax_office
    name: Tax office
    role: authority
    description: Audits our books.
    purposes: [legal_obligation]
    categories: [account.payment]
    country: IE
    legal_reference_required: true
    notify_on_erasure: false
retention:
  - id: account
    label: Account details
    categories: [account.name, account.email]
    period: P90D
    from: account_closed
    action: delete
    reason: Questions about the closure.
  - id: payment
    label: Payments
    categories: [account.payment]
    period: P120D
    from: account_closed
    action: delete
    reason: Chargebacks.
    exceptions:
      - id: payment_records
        description: Payment records
        period: P10Y
        from: collected
        legal_basis: Tax law.
        reason: Audits.
        survives_erasure: true
  - id: logins
    label: Logins
    categories: [usage.login]
    period: P12M
    from: collected
    action: delete
    reason: Security.
changes:
  posted_at: /policy
  notice_period: P30D
  continued_use_accepts_minor: true
  material_requires_explicit_acceptance: true
requests:
  kinds: [access, erasure]
  deadline: P1M
  max_extension: P2M
  verification: email_code
analytics:
  k_anonymity: 10
events:
  ip:
    mode: truncate
"""


@pytest.fixture(scope="session")
def default_policy() -> Policy:
    return load_policy(DEFAULT_POLICY_PATH)


@pytest.fixture(scope="session")
def default_text() -> str:
    return DEFAULT_POLICY_PATH.read_text(encoding="utf-8")


@pytest.fixture
def minimal_text() -> str:
    return MINIMAL_POLICY


@pytest.fixture
def issues_for() -> Callable[[str], list[PolicyIssue]]:
    """Parse text that must fail; return its issues."""

    def parse(text: str) -> list[PolicyIssue]:
        with pytest.raises(PolicyFileError) as caught:
            parse_policy(text, "policies/test.yaml")
        return caught.value.issues

    return parse


@pytest.fixture
def line_of() -> Callable[[str, str], int]:
    """The 1-based number of the only line of ``text`` that contains ``needle``."""

    def find(text: str, needle: str) -> int:
        lines = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
        assert len(lines) == 1, f"{needle!r} is on lines {lines}; make the needle unique"
        return lines[0]

    return find


@pytest.fixture
def edited() -> Callable[[Policy, Callable[[dict[str, Any]], None]], Policy]:
    """A copy of a policy changed through its plain data, then validated by the schema."""

    def edit(policy: Policy, change: Callable[[dict[str, Any]], None]) -> Policy:
        data = policy.model_dump(mode="json", by_alias=True)
        change(data)
        return Policy.model_validate(data)

    return edit
