"""The pure rules of staff passkeys: the relying party from the base URL, where browsers
would refuse passkeys, the names a passkey may have, and what SAFEHOLD_STAFF_2FA lets in."""

from __future__ import annotations

import pytest

from safehold.staff.passkey_rules import (
    StaffTwoFactor,
    code_sign_in_allowed,
    must_register,
    passkey_name,
    relying_party,
    unusable_reason,
)


def test_the_relying_party_is_the_base_urls_host_and_origin() -> None:
    rp = relying_party("https://Console.Example.com:8443")
    assert rp.id == "console.example.com"
    assert rp.origin == "https://console.example.com:8443"
    assert relying_party("http://localhost:8000").origin == "http://localhost:8000"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8000", "not an IP address"),
        ("https://[::1]:8000", "not an IP address"),
        ("http://console.example.com", "https://"),
        ("https://console.example.com", None),
        ("http://localhost:8000", None),
        ("http://staff.localhost", None),
    ],
)
def test_passkeys_need_a_host_name_on_a_secure_origin(url: str, reason: str | None) -> None:
    found = unusable_reason(url)
    assert (found is None) if reason is None else (found is not None and reason in found)


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("  Work   laptop ", "Work laptop"),
        ("Ключ", "Ключ"),
        ("", None),
        ("   ", None),
        ("x" * 61, None),
        ("x" * 60, "x" * 60),
        ("bad\u202ename", None),
        (None, None),
    ],
)
def test_a_passkey_name_is_printable_trimmed_and_short(typed: str | None, kept: str | None) -> None:
    assert passkey_name(typed) == kept


def test_required_lets_the_codes_in_and_passkey_only_until_a_passkey_exists() -> None:
    required, passkey = StaffTwoFactor.REQUIRED, StaffTwoFactor.PASSKEY
    assert code_sign_in_allowed(required, True)
    assert code_sign_in_allowed(required, False)
    assert not must_register(required, False)
    assert code_sign_in_allowed(passkey, False)
    assert must_register(passkey, False)
    assert not code_sign_in_allowed(passkey, True)
    assert not must_register(passkey, True)
