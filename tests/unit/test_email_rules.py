"""E-mail addresses that could pass for another one are refused (UTS #39 mixed scripts, and
compatibility characters such as full-width letters), while addresses written wholly in one
script — Latin, Cyrillic, Japanese — are kept (decision 0019)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safehold.subjects.errors import ConfusableEmail, InvalidEmail
from safehold.subjects.rules import normalise_email

CYRILLIC = "абвгдежзийклмнопрстуфхцчшщыэюя"
LATIN = string.ascii_lowercase
# Cyrillic letters drawn like the Latin ones they are keyed by
LOOK_ALIKES = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441",
               "y": "\u0443", "x": "\u0445", "i": "\u0456"}  # fmt: skip


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("alice.canary@example.com", "alice.canary@example.com"),
        ("Alice.Canary@EXAMPLE.com", "alice.canary@example.com"),
        ("user+tag_1-2@example.co.uk", "user+tag_1-2@example.co.uk"),
        ("алиса@example.com", "алиса@example.com"),  # a Cyrillic local part, Latin domain
        ("алиса@пример.рф", "алиса@пример.рф"),
        ("x@xn--e1afmkfd.xn--p1ai", "x@пример.рф"),  # punycode: the letters it stands for
        ("山田たろう@example.jp", "山田たろう@example.jp"),  # Han with Hiragana is one writing
        ("ζωή@example.gr", "ζωή@example.gr"),
        ("e\u0301mile@example.com", "\u00e9mile@example.com"),  # a combining accent, composed
        ("alice@\uff45xample.com", "alice@example.com"),  # full-width domain: IDNA maps it
    ],
)
def test_addresses_in_one_script_are_kept(typed: str, stored: str) -> None:
    assert normalise_email(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "\u0430lice.canary@example.com",  # CYRILLIC SMALL LETTER A in a Latin local part
        "alice.canary@ex\u0430mple.com",  # the same in a Latin domain label
        "alice.canary@xn--exmple-4nf.com",  # the same domain spelled in punycode
        "hello.w\u03bfrld@example.com",  # GREEK SMALL LETTER OMICRON
        "\uff41lice.canary@example.com",  # FULLWIDTH LATIN SMALL LETTER A
        "\ufb01ona@example.com",  # the ligature fi
        "room\u00b2@example.com",  # superscript two
        "a\u0661b@example.com",  # an Arabic-Indic digit among Latin letters
        "\u0430l\u0456ce@example.com",  # more than one look-alike
    ],
)
def test_mixed_scripts_and_compatibility_characters_are_refused_without_the_value(
    typed: str,
) -> None:
    with pytest.raises(ConfusableEmail) as refused:
        normalise_email(typed)
    assert refused.value.code == "email_confusable"
    assert isinstance(refused.value, InvalidEmail)  # every e-mail form still catches it
    assert typed not in refused.value.message
    assert typed.split("@")[0] not in refused.value.message
    assert refused.value.details == {"field": "email"}


@given(st.text(alphabet=LATIN, min_size=1, max_size=30))
def test_any_latin_local_part_is_kept(local: str) -> None:
    assert normalise_email(f"{local}@example.com") == f"{local}@example.com"


@given(st.text(alphabet=CYRILLIC, min_size=1, max_size=30))
def test_any_cyrillic_local_part_is_kept(local: str) -> None:
    assert normalise_email(f"{local}@example.com") == f"{local}@example.com"


@given(
    st.text(alphabet=LATIN, min_size=1, max_size=30),
    st.sampled_from(sorted(LOOK_ALIKES)),
    st.integers(min_value=0),
)
def test_one_look_alike_letter_in_a_latin_address_is_refused(
    local: str, latin: str, where: int
) -> None:
    at = where % (len(local) + 1)
    mixed = local[:at] + LOOK_ALIKES[latin] + local[at:]
    genuine = local[:at] + latin + local[at:]
    assert normalise_email(f"{genuine}@example.com") == f"{genuine}@example.com"
    with pytest.raises(ConfusableEmail):
        normalise_email(f"{mixed}@example.com")
    with pytest.raises(ConfusableEmail):
        normalise_email(f"{genuine}@ex{LOOK_ALIKES['a']}mple.com")


@given(st.text(alphabet=LATIN, min_size=1, max_size=30))
def test_full_width_letters_are_refused(local: str) -> None:
    wide = "".join(chr(ord(c) - ord("a") + 0xFF41) for c in local)
    with pytest.raises(ConfusableEmail):
        normalise_email(f"{wide}@example.com")
