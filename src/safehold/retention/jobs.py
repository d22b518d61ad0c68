"""The retention run: apply every retention rule of the policy, unattended.

* **event months** past the longest period of the categories stored in them are dropped whole
  (``aggregate_then_delete``: the roll-up hook runs first; without one the month is kept and
  the report says why). A month holding rows of a person under a legal hold is not dropped:
  its other rows are deleted, the held rows stay until the hold ends (:mod:`.months`);
* **personal values and cards** of a retention class whose period has ended for the person
  (after closure, after last activity) are crypto-shredded (the class's key) and deleted;
  ``collected`` classes are deleted row by row, the key shredded once no row is left
  (:mod:`.classes`);
* **month epochs** past their end (data counted from collection, sealed per month): their
  data keys deleted and their KEK destroyed, so the month is unreadable in every backup
  too (:mod:`.epochs`);
* **login history and devices** past their periods are deleted (:mod:`.usage`);
* **the request log**: answered requests 24 months after their response (:mod:`.request_log`).

People who have not accepted a material change that lengthened a period keep the shorter
period of the version they are still handled under: each sweep runs once more over each such
group with that period (:func:`safehold.notices.cohorts.held_under`, decision 0022).

Each unit of work (a month, a batch of people, a batch of rows) is one transaction, and what
is due is found again from the data at every start: a crash loses at most the batch in
flight, a re-run carries on where it stopped, and a finished run finds nothing left to do.
Anything under a legal hold is skipped and reported with the hold's reason and end.
"""

from __future__ import annotations

from collections.abc import Callable

from safehold.analytics import jobs as analytics_jobs
from safehold.events.service import NETWORK_CATEGORY
from safehold.notices.cohorts import held_under
from safehold.retention import runs
from safehold.retention.classes import sweep_classes
from safehold.retention.common import BeforeDrop, Env
from safehold.retention.epochs import sweep_epochs
from safehold.retention.months import sweep_event_months
from safehold.retention.report import HeldBack, Line, Report
from safehold.retention.request_log import sweep_request_log
from safehold.retention.usage import sweep_usage_tables
from safehold.runtime import Runtime

__all__ = ["DAILY_SECONDS", "UNITS", "HeldBack", "Line", "Report", "daily", "run"]
DAILY_SECONDS = 24 * 3600.0
UNITS = ("event months", "month keys", "account data", "login history and devices", "request log")


def run(
    runtime: Runtime, *, dry_run: bool = False, before_drop: BeforeDrop | None = None,
    on_unit: Callable[[str], None] | None = None,
) -> Report:  # fmt: skip
    """One retention run at the runtime clock's now; returns the report. ``before_drop``:
    the analytics roll-up for ``aggregate_then_delete`` months (None: such months are kept)."""
    now = runtime.clock.now()
    env = Env(
        runtime.sessions, runtime.policy, runtime.vault, now, dry_run, Report(now, dry_run),
        held_under(runtime.book, now),
    )  # fmt: skip
    sweeps: tuple[Callable[[], None], ...] = (
        lambda: sweep_event_months(env, before_drop),
        lambda: sweep_epochs(env),
        lambda: sweep_classes(env),
        lambda: sweep_usage_tables(env),
        lambda: sweep_request_log(env),
    )
    for unit, sweep in zip(UNITS, sweeps, strict=True):
        sweep()
        if on_unit is not None:
            on_unit(unit)
    network = env.report.line(
        NETWORK_CATEGORY, runtime.policy.retention_rule_for(NETWORK_CATEGORY).id, "clear"
    )
    network.notes.append("addresses are cleared by the hourly events maintenance job")
    runs.keep(runtime.sessions, env.report, clock=runtime.clock)  # the console's "last run"
    return env.report


def daily(runtime: Runtime) -> int:
    """The worker's retention job: one run, with the analytics roll-up fed before a month of
    ``aggregate_then_delete`` events goes; its work count (0 when nothing was due)."""
    return run(runtime, before_drop=analytics_jobs.before_drop(runtime)).work
