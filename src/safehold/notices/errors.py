from __future__ import annotations

from safehold.errors import Conflict, InvalidInput, NotFound


class PolicyInvalid(InvalidInput):
    code = "policy_invalid"


class PolicyUnchanged(Conflict):
    code = "policy_unchanged"


class ChangeClassLowered(InvalidInput):
    code = "change_class_lowered"


class EffectiveTooSoon(InvalidInput):
    code = "effective_date_too_soon"


class VersionNotFound(NotFound):
    code = "policy_version_not_found"


class VersionWithdrawn(Conflict):
    code = "policy_version_withdrawn"


class NotWithdrawable(Conflict):
    code = "policy_version_not_withdrawable"
