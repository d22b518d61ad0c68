"""The promise gauges on /metrics, read from the last recorded run (any process's): how many
violations each check found, and when that run was made."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from safehold.db import reading_only
from safehold.logs import get_logger
from safehold.promises import service
from safehold.runtime import Runtime

VIOLATIONS = "safehold_promise_violations"
LAST_RUN = "safehold_promises_last_run_timestamp_seconds"
_HELP = "Violations the last promise check found, per check (0: the promise held)"
_LAST_HELP = "When the last promise check started (Unix time)"
log = get_logger(__name__)


class PromiseGauges(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(VIOLATIONS, _HELP, labels=["check"]),
                GaugeMetricFamily(LAST_RUN, _LAST_HELP)]  # fmt: skip

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self.runtime.sessions() as session:
                reading_only(session)
                last = service.latest(session)
        except SQLAlchemyError:
            log.warning("promise_gauge_unavailable")
            return
        if last is None:
            return
        gauge = GaugeMetricFamily(VIOLATIONS, _HELP, labels=["check"])
        for r in service.results_of(last):
            gauge.add_metric([r.id], r.count)
        yield gauge
        stamp = GaugeMetricFamily(LAST_RUN, _LAST_HELP)
        stamp.add_metric([], last.started_at.timestamp())
        yield stamp


def install(runtime: Runtime) -> None:
    if getattr(runtime.registry, "_safehold_promise_gauges", False):
        return
    runtime.registry.register(PromiseGauges(runtime))
    runtime.registry._safehold_promise_gauges = True  # type: ignore[attr-defined]
