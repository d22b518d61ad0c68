"""The analytics feature's domain errors (mapped to HTTP in ``safehold.handlers``)."""

from __future__ import annotations

from safehold.errors import Conflict, InvalidInput


class PeriodNotFinal(Conflict):
    code = "analytics.period_not_final"


class RangeTooLong(InvalidInput):
    code = "analytics.range_too_long"


class NotObjectable(InvalidInput):
    code = "analytics.not_objectable"
