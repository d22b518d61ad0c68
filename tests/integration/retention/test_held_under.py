"""Retention for people who have not accepted a material change that lengthened periods:
they keep the shorter periods of their version, in one pass per group (decision 0022)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from safehold.access.rules import Actor
from safehold.clock import FrozenClock
from safehold.db import transaction
from safehold.events import rules as event_rules
from safehold.events import storage
from safehold.notices import service as notices
from safehold.retention import jobs
from safehold.runtime import Runtime
from safehold.subjects import service as subjects
from tests.conftest import DEFAULT_POLICY
from tests.integration.requests.support import STAFF, person
from tests.integration.retention.test_run import Rollup, _close, _events, _key_gone

V1 = DEFAULT_POLICY.read_text()
CONTACT = "    period: P90D\n    from: account_closed"
USAGE = "    period: P13M\n    from: collected\n    action: aggregate_then_delete"
V2 = V1.replace(CONTACT, CONTACT.replace("P90D", "P180D")).replace(
    USAGE, USAGE.replace("P13M", "P24M")
)
OPERATOR = Actor("staff", "privacy-officer")


def _publish(runtime: Runtime, source: str) -> None:
    with transaction(runtime.sessions) as session:
        notices.publish(
            session, source=source, source_name="test", effective_at=None, requested_class=None,
            clock=runtime.clock, actor=OPERATOR,
        )  # fmt: skip
        runtime.book.load(session)


def _plays(runtime: Runtime, sid: uuid.UUID, month: str) -> int:
    table = storage.month_table(month)
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).where(table.c.subject_id == sid)) or 0)


def test_people_who_did_not_accept_keep_the_shorter_periods(
    runtime: Runtime, clock: FrozenClock
) -> None:
    assert V2.count("P180D") == 1
    assert V2.count("P24M") == 1
    _publish(runtime, V1)
    ada, bea = person(runtime), person(runtime, "Bea")
    _publish(runtime, V2)
    clock.advance(timedelta(days=31))  # v2 in force: Bea accepts it, Ada does not
    with transaction(runtime.sessions) as session:
        notices.accept(
            session, runtime.book, subjects.get(session, bea), channel="api", clock=clock,
            actor=STAFF,
        )  # fmt: skip
        progress = notices.progress(session)
    assert (progress[2].accepted, progress[2].notified, progress[2].total) == (1, 0, 2)
    assert progress[1].accepted == 1  # registered without a sign-up record: Ada accepted none
    month = event_rules.partition_name(clock.now().date().replace(day=1))
    for sid in (ada, bea):
        _events(runtime, sid, clock.now(), ["channel.play"])
        _close(runtime, sid)

    clock.advance(timedelta(days=91))  # past v1's 90 days after closure, within v2's 180
    jobs.run(runtime)
    assert _key_gone(runtime, ada, "account_contact")
    assert not _key_gone(runtime, bea, "account_contact")

    clock.advance(timedelta(days=400))  # past v1's 13 months for usage events, within 24
    report = jobs.run(runtime, before_drop=Rollup())
    assert _plays(runtime, ada, month) == 0
    assert _plays(runtime, bea, month) == 1
    usage = [x for x in report.as_dict()["categories"] if x["category"] == "usage.action"]
    assert any("handled under v1" in note for line in usage for note in line["notes"])  # type: ignore[attr-defined]
    assert jobs.run(runtime, before_drop=Rollup()).work == 0  # idempotent
