"""Refusals of staff accounts, each with a stable code; their HTTP status follows the base
class (:mod:`safehold.handlers`)."""

from __future__ import annotations

from safehold.errors import Conflict, Forbidden, InvalidInput, NotFound
from safehold.staff.oidc_rules import REASONS


class MemberExists(Conflict):
    code = "staff_member_exists"


class MemberNotFound(NotFound):
    code = "staff_member_not_found"


class OwnerExists(Conflict):
    code = "staff_owner_exists"


class LastOwner(Conflict):
    code = "staff_last_owner"


class SignInRefused(InvalidInput):
    """A wrong, expired, used or exhausted code or TOTP. The message is the page's."""

    code = "staff_sign_in_refused"
    keeps_writes = True  # the counted try


class PasskeyRefused(InvalidInput):
    """A passkey ceremony that did not verify: an unknown, used or expired challenge, a
    response for another site, a passkey not registered here or whose counter went back.
    The message is the page's."""

    code = "staff_passkey_refused"
    keeps_writes = True  # the challenge is spent and the refusal audited


class PasskeyNotFound(NotFound):
    code = "staff_passkey_not_found"


class PasskeyOnly(InvalidInput):
    """A code + TOTP sign-in of a member who has a passkey, under SAFEHOLD_STAFF_2FA=passkey."""

    code = "staff_passkey_only"


class NoAuthenticator(Conflict):
    code = "staff_no_authenticator"


class SessionNotFound(NotFound):
    code = "staff_session_not_found"


class OwnerOnly(Forbidden):
    """A staff-management page or action asked for by anyone but an owner member."""

    code = "staff_owner_only"


class OidcRefused(InvalidInput):
    """A single sign-on the provider's answer does not allow; ``details.reason`` is a key of
    :data:`safehold.staff.oidc_rules.REASONS` and the message its sentence."""

    code = "staff_oidc_refused"
    keeps_writes = True  # the used state and the audit entry

    @classmethod
    def because(cls, reason: str) -> OidcRefused:
        return cls(REASONS[reason], details={"reason": reason})
