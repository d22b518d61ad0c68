"""Refusals of staff accounts, each with a stable code; their HTTP status follows the base
class (:mod:`safehold.handlers`)."""

from __future__ import annotations

from safehold.errors import Conflict, Forbidden, InvalidInput, NotFound


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


class NoAuthenticator(Conflict):
    code = "staff_no_authenticator"


class SessionNotFound(NotFound):
    code = "staff_session_not_found"


class OwnerOnly(Forbidden):
    """A staff-management page or action asked for by anyone but an owner member."""

    code = "staff_owner_only"
