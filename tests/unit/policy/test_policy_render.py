"""The published policy is generated from the rules, covers the seed's five sections, and
escapes every value an operator writes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from safehold.policy import Policy, render_html, render_markdown
from safehold.policy.capabilities import sealed_by_month
from safehold.policy.durations import duration_in_words
from safehold.policy.render import SECTION_HEADINGS, md_text, period_words

Edit = Callable[[Policy, Callable[[dict[str, Any]], None]], Policy]


@pytest.fixture(scope="module")
def markdown(default_policy: Policy) -> str:
    return render_markdown(default_policy)


def test_the_five_seed_sections_are_rendered_in_order(markdown: str) -> None:
    headings = re.findall(r"^## (.+)$", markdown, flags=re.MULTILINE)
    numbered = [h for h in headings if h[0].isdigit()]
    assert numbered == list(SECTION_HEADINGS)
    assert numbered[0] == "1. Types of Information Collected"
    assert numbered[4] == "5. Policy Updates"


def test_every_category_purpose_and_recipient_is_named(
    default_policy: Policy, markdown: str
) -> None:
    for category in default_policy.categories:
        assert f"**{md_text(category.label)}** (`{category.id}`)" in markdown
    for purpose in default_policy.purposes:
        assert f"### {md_text(purpose.label)}" in markdown
    for recipient in default_policy.recipients:
        assert f"#### {md_text(recipient.name)}" in markdown
    for group in default_policy.groups:
        assert f"### {md_text(group.label)}" in markdown


def test_every_retention_period_is_in_words(default_policy: Policy, markdown: str) -> None:
    for rule in default_policy.retention:
        assert period_words(rule.period, rule.from_) in markdown
        for exc in rule.exceptions:
            assert period_words(exc.period, exc.from_) in markdown
    for phrase in (
        "90 days after the account is closed",
        "120 days after the account is closed",
        "12 months after it is collected",
        "13 months after it is collected",
        "12 months after your last activity",
        "30 days after it is collected",
        "10 years after it is collected",
        "folded into anonymous statistics, then securely deleted",
    ):
        assert phrase in markdown


def test_section_one_says_what_payment_information_is_kept(markdown: str) -> None:
    assert (
        "We keep only: the payment processor's token for your card, card brand, last 4 digits "
        "and expiry month and year. We never keep: full card numbers and card security codes "
        "(CVV)."
    ) in markdown
    assert "We keep only: sign-in time and sign-out time." in markdown
    assert "We keep only: device type, operating system and browser type." in markdown
    assert "shortened before it is stored" in markdown


def test_section_two_gives_bases_rights_and_aggregates(markdown: str) -> None:
    section = markdown.split(SECTION_HEADINGS[1])[1].split(SECTION_HEADINGS[2])[0]
    assert "(GDPR Art. 6(1)(b))" in section
    assert "(GDPR Art. 6(1)(f))" in section
    assert "(GDPR Art. 6(1)(c))" in section
    assert "you can opt out at any time" in section
    assert "you can object to this use at any time (GDPR Art. 21)" in section
    assert "only analysed in groups of at least 10 people" in section
    assert "Without accurate information, we may be unable to provide certain features" in section


def test_section_three_has_the_sharing_rule_recipients_and_statements(markdown: str) -> None:
    section = markdown.split(SECTION_HEADINGS[2])[1].split(SECTION_HEADINGS[3])[0]
    assert (
        "We do not share your personal information with third parties except as necessary for: "
        "Legal obligations and Service provision."
    ) in section
    assert "You are responsible for providing accurate and up-to-date information." in section
    assert "service provider (processor) acting only on our instructions" in section
    assert "only when it cites a specific legal reference" in section
    assert "**Country:** DE." in section
    assert "Our service providers act only on our instructions" in section


def test_section_four_explains_deletion_requests(markdown: str) -> None:
    section = markdown.split(SECTION_HEADINGS[3])[1].split(SECTION_HEADINGS[4])[0]
    assert "You may request deletion of your personal information" in section
    assert "we answer within 1 month" in section
    assert "extend this by up to 2 months" in section
    assert "What may be kept, and why" in section
    assert "Legal basis: Tax and bookkeeping law requires payment records to be kept." in section
    assert "do-not-contact list" in section
    assert "We are not liable for data retained by third-party services" in section
    assert "deleted securely" in section


def test_section_five_limits_continued_use_to_minor_changes(markdown: str) -> None:
    section = markdown.split(SECTION_HEADINGS[4])[1]
    assert "posted at [https://example.com/policy](https://example.com/policy)" in section
    assert "announced at least 30 days before they take effect" in section
    assert "continuing to use the platform means you accept them" in section
    assert "continued use alone is not acceptance" in section


def test_controller_and_contact_are_rendered(markdown: str) -> None:
    assert "IPTV Reseller is the controller of your personal information." in markdown
    assert "[privacy@example.com](mailto:privacy@example.com)" in markdown
    assert "**WhatsApp:**" in markdown


def test_the_page_follows_the_rules(default_policy: Policy, edited: Edit) -> None:
    def shorten(data: dict[str, Any]) -> None:
        data["retention"][-1]["period"] = "P7D"

    changed = render_markdown(edited(default_policy, shorten))
    assert "7 days after it is collected" in changed
    assert "30 days after it is collected" not in changed
    assert duration_in_words("P7D") == "7 days"


HOSTILE = "<script>alert('x')</script> & [click](javascript:alert(1))"


def _hostile(data: dict[str, Any]) -> None:
    data["policy"]["title"] = "</title><script>alert(1)</script>"
    data["controller"]["name"] = "<b>Evil</b> & Co"
    data["categories"][0]["label"] = HOSTILE
    data["purposes"][0]["description"] = (
        "Line one\n# Injected heading\n<img src=x onerror=alert(1)>"
    )
    data["recipients"][0]["name"] = "*bold* | pipe `code`"


def test_html_escapes_hostile_values(default_policy: Policy, edited: Edit) -> None:
    page = render_html(edited(default_policy, _hostile))
    assert "<script>" not in page
    assert "<img" not in page
    assert 'href="javascript:' not in page
    assert "&lt;script&gt;alert('x')&lt;/script&gt; &amp; [click](javascript:alert(1))" in page
    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; Co" in page
    assert "<title>&lt;/title&gt;&lt;script&gt;" in page
    assert "<h1 id" in page
    assert page.count("<h1") == 1


def test_markdown_values_cannot_add_structure(default_policy: Policy, edited: Edit) -> None:
    markdown = render_markdown(edited(default_policy, _hostile))
    assert not re.search(r"^# Injected", markdown, flags=re.MULTILINE)
    assert "Line one \\# Injected heading \\<img src=x onerror=alert(1)\\>" in markdown
    assert "#### \\*bold\\* \\| pipe \\`code\\`" in markdown


def test_html_is_a_standalone_accessible_page(default_policy: Policy) -> None:
    page = render_html(default_policy)
    assert page.startswith("<!doctype html>")
    assert '<html lang="en">' in page
    assert "<title>Information We Collect Policy — IPTV Reseller</title>" in page
    assert '<meta name="viewport"' in page
    assert '<main id="content">' in page
    assert '<a class="skip" href="#content">' in page
    assert '<nav aria-label="Sections of this policy">' in page
    for heading in SECTION_HEADINGS:
        slug = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")
        assert f'<h2 id="{slug}">{heading}</h2>' in page
        assert f'<a href="#{slug}">{heading}</a>' in page
    assert "<table>" in page


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain words", "plain words"),
        ("a_b*c", "a\\_b\\*c"),
        ("- not a list", "\\- not a list"),
        ("1. not a list", "1\\. not a list"),
        ("two\nlines", "two lines"),
        ("<b>&", "\\<b\\>\\&"),
        ("-5 degrees", "-5 degrees"),
    ],
)
def test_md_text(value: str, escaped: str) -> None:
    assert md_text(value) == escaped


def test_a_recipient_outside_the_eea_is_named_with_its_safeguard(default_policy: Policy) -> None:
    moved = default_policy.model_copy(
        update={
            "recipients": tuple(
                r.model_copy(update={"country": "US", "transfer_safeguard": "EU standard "
                                     "contractual clauses (2021/914)"})
                if r.id == "email_delivery" else r
                for r in default_policy.recipients
            )
        }
    )  # fmt: skip
    section = render_markdown(moved).split(SECTION_HEADINGS[2])[1].split(SECTION_HEADINGS[3])[0]
    assert (
        "**Country:** US, outside the European Economic Area: the transfer relies on EU "
        "standard contractual clauses (2021/914)."
    ) in section
    assert "**Country:** DE." not in section


def test_an_exception_kept_only_for_some_people_says_for_whom(
    default_policy: Policy, markdown: str, edited: Edit
) -> None:
    assert (
        "kept for 10 years after it is collected, only if we hold your payment information."
        in markdown
    )
    assert (
        "It is kept only if we hold your payment information; otherwise it is deleted with the "
        "rest, when the rule's own period ends. This is kept even if you ask for deletion, "
        "with the same condition."
    ) in markdown

    def unlimited(data: dict[str, Any]) -> None:
        for rule in data["retention"]:
            for exc in rule.get("exceptions", []):
                exc.pop("only_for_people_with", None)

    assert "only if we hold" not in render_markdown(edited(default_policy, unlimited))


def test_the_email_provider_is_said_to_receive_every_email(
    default_policy: Policy, markdown: str, edited: Edit
) -> None:
    said = "it delivers every e-mail we send you, so with each one it receives your e-mail address"
    assert markdown.count(said) == 1

    def no_provider(data: dict[str, Any]) -> None:
        for recipient in data["recipients"]:
            recipient.pop("delivers_email", None)

    assert said not in render_markdown(edited(default_policy, no_provider))


def test_addresses_are_said_sealed_per_month_only_when_counted_from_collection(
    default_policy: Policy, edited: Edit
) -> None:
    assert "network.ip" in sealed_by_month(default_policy)
    said = render_markdown(default_policy)
    assert "IP addresses are kept only for signed-in customers" in said
    assert "we clear them from our database 30 days after collection" in said
    assert "at the latest one calendar month and 30 days after collection" in said

    def from_last_activity(data: dict[str, Any]) -> None:
        rule = next(r for r in data["retention"] if r["id"] == "network_ip")
        rule["from"] = "last_activity"

    changed = edited(default_policy, from_last_activity)
    assert "network.ip" not in sealed_by_month(changed)
    assert "IP addresses are kept only" not in render_markdown(changed)
