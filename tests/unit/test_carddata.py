"""The card detector: standard test card numbers in many shapes are found; phone numbers,
timestamps, identifiers and Luhn-failing order numbers are not."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safehold.carddata import Finding, contains_card_number, forbidden_name, luhn_valid, scan

TEST_CARDS = [
    "4111111111111111",  # Visa
    "4242424242424242",  # Visa
    "4012888888881881",  # Visa
    "4222222222222",  # Visa, 13 digits
    "5555555555554444",  # Mastercard
    "5105105105105100",  # Mastercard
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # American Express
    "371449635398431",  # American Express
    "6011111111111117",  # Discover
    "6011000990139424",  # Discover
    "30569309025904",  # Diners Club, 14 digits
    "38520000023237",  # Diners Club
    "3530111333300000",  # JCB
    "3566002020360505",  # JCB
    "6200000000000005",  # UnionPay
    "6759649826438453",  # Maestro
]


@pytest.mark.parametrize("card", TEST_CARDS)
def test_standard_test_cards_pass_luhn(card: str) -> None:
    assert luhn_valid(card)


def shapes(card: str) -> list[str]:
    fours = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    return [
        card,
        fours,
        fours.replace(" ", "-"),
        f"my card is {fours}, thanks",
        f"{card} 12/29",
        f"{fours} 2029",
        f"ref:{card}",
    ]


@pytest.mark.parametrize("card", TEST_CARDS)
def test_cards_are_found_in_every_shape(card: str) -> None:
    for text in shapes(card):
        assert contains_card_number(text), text


def test_amex_grouping_is_found() -> None:
    assert contains_card_number("3782 822463 10005")


@pytest.mark.parametrize(
    "text",
    [
        "+4915112345678",  # E.164 mobile that happens to be 13 digits starting with 4
        "+1 415 555 2671",
        "+44 20 7946 0958",
        "030 1234567",
        "1764178523000",  # epoch milliseconds
        "1764178523",  # epoch seconds
        "2026-11-26T17:45:00Z",
        "2026-11-26 17:45:00.123456",
        "4111111111111112",  # an order number that fails Luhn
        "5555555555554440",
        "123e4567-e89b-12d3-a456-426614174000",
        "192.168.100.200",
        "Visa •••• 4242",
        "4242",
        "12/29",
        "order 2024-000123-77",
        "99999999999999999999999",  # too long to be a card
    ],
)
def test_look_alikes_pass(text: str) -> None:
    assert not contains_card_number(text)


@pytest.mark.parametrize(
    "name", ["cvv", "CVC", "cvv2", "card_number", "cardNumber", "pan", "billing.card-number"]
)
def test_card_field_names_are_forbidden(name: str) -> None:
    assert forbidden_name(name.split(".")[-1])


@pytest.mark.parametrize("name", ["company", "expansion", "last4", "brand", "token", "panel"])
def test_ordinary_field_names_pass(name: str) -> None:
    assert not forbidden_name(name)


def test_scan_names_the_location_not_the_value() -> None:
    body = json.dumps({"payment": {"note": "4111 1111 1111 1111"}}).encode()
    finding = scan(body, "application/json")
    assert finding is not None
    assert finding.location == "body.payment.note"
    assert "4111" not in finding.location


def test_scan_json_numbers_keys_forms_and_raw_text() -> None:
    assert scan(b'{"n": 4111111111111111}', "application/json") is not None
    assert scan(b'{"items": [{"cvc": ""}]}', "application/json") is not None
    assert scan(b"a=1&cvv=123", "application/x-www-form-urlencoded") is not None
    assert scan(b"note=4242-4242-4242-4242", "application/x-www-form-urlencoded") is not None
    assert scan(b'{"broken": "4111111111111111"', "application/json") is not None
    assert scan(b"4111111111111111", "text/plain") is not None
    assert scan(b'{"phone": "+4915112345678", "last4": "4242"}', "application/json") is None
    assert scan(b"", "application/json") is None


def luhn_complete(prefix: str) -> str:
    for check in "0123456789":
        if luhn_valid(prefix + check):
            return prefix + check
    raise AssertionError("unreachable: one check digit always completes Luhn")


card_numbers = st.builds(
    lambda mii, body: luhn_complete(mii + body),
    st.sampled_from("23456"),
    st.integers(11, 17).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)),
)


@given(card_numbers, st.sampled_from([" ", "-", ""]), st.integers(3, 6))
def test_any_luhn_valid_card_is_found_however_grouped(card: str, sep: str, size: int) -> None:
    """Cards are written starting with a group of four; the rest in groups of 3 to 6."""
    rest = card[4:]
    grouped = sep.join([card[:4], *(rest[i : i + size] for i in range(0, len(rest), size))])
    assert contains_card_number(grouped)


@given(st.text("0123456789", min_size=13, max_size=19))
def test_a_single_digit_run_is_refused_exactly_when_it_looks_like_a_card(digits: str) -> None:
    expected = digits[0] in "23456" and luhn_valid(digits)
    assert contains_card_number(digits) == expected


@given(st.uuids())
def test_identifiers_are_never_taken_for_card_numbers(value: object) -> None:
    assert not contains_card_number(str(value))
    assert scan(f'{{"subject_ids": ["{value}"]}}'.encode(), "application/json") is None


def test_a_uuid_tail_that_would_pass_luhn_when_joined_is_not_a_card() -> None:
    # "456" + "426614174000" is 15 digits; joined across the dash it could pass Luhn.
    tail = next(
        f"{a:03d}-{b:012d}"
        for a in range(100, 999)
        for b in (426614174000 + i for i in range(20))
        if luhn_valid(f"{a:03d}{b:012d}") and str(a)[0] in "23456"
    )
    assert not contains_card_number(f"123e4567-e89b-12d3-a{tail}")


def test_a_reported_uuid_is_not_a_card() -> None:
    assert not contains_card_number("bf313814-8884-4599-89de-0176eabf1f29")


def test_escapes_cannot_smuggle_a_card_past_the_pre_check() -> None:
    spelled = '{"note": "\\u0034111 1111 1111 1111"}'  # JSON for "4111 1111 1111 1111"
    assert scan(spelled.encode(), "application/json") is not None
    hinted = '{"c\\u0076v": "123"}'  # the key "cvv"
    assert scan(hinted.encode(), "application/json") is not None
    quoted = '{"hints": "\\"Chromium\\";v=\\"130\\"", "id": "ch-12"}'
    assert scan(quoted.encode(), "application/json") is None


def test_form_bodies_are_decoded_before_they_are_checked() -> None:
    # "+" and "%20" are the spaces between a card's groups in a form body.
    for body in (b"note=4111+1111+1111+1111", b"note=4111%201111%201111%201111"):
        found = scan(body, "application/x-www-form-urlencoded")
        assert found == Finding("body.note", "card_number")
    assert scan(b"q=cooking+show&page=2", "application/x-www-form-urlencoded") is None


def test_digits_on_either_side_of_an_identifier_are_not_joined() -> None:
    identifier = "123e4567-e89b-12d3-a456-426614174000"
    assert not contains_card_number(f"4111{identifier}1111 1111 1111")
    assert contains_card_number(f"{identifier} 4111 1111 1111 1111")


noisy_text = st.text(alphabet='0123456789 --abcdef+.:"', max_size=120)


@given(noisy_text, card_numbers, noisy_text, st.sampled_from([" ", "-", ""]))
def test_the_pre_check_never_hides_what_the_full_check_finds(
    before: str, card: str, after: str, sep: str
) -> None:
    """The raw-text pre-check may only skip bodies in which the walk would find nothing."""
    grouped = sep.join(card[i : i + 4] for i in range(0, len(card), 4))
    for value in (before + grouped + after, before + after):
        body = json.dumps({"events": [{"note": value, "n": 1}]}).encode()
        if contains_card_number(value):
            assert scan(body, "application/json") is not None
        ascii_free = json.dumps({"note": value + " é"}, ensure_ascii=False).encode()
        if contains_card_number(value):
            assert scan(ascii_free, "application/json") is not None


def test_a_large_event_batch_without_card_data_passes() -> None:
    events = [
        {
            "event_id": str(uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % (1 << 128))),
            "timestamp": "2026-11-26T20:31:29.123456+00:00",
            "properties": {"channel_id": f"ch-{i % 200}", "duration_s": 1000 + i},
            "context": {
                "user_agent": "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.5)",
                "ip": "203.0.113.9",
            },
        }
        for i in range(500)
    ]
    body = json.dumps({"sent_at": "2026-11-26T20:31:30+00:00", "events": events}).encode()
    assert scan(body, "application/json") is None
    events[321]["properties"]["duration_s"] = 4111111111111111
    assert scan(json.dumps({"events": events}).encode(), "application/json") == Finding(
        "body.events[321].properties.duration_s", "card_number"
    )
