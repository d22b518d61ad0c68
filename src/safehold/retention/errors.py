from __future__ import annotations

from safehold.errors import Conflict, InvalidInput, NotFound


class HoldNotFound(NotFound):
    code = "hold_not_found"


class HoldInvalid(InvalidInput):
    code = "hold_invalid"


class HoldLifted(Conflict):
    code = "hold_already_lifted"
