"""The checks an ID token passes before it signs a staff member in (decision 0039): the
signature against the provider's published keys, issuer, audience, expiry, nonce, a verified
e-mail, and the role a claim names — each refusal with its stable reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from safehold.staff.errors import OidcRefused
from safehold.staff.oidc_client import signed_claims
from safehold.staff.oidc_rules import REASONS, ClaimRefused, check_id_token, role_from_claim
from safehold.staff.oidc_rules import verified_email as verified
from safehold.staff.rules import Role

NOW = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
ISSUER, CLIENT, NONCE = "https://id.example.com", "safehold-console", "n-0123456789abcdef"


def claims(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "iss": ISSUER, "aud": CLIENT, "sub": "u1", "nonce": NONCE,
        "iat": int(NOW.timestamp()) - 5, "exp": int(NOW.timestamp()) + 300,
        "email": "priya.officer@example.com", "email_verified": True,
    }  # fmt: skip
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def reason(values: dict[str, object], now: datetime = NOW) -> str | None:
    try:
        check_id_token(values, issuer=ISSUER, client_id=CLIENT, nonce=NONCE, now=now)
    except ClaimRefused as exc:
        return exc.reason
    return None


def test_a_token_for_this_sign_in_passes() -> None:
    assert reason(claims()) is None
    assert reason(claims(aud=[CLIENT, "other"], azp=CLIENT)) is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"iss": "https://id.example.org"}, "issuer"),
        ({"iss": ISSUER + "/"}, "issuer"),
        ({"iss": None}, "issuer"),
        ({"aud": "another-app"}, "audience"),
        ({"aud": ["another-app"]}, "audience"),
        ({"aud": None}, "audience"),
        ({"aud": [CLIENT, "other"]}, "audience"),  # several audiences and no azp
        ({"aud": [CLIENT, "other"], "azp": "other"}, "audience"),
        ({"exp": int(NOW.timestamp()) - 61}, "expired"),
        ({"exp": None}, "expired"),
        ({"exp": "tomorrow"}, "expired"),
        ({"exp": True}, "expired"),
        ({"iat": int(NOW.timestamp()) + 3600}, "expired"),  # issued in the future
        ({"nonce": "n-of-another-sign-in"}, "nonce"),
        ({"nonce": None}, "nonce"),
    ],
)
def test_each_wrong_claim_is_refused_with_its_reason(
    changes: dict[str, object], expected: str
) -> None:
    assert reason(claims(**changes)) == expected


def test_the_clock_leeway_is_a_minute_either_way() -> None:
    assert reason(claims(exp=int(NOW.timestamp()) - 30)) is None
    assert reason(claims(iat=int(NOW.timestamp()) + 30)) is None
    assert reason(claims(), now=NOW + timedelta(minutes=10)) == "expired"


@pytest.mark.parametrize("flag", [True, "true"])
def test_a_verified_email_is_the_address(flag: object) -> None:
    assert verified(claims(email_verified=flag)) == "priya.officer@example.com"


@pytest.mark.parametrize("flag", [False, "false", None, 1, "yes"])
def test_an_unverified_email_is_refused(flag: object) -> None:
    with pytest.raises(ClaimRefused) as caught:
        verified(claims(email_verified=flag))
    assert caught.value.reason == "email_unverified"


def test_no_email_is_refused() -> None:
    with pytest.raises(ClaimRefused):
        verified(claims(email=None))


@pytest.mark.parametrize(
    ("value", "role"),
    [("auditor", Role.AUDITOR), (["staff", "privacy_officer"], Role.PRIVACY_OFFICER),
     (["owner", "owner"], Role.OWNER)],
)  # fmt: skip
def test_a_role_claim_names_one_role(value: object, role: Role) -> None:
    assert role_from_claim(value) is role


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "role_missing"), ("superuser", "role_unknown"), ([], "role_unknown"),
     (["owner", "auditor"], "role_unknown"), ({"role": "owner"}, "role_unknown"),
     ("Owner", "role_unknown"), (7, "role_unknown")],
)  # fmt: skip
def test_a_role_claim_that_names_no_single_role_is_refused(value: object, expected: str) -> None:
    with pytest.raises(ClaimRefused) as caught:
        role_from_claim(value)
    assert caught.value.reason == expected


def test_every_reason_has_a_sentence_and_a_stable_code() -> None:
    for key, sentence in REASONS.items():
        refused = OidcRefused.because(key)
        assert refused.code == "staff_oidc_refused"
        assert refused.details == {"reason": key}
        assert refused.message == sentence


# --- the signature, against the provider's published keys (JWKS) ---

PROVIDER_KEY = RSAKey.generate_key(2048, parameters={"kid": "provider-1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "provider-1"})  # same kid, not theirs


def jwks(*keys: RSAKey) -> dict[str, Any]:
    return dict(KeySet(list(keys)).as_dict(private=False))


def signed(key: Any, alg: str = "RS256", **changes: object) -> str:
    return jwt.encode({"alg": alg, "kid": "provider-1"}, claims(**changes), key, algorithms=[alg])


def test_a_token_signed_by_the_providers_key_gives_its_claims() -> None:
    assert signed_claims(signed(PROVIDER_KEY), jwks(PROVIDER_KEY))["nonce"] == NONCE


def refused_signature(token: str, keys: dict[str, Any]) -> bool:
    try:
        signed_claims(token, keys)
    except ClaimRefused as exc:
        return exc.reason == "signature"
    return False


def test_a_token_signed_by_another_key_is_refused() -> None:
    assert refused_signature(signed(OTHER_KEY), jwks(PROVIDER_KEY))


def test_a_tampered_token_is_refused() -> None:
    header, payload, signature = signed(PROVIDER_KEY).split(".")
    forged = signed(OTHER_KEY, email="mallory@example.com").split(".")[1]
    assert refused_signature(f"{header}.{forged}.{signature}", jwks(PROVIDER_KEY))
    assert payload != forged


def test_unsigned_and_shared_secret_tokens_are_refused() -> None:
    header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    payload = signed(PROVIDER_KEY).split(".")[1]
    assert refused_signature(f"{header}.{payload}.", jwks(PROVIDER_KEY))
    secret = OctKey.import_key(b"k" * 32)
    assert refused_signature(signed(secret, alg="HS256"), jwks(PROVIDER_KEY))


def test_garbage_is_refused_not_raised() -> None:
    assert refused_signature("not-a-token", jwks(PROVIDER_KEY))
    assert refused_signature(signed(PROVIDER_KEY), {"keys": "nonsense"})
