"""The one formatter for people (issue 20, item 10): counts agree in number, periods and
days read the same on /me and in the export summary, ids become words."""

from __future__ import annotations

from datetime import UTC, date, datetime

import jinja2
import pytest

from safehold import wording
from safehold.policy.document import RetentionFrom


@pytest.mark.parametrize(
    ("n", "singular", "plural", "expected"),
    [(0, "device", None, "0 devices"), (1, "device", None, "1 device"),
     (2, "device", None, "2 devices"), (1, "sign-in", None, "1 sign-in"),
     (243, "recorded event", None, "243 recorded events"),
     (1_200, "recorded event", None, "1,200 recorded events"),
     (2, "shortened IP address", "shortened IP addresses", "2 shortened IP addresses")],
)  # fmt: skip
def test_a_count_agrees_in_number(n: int, singular: str, plural: str | None, expected: str) -> None:
    assert wording.count(n, singular, plural) == expected


def test_a_period_reads_as_the_policy_says_it() -> None:
    assert wording.period("P90D", "account_closed") == "90 days after the account is closed"
    assert wording.period("P1Y6M", RetentionFrom.COLLECTED) == (
        "1 year and 6 months after it is collected"
    )


def test_days_and_ids_in_words() -> None:
    assert wording.day(datetime(2026, 12, 7, 23, 59, tzinfo=UTC)) == "2026-12-07"
    assert wording.day(date(2026, 1, 2)) == "2026-01-02"
    assert wording.label("smart_tv") == "smart TV"
    assert wording.label("set_top_box") == "set-top box or streaming stick"
    assert wording.label("partially_completed") == "partially completed"


def test_the_filters_are_installed_in_a_template_environment() -> None:
    env = jinja2.Environment(autoescape=True)
    wording.install(env)
    page = env.from_string('{{ n | count("device") }}; {{ p | period("last_activity") }}')
    assert page.render(n=1, p="P2Y") == "1 device; 2 years after your last activity"


def test_a_label_may_start_a_sentence_without_losing_its_capitals() -> None:
    assert wording.label("smart_tv", capital=True) == "Smart TV"
    assert wording.label("smartphone", capital=True) == "Smartphone"


def test_a_list_reads_as_the_published_policy_lists() -> None:
    assert wording.listed(["Name"]) == "Name"
    assert wording.listed(["Name", "E-mail address", "Phone number"]) == (
        "Name, E-mail address and Phone number"
    )
