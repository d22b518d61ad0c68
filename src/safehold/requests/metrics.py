"""The overdue-requests gauge on /metrics: counted from the database at each scrape, so it
is right whichever process opened or answered the requests."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from safehold.db import reading_only
from safehold.logs import get_logger
from safehold.requests import service
from safehold.runtime import Runtime

NAME = "safehold_requests_overdue"
log = get_logger(__name__)


class OverdueRequests(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def describe(self) -> list[GaugeMetricFamily]:
        # Describing without collecting: registration must not touch the database.
        return [GaugeMetricFamily(NAME, "Open data-subject requests past their deadline")]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(NAME, "Open data-subject requests past their deadline")
        try:
            with self.runtime.sessions() as session:
                reading_only(session)  # a scrape never queues behind a writer
                gauge.add_metric([], service.overdue_count(session, self.runtime.clock.now()))
        except SQLAlchemyError:
            log.warning("overdue_requests_unavailable")
            return
        yield gauge


def install(runtime: Runtime) -> None:
    """Register the gauge once per registry (an app built twice on one runtime in tests)."""
    if getattr(runtime.registry, "_safehold_requests_gauge", False):
        return
    runtime.registry.register(OverdueRequests(runtime))
    runtime.registry._safehold_requests_gauge = True  # type: ignore[attr-defined]
