"""The card detector: standard test card numbers in many shapes are found; phone numbers,
timestamps, identifiers and Luhn-failing order numbers are not."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safehold.carddata import (
    FORBIDDEN_NAMES,
    FORBIDDEN_SUFFIXES,
    MAX_DEPTH,
    BodyTooDeep,
    Finding,
    contains_card_number,
    forbidden_name,
    luhn_valid,
    scan,
    scan_query,
    utf8_json,
)

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


# --- Review 2026-12-07, F3: other separators, other scripts, numbers, encodings ----------

# Between two groups of a card's digits: any short run of punctuation or spaces, visible or
# not (D2 of the review: all nine were stored before).
SEPARATORS = [".", "/", "_", ",", "\u00a0", "  ", "\t", "\u200b", "\u00ad", " - ", ", ", "\r\n"]
# Decimal digits of other scripts (D3): fullwidth, Arabic-Indic, Extended Arabic-Indic,
# Devanagari, Bengali, Thai, Mathematical bold.
ZEROS = [0xFF10, 0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0x1D7CE]


def in_layout(card: str) -> list[str]:
    """The groups a card is printed in: fours with a shorter last group, or Amex 4-6-5."""
    if len(card) == 15 and card[0] == "3":
        return [card[:4], card[4:10], card[10:]]
    return [card[i : i + 4] for i in range(0, len(card), 4)]


def in_script(text: str, zero: int) -> str:
    return "".join(chr(zero + int(ch)) if ch.isdigit() else ch for ch in text)


@given(card_numbers, st.sampled_from(SEPARATORS), st.sampled_from([None, *ZEROS]))
def test_any_card_is_found_whatever_separates_its_groups_and_whatever_its_digits(
    card: str, sep: str, zero: int | None
) -> None:
    written = sep.join(in_layout(card))
    if zero is not None:
        written = in_script(written, zero)
    assert contains_card_number(written)
    assert contains_card_number(f"ref {written} thanks")
    for ascii_only in (True, False):  # \uXXXX escapes, or the characters themselves
        body = json.dumps({"note": written}, ensure_ascii=ascii_only).encode()
        assert scan(body, "application/json") == Finding("body.note", "card_number")
        assert scan(body, "") == Finding("body.note", "card_number")  # no content type


@given(card_numbers, st.lists(st.sampled_from(SEPARATORS), min_size=5, max_size=5))
def test_mixed_separators_are_found_too(card: str, seps: list[str]) -> None:
    groups = in_layout(card)
    written = groups[0] + "".join(s + g for s, g in zip(seps, groups[1:], strict=False))
    assert contains_card_number(written)


@pytest.mark.parametrize("zero", ZEROS)
def test_other_scripts_digits_are_found_ungrouped(zero: int) -> None:
    assert contains_card_number(in_script("4111111111111111", zero))
    assert not contains_card_number(in_script("4111111111111112", zero))  # fails Luhn


def test_invisible_characters_between_any_digits_are_dropped() -> None:
    for invisible in ("\u200b", "\u00ad", "\u2060", "\ufeff", "\u200d"):
        assert contains_card_number(invisible.join("4111111111111111"))


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-26 17:45:00.123456",
        "2026.11.26 17.45.00.123",
        "26/11/2026 17:45, 27/11/2026 18:00",
        "2026-11-26T17:45:00.123456+01:00",
        "2001:4860:4860:0000:0000:0000:0000:8888",  # IPv6: colons never separate
        "10.0.0.1, 192.168.100.200, 172.16.254.1",
        "Roku/DVP-10.0 (10.0.0.4182-88)",
        "Chrome/108.0.5359.128 Safari/537.36",
        "1,234,567.89 / 2,345,678.90",
        "+44 20 7946 0958",
        "+49.151.1234.5678",
        "tel:+4915112345678",
        "1764178523000.5",  # a millisecond timestamp with a fraction
        "price 2.50, 12.99, 4.05, 1000.00",
        "2024_11_26_1745_0001",
        "order 2024-000123-77",
    ],
)
def test_ordinary_numbers_with_other_separators_pass(text: str) -> None:
    assert not contains_card_number(text)
    assert scan(json.dumps({"note": text}).encode(), "application/json") is None


@given(st.datetimes(), st.sampled_from(["%Y-%m-%d %H:%M:%S.%f", "%Y.%m.%d %H.%M.%S",
                                        "%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M:%S.%f+00:00",
                                        "%d.%m.%Y, %H:%M:%S"]))  # fmt: skip
def test_dates_and_times_are_never_card_numbers(moment: object, layout: str) -> None:
    assert not contains_card_number(moment.strftime(layout))  # type: ignore[attr-defined]


@given(st.lists(st.ip_addresses(v=4).map(str), min_size=1, max_size=6), st.sampled_from(SEPARATORS))
def test_ip_address_lists_are_never_card_numbers(addresses: list[str], sep: str) -> None:
    assert not contains_card_number(sep.join(addresses))


@given(
    st.text("0123456789", min_size=1, max_size=3),
    st.text("0123456789", min_size=6, max_size=12),
    st.sampled_from(["", " ", ".", "-", "\u00a0"]),
)
def test_e164_phone_numbers_are_never_card_numbers(country: str, number: str, sep: str) -> None:
    """A leading + marks a phone number (up to 15 digits, the country code first)."""
    assert not contains_card_number(f"+{country}{sep}{number}")
    assert not contains_card_number(f"+{country}{sep}{number[:3]}{sep}{number[3:]}")


@pytest.mark.parametrize(
    "body",
    [
        b'{"n": 4111111111111111.0}',
        b'{"n": -4111111111111111.0}',
        b'{"n": 4.111111111111111e15}',
        b'{"n": 4.111111111111111E+15}',
        b'{"n": 41111111111111110e-1}',
        b'{"n": 3.5301113333e+15}',  # JCB 3530111333300000: few digits, a signed exponent
        b'{"n": 4111111111111110.99999999999}',  # rounds to the card as a float
        b'{"n": [1, 2, 4111111111111111.0]}',
        b"4111111111111111.0",
    ],
)
def test_json_floats_are_read_by_their_whole_part(body: bytes) -> None:
    found = scan(body, "application/json")
    assert found is not None
    assert found.kind == "card_number"
    assert "4111" not in found.location


def test_ordinary_json_numbers_pass() -> None:
    for body in (b'{"n": 1.5e3, "t": 1764178523000.0, "big": 1e300}', b"[NaN, Infinity]"):
        assert scan(body, "application/json") is None
    # not a card: 1e300's whole part is a 301-digit number
    assert scan(b'{"n": -Infinity, "m": 4111111111111112.0}', "application/json") is None


def test_a_key_holding_a_card_is_found_and_never_named() -> None:
    body = json.dumps({"props": {"4111 1111 1111 1111": 1}}).encode()
    assert scan(body, "application/json") == Finding("body.props.*", "card_number")


@pytest.mark.parametrize("key", ["c_v_v", "C-V-C", "card.number", "primary_account_number",
                                 "\uff43\uff56\uff56", "cv\tv", "Card\u00adNumber"])  # fmt: skip
def test_card_field_names_are_found_however_spelled(key: str) -> None:
    assert forbidden_name(key)
    for ascii_only in (True, False):
        body = json.dumps({"x": 1, key: "1"}, ensure_ascii=ascii_only).encode()
        found = scan(body, "application/json")
        assert found is not None
        assert found.kind == "field_name"


def test_the_name_hints_cover_every_forbidden_name() -> None:
    """The pre-check skips bodies without a hint: it must not skip a forbidden name."""
    from safehold import carddata

    for name in [*FORBIDDEN_NAMES, *(f"billing{s}" for s in FORBIDDEN_SUFFIXES)]:
        assert carddata._names_hinted(name.encode()), name


def test_a_utf8_byte_order_mark_does_not_hide_a_card() -> None:
    body = b"\xef\xbb\xbf" + b'{"note": "\\u0034111 1111 1111 1111"}'
    assert scan(body, "application/json") == Finding("body.note", "card_number")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
def test_json_in_utf16_or_utf32_is_not_utf8(encoding: str) -> None:
    """RFC 8259 §8.1: refused before anything reads it (D4)."""
    body = json.dumps({"name": "4111111111111111"}).encode(encoding)
    assert not utf8_json(body)


def test_utf8_json_passes_and_broken_utf8_does_not() -> None:
    assert utf8_json(json.dumps({"name": "Zoë Quill"}, ensure_ascii=False).encode())
    assert utf8_json(b"\xef\xbb\xbf{}")
    assert not utf8_json(b'{"name": "\xff\xfe"}')
    assert not utf8_json(b'{"name": "a\x00b"}')


def test_query_strings_are_scanned_as_starlette_decodes_them() -> None:
    assert scan_query(b"purpose=4111111111111111") == Finding("query.purpose", "card_number")
    assert scan_query(b"a=1&purpose=4111+1111.1111%C2%A01111") == Finding(
        "query.purpose", "card_number"
    )
    assert scan_query(b"cvv=1") == Finding("query.cvv", "field_name")
    assert scan_query(b"4111111111111111=x") == Finding("query.*", "card_number")
    assert scan_query(b"purpose=service_provision&limit=50&after=2026-11-26T17:45:00Z") is None
    assert scan_query(b"") is None


def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


def test_json_nested_too_deep_is_refused_not_a_recursion_error() -> None:
    card = b'"4111 1111 1111 1111"'
    with pytest.raises(BodyTooDeep):
        scan(b'{"x": ' + nested(5000) + b', "note": ' + card + b"}", "application/json")
    with pytest.raises(BodyTooDeep):
        scan(nested(MAX_DEPTH + 1, card), "application/json")
    assert scan(nested(MAX_DEPTH, card), "application/json") == Finding(
        "body" + "[0]" * MAX_DEPTH, "card_number"
    )
    # Without anything that looks like card data, the body is not parsed at all here.
    assert scan(b'{"name": "card", "x": ' + nested(5000) + b"}", "application/json") is None


@given(noisy_text, card_numbers, noisy_text, st.sampled_from(SEPARATORS), st.sampled_from(ZEROS))
def test_the_pre_check_never_hides_what_the_full_check_finds_in_any_script(
    before: str, card: str, after: str, sep: str, zero: int
) -> None:
    written = in_script(sep.join(in_layout(card)), zero)
    for value in (before + written + after, before + after):
        expected = contains_card_number(value)
        for ascii_only in (True, False):
            body = json.dumps({"events": [{"note": value, "n": 1}]}, ensure_ascii=ascii_only)
            assert (scan(body.encode(), "application/json") is not None) == expected
