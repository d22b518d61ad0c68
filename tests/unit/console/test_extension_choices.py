"""The console offers a deadline extension in words, never longer than the policy allows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from safehold.console.rules import extension_choices
from safehold.requests.errors import ExtensionInvalid
from safehold.requests.rules import extended_deadline

RECEIVED = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)


def test_two_months_allowed_offers_one_and_two_months_in_words() -> None:
    assert extension_choices("P2M") == {"P1M": "1 month", "P2M": "2 months (the longest allowed)"}


def test_a_shorter_maximum_offers_only_what_fits_and_the_maximum_itself() -> None:
    assert extension_choices("P45D") == {"P1M": "1 month", "P45D": "45 days (the longest allowed)"}
    assert extension_choices("P1M") == {"P1M": "1 month (the longest allowed)"}
    assert extension_choices("P30D") == {"P30D": "30 days (the longest allowed)"}


@pytest.mark.parametrize("maximum", ["P2M", "P45D", "P1M", "P30D", "P14D", "P1M15D"])
def test_every_choice_is_one_the_extension_accepts(maximum: str) -> None:
    for choice in extension_choices(maximum):
        try:
            extended_deadline(RECEIVED, "P1M", choice, maximum)
        except ExtensionInvalid as exc:  # pragma: no cover - the failure message
            pytest.fail(f"{choice} offered under {maximum} but refused: {exc}")
