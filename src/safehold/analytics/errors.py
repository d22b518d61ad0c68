"""The analytics feature's domain errors (mapped to HTTP in ``safehold.handlers``)."""

from __future__ import annotations

from safehold.errors import Conflict, InvalidInput, NotFound


class PeriodNotFinal(Conflict):
    code = "analytics.period_not_final"


class RangeTooLong(InvalidInput):
    code = "analytics.range_too_long"


class NotObjectable(InvalidInput):
    code = "analytics.not_objectable"


class ObjectionNotFound(NotFound):
    """No objection to that purpose is in force for the person (nothing to withdraw)."""

    code = "analytics.objection_not_found"
