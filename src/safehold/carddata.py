"""Find payment card data in a request, so it can be refused before anything reads it.

Safehold keeps only what a payment processor hands back (token, brand, last 4 digits, expiry).
A full card number or a security code must never reach a table, a log or an error message,
so every request body and query string is checked here: field names that mean a card number
or a CVV, and any 13 to 19 digit number that passes the Luhn check and starts like a card
(ISO/IEC 7812 major industry identifier 2 to 6), however it is written:

- digits of any script count (fullwidth, Arabic-Indic, Devanagari…: NFKC, then every
  Unicode decimal digit as its ASCII value), and invisible format characters (zero-width
  space, soft hyphen…) are dropped;
- groups may be separated by a single space or dash, as before, in any grouping that starts
  with a group of four; or by any short run (up to 3) of other non-alphanumeric characters
  (dots, slashes, commas, tabs, no-break spaces…), and then only in the layouts cards are
  printed in (fours, the last group shorter; Amex 4-6-5, Diners 4-6-4), which keeps dates,
  times, addresses and version strings out. A colon never separates (times, IPv6);
- JSON numbers of either type count from 10^12 up, by their whole part
  (``4111111111111111.0``, ``4.111111111111111e15``).

Phone numbers in E.164 form (a leading +) are not card numbers; neither are millisecond
timestamps (they start with 1), nor UUIDs (blanked out before digits are looked at).
"""

from __future__ import annotations

import codecs
import functools
import json
import math
import re
import string
import unicodedata
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
CARD_INT = 10 ** (MIN_DIGITS - 1)  # the smallest number with 13 digits
FIRST_GROUP = 4  # a card written in groups starts with 4 digits (4-4-4-4, Amex 4-6-5)
MAX_SEPARATOR = 3  # characters between two groups of a card's digits
PLAIN_SEPARATORS = frozenset({" ", "-"})  # between these, any grouping from a first four
WIDE_LAYOUTS = frozenset({(4, 6, 5), (4, 6, 4)})  # Amex, Diners; the others are fours
# Containers nested in a JSON body the scan reads: deeper is refused (BodyTooDeep) rather
# than recursed into. pydantic's JSON parser (event batches) stops at about the same depth,
# and no other request body nests more than a few levels.
MAX_DEPTH = 200


class BodyTooDeep(Exception):
    """A JSON body nested deeper than :data:`MAX_DEPTH`: refused, never walked."""


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


# --- Text as the digit scan sees it -----------------------------------------------------

_CACHED_CHARACTERS = 8192  # distinct non-ASCII characters remembered (bounded: any text)


class _Proxy(dict[int, str | None]):
    """``str.translate`` table to ASCII for the digit scan: a decimal digit of any script
    becomes its ASCII digit, a letter ``a``, anything else (spaces, punctuation, marks) a
    space, and an invisible format character (category Cf: zero-width space, soft hyphen)
    ``invisible``. Looked up once per distinct character."""

    def __init__(self, invisible: str | None) -> None:
        super().__init__()
        self.invisible = invisible

    def __missing__(self, code: int) -> str | None:
        ch = chr(code)
        category = unicodedata.category(ch)
        value: str | None
        if category == "Cf":
            value = self.invisible
        elif category == "Nd":
            value = str(unicodedata.decimal(ch))
        elif ch.isalnum():
            value = "a"
        else:
            value = " "
        if len(self) < _CACHED_CHARACTERS:
            self[code] = value
        return value


def _error_handler(proxy: _Proxy) -> str:
    """A codec error handler: encoding to ASCII, each run of other characters goes through
    ``proxy`` (the ASCII around it is copied at C speed; ``str.translate`` would look up
    every character)."""
    name = f"safehold.carddata.{proxy.invisible!r}"

    def handle(exc: UnicodeError) -> tuple[str, int]:
        if not isinstance(exc, UnicodeEncodeError):
            raise exc
        return exc.object[exc.start : exc.end].translate(proxy), exc.end

    codecs.register_error(name, handle)
    return name


# An invisible character between digits is read both ways: dropped ("4111<ZWSP>1111…" is
# one group) and as a separator ("4111.1111.1111<ZWSP>1111" is four).
_DROPPED, _SPACED = _error_handler(_Proxy(None)), _error_handler(_Proxy(" "))


def _ascii_forms(text: str) -> list[bytes]:
    """``text`` as ASCII in which every digit, separator and barrier is where the reader
    sees it: NFKC first (fullwidth forms, no-break spaces), then :class:`_Proxy`; two
    forms when invisible characters were read both ways."""
    if text.isascii():
        return [text.encode("ascii")]
    text = unicodedata.normalize("NFKC", text)
    dropped, spaced = text.encode("ascii", _DROPPED), text.encode("ascii", _SPACED)
    return [dropped] if len(dropped) == len(spaced) else [dropped, spaced]


def _ascii(text: str) -> str:
    return text if text.isascii() else _ascii_forms(text)[0].decode("ascii")


# In ASCII text: anything but a letter, a digit or a colon may separate two digit groups.
_SEP = r"[^0-9A-Za-z:]"
_RUN = re.compile(rf"[0-9]+(?:{_SEP}{{1,{MAX_SEPARATOR}}}[0-9]+)*")
_GROUP = re.compile(r"[0-9]+")
_SEPARATOR = re.compile(rf"{_SEP}+")
# Identifiers are never card numbers, however their digits fall: blank them out first,
# with a letter, so the digits on either side of one are never joined across it.
_UUID_TEXT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID = re.compile(_UUID_TEXT)
_UUID_BYTES = re.compile(_UUID_TEXT.encode())
_NOT_A_SEPARATOR = "x"


def _digits(text: str) -> int:
    return sum(map(text.count, "0123456789"))


def _card_layout(lengths: list[int]) -> bool:
    """Groups as cards are printed: fours, the last one shorter (4-4-4-4, 4-4-4-4-3,
    4-4-4-1), or Amex 4-6-5 and Diners 4-6-4."""
    *fours, last = lengths
    return tuple(lengths) in WIDE_LAYOUTS or (
        all(n == FIRST_GROUP for n in fours) and last <= FIRST_GROUP
    )


def _card_in_run(run: str, before: str) -> bool:
    groups, separators = _GROUP.findall(run), _SEPARATOR.findall(run)
    # A group on its own may be the card ("4111111111111111 2029"); so may a contiguous
    # run of card-sized groups that starts with a 4-digit group ("4111 1111 1111 1111
    # 12/29", "3782 822463 10005"). Longer groups are never joined to others. A group right
    # after a "+" starts a phone number, not a card.
    for start, first in enumerate(groups):
        if (separators[start - 1] if start else before).endswith("+"):
            continue
        if _looks_like_card(first):
            return True
        if len(first) != FIRST_GROUP:
            continue
        digits, lengths, plain = first, [FIRST_GROUP], True
        for separator, group in zip(separators[start:], groups[start + 1 :], strict=False):
            if len(group) > MAX_GROUP or len(digits) + len(group) > MAX_DIGITS:
                break
            digits += group
            lengths.append(len(group))
            plain = plain and separator in PLAIN_SEPARATORS
            if (plain or _card_layout(lengths)) and _looks_like_card(digits):
                return True
    return False


# Digits and separators become "0"; letters and colons "a". A stretch of 13 "0"s is where
# a card number may be, found with a substring search: a regular expression tried at every
# position costs milliseconds on a 250 kB event batch.
_MARK = bytes(97 if c > 127 or chr(c).isalpha() or c == ord(":") else 48 for c in range(256))
_THIRTEEN = b"0" * MIN_DIGITS
_NOT_DIGIT = bytes(c for c in range(256) if not 48 <= c <= 57)


def _long_runs(raw: bytes, mark: bytes = _MARK) -> Iterator[tuple[int, int]]:
    """(start, end) of every stretch of digits and separators holding 13 digits."""
    marked = raw.translate(mark)
    at = marked.find(_THIRTEEN)
    while at >= 0:
        end = marked.find(b"a", at)
        end = len(raw) if end < 0 else end
        if len(raw[at:end].translate(None, _NOT_DIGIT)) >= MIN_DIGITS:
            yield at, end
        at = marked.find(_THIRTEEN, end)


def contains_card_number(text: str) -> bool:
    """True when ``text`` holds a card number, alone or between other digit groups."""
    return any(_card_number_in_ascii(form) for form in _ascii_forms(text))


def _card_number_in_ascii(raw: bytes) -> bool:
    if raw.translate(_MARK).find(_THIRTEEN) < 0:  # most text: nothing to find
        return False
    text = raw.decode("ascii")
    if "-" in text:
        text = _UUID.sub(_NOT_A_SEPARATOR, text)
    for match in _RUN.finditer(text):
        start = match.start()
        if _card_in_run(match.group(), text[start - 1 : start]):
            return True
    return False


@functools.lru_cache(maxsize=4096)  # a batch repeats the same few keys thousands of times
def forbidden_name(name: str) -> bool:
    norm = re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKC", name).lower())
    return norm in FORBIDDEN_NAMES or norm.endswith(FORBIDDEN_SUFFIXES)


# --- Parsed values ------------------------------------------------------------------------


def _may_be_card(value: object) -> bool:
    """A leaf that could hold a card number: a string that may have 13 digits, or a number
    of 13 digits or more (never a bool). Most values of a request are neither."""
    if isinstance(value, str):  # NFKC may lengthen other text: it gets the full check
        return not value.isascii() or value.encode().translate(_MARK).find(_THIRTEEN) >= 0
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) >= CARD_INT
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) >= CARD_INT


def _leaf_is_card(value: object) -> bool:
    if isinstance(value, float):  # its whole part, as the digits a reader would see
        return contains_card_number(str(int(value)))
    return contains_card_number(str(value))


def _child(path: str, key: object) -> str:
    """A key is named in a location only when it is short and could not hold a card."""
    if isinstance(key, str) and len(key) <= 64 and _digits(_ascii(key)) < MIN_DIGITS:
        return f"{path}.{key}"
    return f"{path}.*"


def _walk(value: object, path: str, depth: int = 0) -> Iterator[Finding]:
    """Findings in a parsed body, in document order; keys are checked before what they
    hold. Paths are built only on the way to a container or a leaf that needs a closer
    look, not for every value."""
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            raise BodyTooDeep
        depth += 1
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                if forbidden_name(key):
                    yield Finding(_child(path, key), "field_name")
                if _may_be_card(key) and contains_card_number(key):
                    yield Finding(f"{path}.*", "card_number")
            if isinstance(item, dict | list) or _may_be_card(item):
                yield from _walk(item, _child(path, key), depth)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict | list) or _may_be_card(item):
                yield from _walk(item, f"{path}[{i}]", depth)
    elif _leaf_is_card(value):
        yield Finding(path, "card_number")


# --- The cheap pre-check of a JSON body ---------------------------------------------------
#
# A JSON body that cannot hold card data is not parsed at all (most bodies, every event
# batch): no \uXXXX escape (which could spell anything), no key that may be a card field's
# name, and no card number or number of 13 digits or more written inexactly (an exponent, a
# fraction) in the raw text. A card in a value is one in the raw text too once each escape
# (\" \n \t …) is blanked to the one separator character it stands for (its letter would
# end the run); a run in the raw text may join neighbouring values, which can only find
# more. Every step is a byte translation or a substring search, or a regular expression
# with a literal first character: one tried at every position costs milliseconds on a
# 250 kB batch.

_ESCAPE = re.compile(rb'\\[bfnrt"\\/]')
_FULLWIDTH_QUOTE = "\uff02"  # the one character NFKC turns into '"'
_LOWER = bytes.maketrans(string.ascii_uppercase.encode(), string.ascii_lowercase.encode())
_NOT_ALNUM = bytes(c for c in range(256) if not chr(c).isascii() or not chr(c).isalnum())
# Every name forbidden_name refuses holds one of these, once lower-cased and stripped of
# all but letters and digits (tested: tests/unit/test_carddata.py).
_C_NAMES = re.compile(rb"c(?:v[vc]|id|sc|ardn|cnum|reditcard)")
_OTHER_NAMES = (b"pan", b"securitycode", b"primaryaccount")
# In JSON text no value runs across a quote either.
_JSON_MARK = bytes(48 if m == 48 and chr(c) != '"' else 97 for c, m in enumerate(_MARK))
# A number whose value is not its digits as written: 4.111111111111111e15, or one whose
# fraction rounds it (as a float) to another 13-digit whole part. Serialisers write a
# large exponent with its sign (Python 3.5301113333e+18, JavaScript …e+21), so "e+" after
# a digit counts whatever the digits before it; an unsigned exponent counts after 13 digits.
_EXPONENT = frozenset(b"eE")
_BIG_FRACTION = re.compile(rb"[0-9]{13}\.[0-9]")
_AROUND = 40  # bytes either side of a run: enough to hold a whole identifier (36)


def _names_hinted(lowered: bytes) -> bool:
    """A key may be a card field's name: the lower-cased text, stripped as
    :func:`forbidden_name` strips a key, holds one of the hints."""
    squashed = lowered.translate(None, _NOT_ALNUM)
    return _C_NAMES.search(squashed) is not None or any(n in squashed for n in _OTHER_NAMES)


def _signed_exponent(lowered: bytes) -> bool:
    at = lowered.find(b"e+", 1)
    while at > 0:
        if 48 <= lowered[at - 1] <= 57:
            return True
        at = lowered.find(b"e+", at + 2)
    return False


def _card_number_in_json_text(raw: bytes) -> bool:
    """The full check on the few runs of 13 digits or more only, each with enough text
    around it to hold a whole identifier."""
    for start, end in _long_runs(raw, _JSON_MARK):
        window = _UUID_BYTES.sub(b"x", raw[max(0, start - _AROUND) : end + _AROUND])
        for at, stop in _long_runs(window, _JSON_MARK):
            inexact = stop < len(window) and window[stop] in _EXPONENT
            if inexact or _BIG_FRACTION.search(window, at, stop):
                return True
        if _card_number_in_ascii(window):
            return True
    return False


def _json_may_hold_card_data(body: bytes, text: str) -> bool:
    if b"\\u" in body:
        return True
    if body.isascii():
        raw = _ESCAPE.sub(b" ", body) if b"\\" in body else body
        lowered = raw.translate(_LOWER)
    else:  # names as forbidden_name reads them; digits as contains_card_number does
        forms = _ascii_forms(text.replace(_FULLWIDTH_QUOTE, " "))
        lowered = unicodedata.normalize("NFKC", text).lower().encode("ascii", "ignore")
        lowered = _ESCAPE.sub(b" ", lowered)
        return (
            _names_hinted(lowered)
            or _signed_exponent(lowered)
            or any(_card_number_in_json_text(_ESCAPE.sub(b" ", raw)) for raw in forms)
        )
    return _names_hinted(lowered) or _signed_exponent(lowered) or _card_number_in_json_text(raw)


# --- Requests -----------------------------------------------------------------------------

_UNPARSED = object()


def is_json(content_type: str) -> bool:
    """Bodies read as JSON: a JSON media type, or none at all (FastAPI and the events route
    both parse a body without a Content-Type as JSON, so the scan does too)."""
    return "json" in content_type or not content_type.strip()


def utf8_json(body: bytes) -> bool:
    """RFC 8259 §8.1: JSON exchanged between systems is UTF-8. Python's ``json`` also
    reads UTF-16 and UTF-32 (spotted by their NUL bytes); those are refused, not read."""
    if b"\x00" in body:  # NUL is never raw in JSON text; in UTF-16/32 every ASCII has one
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _pairs(pairs: list[tuple[str, str]], path: str) -> Finding | None:
    for key, value in pairs:
        found = next(_walk({key: value}, path), None)
        if found is not None:
            return found
    return None


def scan_query(query_string: bytes) -> Finding | None:
    """The first card data in a query string (``query.<name>``), decoded as Starlette
    decodes it: a card number in the URL would be echoed, logged or audited."""
    if not query_string:
        return None
    return _pairs(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True), "query")


def scan(body: bytes, content_type: str) -> Finding | None:
    """The first card data in a request body, or None. Never returns the value itself.
    Raises :class:`BodyTooDeep` for JSON nested deeper than :data:`MAX_DEPTH`."""
    if not body:
        return None
    text = body.decode("utf-8", errors="replace")
    if "x-www-form-urlencoded" in content_type:
        # Decoded first: "+" and "%20" spell the spaces between a card's groups here.
        return _pairs(parse_qsl(text, keep_blank_values=True), "body")
    if is_json(content_type):
        if not _json_may_hold_card_data(body, text):
            return None
        try:
            parsed = json.loads(text.removeprefix("\ufeff"))  # Starlette reads past a BOM
        except RecursionError:
            raise BodyTooDeep from None
        except ValueError:
            parsed = _UNPARSED
        if parsed is not _UNPARSED:
            try:
                return next(_walk(parsed, "body"), None)
            except RecursionError:
                raise BodyTooDeep from None
    # Anything else (or JSON that does not parse): the raw text still must not carry a card.
    return Finding("body", "card_number") if contains_card_number(text) else None
