"""Find payment card data in a request body, so it can be refused before anything reads it.

Safehold keeps only what a payment processor hands back (token, brand, last 4 digits, expiry).
A full card number or a security code must never reach a table, a log or an error message,
so every request body is checked here: field names that mean a card number or a CVV, and any
13 to 19 digit sequence (spaces and dashes allowed) that passes the Luhn check and starts like a
card (ISO/IEC 7812 major industry identifier 2 to 6). Phone numbers in E.164 form (a leading +)
are not card numbers; neither are millisecond timestamps (they start with 1).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl

MIN_DIGITS, MAX_DIGITS = 13, 19
MAX_GROUP = 6  # card numbers are written in groups of 4 (Amex 4-6-5); longer groups are not
CARD_MII = frozenset("23456")  # ISO/IEC 7812 major industry identifiers used by card schemes
FORBIDDEN_NAMES = frozenset(
    {
        "cvv", "cvv2", "cvc", "cvc2", "cid", "csc", "securitycode", "cardsecuritycode",
        "pan", "cardnumber", "cardno", "ccnumber", "ccnum", "creditcard", "creditcardnumber",
        "primaryaccountnumber",
    }
)  # fmt: skip
FORBIDDEN_SUFFIXES = ("cardnumber", "cvv", "cvc")

# A run of digits where single spaces or dashes may separate groups.
_RUN = re.compile(r"(?<![\d+])\d+(?:[ -]\d+)*")
# Identifiers are never card numbers, however their digits fall: blank them out first.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# What a blanked identifier becomes: neither a digit nor a separator, so the digits on
# either side of an identifier are never joined into one number across it.
_NOT_A_SEPARATOR = "|"
# At least 13 digits with at most one space or dash between neighbours: every card number
# the scan can find (see _RUN) is such a run, so text without one needs no closer look.
_CARDISH = re.compile(r"\d(?:[ -]?\d){12,}")
CARD_INT = 10 ** (MIN_DIGITS - 1)  # the smallest integer with 13 digits
FIRST_GROUP = 4  # a card written in groups starts with 4 digits (4-4-4-4, Amex 4-6-5)


@dataclass(frozen=True)
class Finding:
    """Where card data was found: a field path, never the value."""

    location: str
    kind: str  # "field_name" | "card_number"


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _looks_like_card(digits: str) -> bool:
    return MIN_DIGITS <= len(digits) <= MAX_DIGITS and digits[0] in CARD_MII and luhn_valid(digits)


def contains_card_number(text: str) -> bool:
    """True when ``text`` holds a card number, alone or between other digit groups."""
    if _CARDISH.search(text) is None:  # fewer than 13 digits in a row: nothing to find
        return False
    for match in _RUN.finditer(_UUID.sub(_NOT_A_SEPARATOR, text)):
        groups = re.split(r"[ -]", match.group())
        # A group on its own may be the card ("4111111111111111 2029"); so may a contiguous
        # run of card-sized groups that starts with a 4-digit group ("4111 1111 1111 1111
        # 12/29", "3782 822463 10005"). Longer groups are never joined to others.
        for start, first in enumerate(groups):
            if _looks_like_card(first):
                return True
            if len(first) != FIRST_GROUP:
                continue
            digits = first
            for group in groups[start + 1 :]:
                if len(group) > MAX_GROUP:
                    break
                digits += group
                if len(digits) > MAX_DIGITS:
                    break
                if _looks_like_card(digits):
                    return True
    return False


@functools.lru_cache(maxsize=4096)  # a batch repeats the same few keys thousands of times
def forbidden_name(name: str) -> bool:
    norm = re.sub(r"[^a-z0-9]", "", name.lower())
    return norm in FORBIDDEN_NAMES or norm.endswith(FORBIDDEN_SUFFIXES)


def _may_be_card(value: object) -> bool:
    """A leaf that could hold a card number: a string with a 13-digit run, or an integer of
    13 digits or more (never a bool). Most values of a request are neither."""
    if isinstance(value, str):
        return _CARDISH.search(value) is not None
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) >= CARD_INT


def _child(path: str, key: object) -> str:
    return f"{path}.{key}" if isinstance(key, str) and len(key) <= 64 else f"{path}.*"


def _walk(value: object, path: str) -> Iterator[Finding]:
    """Findings in a parsed body, in document order. Paths are built only on the way to a
    container or a leaf that needs a closer look, not for every value."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and forbidden_name(key):
                yield Finding(_child(path, key), "field_name")
            if isinstance(item, dict | list) or _may_be_card(item):
                yield from _walk(item, _child(path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict | list) or _may_be_card(item):
                yield from _walk(item, f"{path}[{i}]")
    elif _may_be_card(value) and contains_card_number(str(value)):
        yield Finding(path, "card_number")


# Cheap pre-checks over the raw text: a body with no 13-digit run (separators allowed) outside
# an identifier, no word a card field's name contains, and no \uXXXX escape (which could spell
# one) cannot hold card data, and skips the full parse — most request bodies, every event batch.
_NAME_HINTS = ("cvv", "cvc", "cid", "csc", "pan", "card", "security", "ccnum", "credit")
_AROUND = 40  # characters either side of a run: enough to hold a whole identifier (36)


# For ASCII bodies (nearly all): digits, spaces and dashes all become "0", so a candidate
# run is found with a plain substring search instead of a regular expression tried at
# every position (which costs milliseconds on a 250 kB event batch).
_MARK = bytes.maketrans(b"0123456789 -", b"0" * 12)
_THIRTEEN = b"0" * MIN_DIGITS
_SPAN = re.compile(r"[0-9 -]+")
_WIDE_SPAN = re.compile(r"\d[\d -]{12,}")  # other scripts' digits too, as _RUN sees them


def _runs(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every run of 13 or more digits, spaces and dashes."""
    if not text.isascii():
        for match in _WIDE_SPAN.finditer(text):
            yield match.span()
        return
    marked = text.encode("ascii").translate(_MARK)
    at = marked.find(_THIRTEEN)
    while at >= 0:
        end = _SPAN.match(text, at).end()  # type: ignore[union-attr]  # at least 13 long
        yield at, end
        at = marked.find(_THIRTEEN, end)


def _has_long_digit_run(text: str) -> bool:
    """A run of at least 13 digits (single spaces and dashes between), not inside an
    identifier. Only the few runs found are looked at again with identifiers blanked out."""
    for start, end in _runs(text):
        if _CARDISH.search(text, start, end) is None:
            continue
        window = text[max(0, start - _AROUND) : end + _AROUND]
        if _CARDISH.search(_UUID.sub(_NOT_A_SEPARATOR, window)) is not None:
            return True
    return False


def _may_hold_card_data(text: str) -> bool:
    if "\\u" in text or _has_long_digit_run(text):  # only a \uXXXX escape can spell a digit
        return True
    lowered = text.lower()  # substring tests beat a case-insensitive regex alternation
    return any(hint in lowered for hint in _NAME_HINTS)


def scan(body: bytes, content_type: str) -> Finding | None:
    """The first card data in a request body, or None. Never returns the value itself."""
    if not body:
        return None
    text = body.decode("utf-8", errors="replace")
    if "x-www-form-urlencoded" in content_type:
        # Decoded first: "+" and "%20" spell the spaces between a card's groups here.
        for key, value in parse_qsl(text, keep_blank_values=True):
            found = next(_walk({key: value}, "body"), None)
            if found is not None:
                return found
        return None
    if not _may_hold_card_data(text):
        return None
    if "json" in content_type:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if parsed is not None:
            return next(_walk(parsed, "body"), None)
    # Anything else (or JSON that does not parse): the raw text still must not carry a card.
    return Finding("body", "card_number") if contains_card_number(text) else None
