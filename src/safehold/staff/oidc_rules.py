"""Pure rules of staff single sign-on by OpenID Connect (decision 0039): what an ID token
must say before it signs a member in, and which role a role claim names.

No FastAPI, no SQLAlchemy, no network. The signature is checked against the provider's
published keys (:mod:`safehold.staff.oidc_client`) before these rules read the claims; each
refusal carries a stable reason (:data:`REASONS`) that the sign-in page turns into a sentence.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta

from safehold.staff.rules import Role

ATTEMPT_TTL = timedelta(minutes=10)  # from the button to the provider's answer
CLOCK_LEEWAY = timedelta(seconds=60)  # the provider's clock may be this far from ours
SIGNING_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")  # never "none" nor a shared secret
SCOPE = "openid email"
_ROLE_IDS = frozenset(role.value for role in Role)

# reason -> the sentence the sign-in page shows (no claim value is ever repeated).
REASONS: dict[str, str] = {
    "state": "That sign-in link was used already, has expired or was not started in this "
    "browser: start again",
    "provider_error": "The identity provider did not sign you in: start again",
    "signature": "The identity provider's answer is not signed by its published keys",
    "issuer": "The identity provider's answer names another issuer",
    "audience": "The identity provider's answer was made for another application",
    "expired": "The identity provider's answer has expired: start again",
    "nonce": "The identity provider's answer belongs to another sign-in: start again",
    "email_unverified": "The identity provider has not verified your e-mail address",
    "unknown_member": "No staff member may sign in with that e-mail address: ask an owner "
    "for an invitation",
    "role_missing": "The identity provider did not say which role you have",
    "role_unknown": "The identity provider names a role this console does not have",
    "last_owner": "The identity provider gives the last owner another role: make another "
    "owner first",
}


class ClaimRefused(ValueError):
    """An ID token (or its role claim) that must not sign anyone in; ``reason`` is a key of
    :data:`REASONS`."""

    def __init__(self, reason: str) -> None:
        assert reason in REASONS
        super().__init__(reason)
        self.reason = reason


def _seconds(claims: Mapping[str, object], name: str) -> float | None:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def check_id_token(
    claims: Mapping[str, object], *, issuer: str, client_id: str, nonce: str, now: datetime
) -> None:
    """OpenID Connect Core 3.1.3.7: the issuer is the configured one, this client is the
    audience (and, among several, the authorised party), the token is live, and it carries
    this attempt's nonce — so a token issued for another sign-in cannot be replayed here."""
    if claims.get("iss") != issuer:
        raise ClaimRefused("issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client_id not in audiences:
        raise ClaimRefused("audience")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise ClaimRefused("audience")
    expires, issued = _seconds(claims, "exp"), _seconds(claims, "iat")
    stamp = now.timestamp()
    leeway = CLOCK_LEEWAY.total_seconds()
    if expires is None or expires + leeway <= stamp:
        raise ClaimRefused("expired")
    if issued is None or issued - leeway > stamp:
        raise ClaimRefused("expired")
    given = claims.get("nonce")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), nonce.encode()):
        raise ClaimRefused("nonce")


def verified_email(claims: Mapping[str, object]) -> str:
    """The address the provider vouches for: ``email`` with ``email_verified`` true. An
    unverified address could be anyone's typing, so it never matches an invitation."""
    email, verified = claims.get("email"), claims.get("email_verified")
    if not isinstance(email, str) or not email or not (verified is True or verified == "true"):
        raise ClaimRefused("email_unverified")
    return email


def role_from_claim(value: object) -> Role:
    """The role a claim names: a role id (``privacy_officer``), or a list of group names
    among which exactly one is a role id. Absent, none or several: refused, never a guess."""
    if value is None:
        raise ClaimRefused("role_missing")
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list):
        raise ClaimRefused("role_unknown")
    roles = {Role(name) for name in names if isinstance(name, str) and name in _ROLE_IDS}
    if len(roles) != 1:
        raise ClaimRefused("role_unknown")
    return roles.pop()
