"""The promises that depend on a person's own state: a disclosure the version they accepted
refuses, a shortened address kept past that version's shorter period (decision 0022), and a
use of a restricted person's data for a purpose other than a legal obligation (decision
0023) are reported; the normal flows leave them held."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from safehold.access import audit
from safehold.clock import FrozenClock
from safehold.db import transaction
from safehold.events import jobs as events_jobs
from safehold.notices import service as notices
from safehold.notices.cohorts import held_under
from safehold.requests import restriction
from safehold.runtime import Runtime
from safehold.sharing import service as sharing
from safehold.sharing.models import Disclosure, DisclosureSubject
from safehold.subjects import service as subjects
from safehold.subjects.errors import PurposeRefused
from tests.e2e.test_material_gating import V1, V2
from tests.integration.promises.test_checks import _event_row, _held, _plant_events, _violated
from tests.integration.requests.support import STAFF, ctx, person, verified
from tests.integration.retention.test_held_under import _publish


def _accept(runtime: Runtime, sid: uuid.UUID) -> None:
    with transaction(runtime.sessions) as session:
        notices.accept(
            session, runtime.book, subjects.get(session, sid), channel="api",
            clock=runtime.clock, actor=STAFF,
        )  # fmt: skip


def _plant_disclosure(runtime: Runtime, sid: uuid.UUID) -> uuid.UUID:
    latest = runtime.book.latest()
    assert latest is not None
    did = uuid.uuid4()
    with transaction(runtime.sessions) as session:
        session.add(Disclosure(
            id=did, at=runtime.clock.now(), recipient_id="insights_partner",
            recipient_role="processor", purpose="service_provision",
            categories=["account.email"], reference=None, actor="test", request_id=None,
            policy_hash=latest.content_hash, people_disclosed=1, people_refused=0,
        ))  # fmt: skip
        session.flush()
        session.add(DisclosureSubject(disclosure_id=did, subject_id=sid, outcome="disclosed",
                                      categories=["account.email"], rule=None))  # fmt: skip
    return did


def test_a_disclosure_to_a_person_who_had_not_accepted_it_is_reported(
    runtime: Runtime, clock: FrozenClock
) -> None:
    _publish(runtime, V1)
    ada, bea = person(runtime), person(runtime, "Bea")
    _publish(runtime, V2)
    clock.advance(timedelta(days=31))  # v2 in force; only Bea accepts it
    _accept(runtime, bea)
    sctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:  # the normal flow: Ada's share is refused
        result = sharing.disclose(
            session, sctx, actor=STAFF, recipient="insights_partner",
            purpose="service_provision", subject_ids=[ada, bea],
            categories=["account.email"], reference=None,
        )  # fmt: skip
    assert (result.disclosure.people_disclosed, result.disclosure.people_refused) == (1, 1)
    _held(runtime, "sharing.only_what_was_accepted")
    planted = _plant_disclosure(runtime, ada)  # past the service: Ada's data went out
    found = _violated(runtime, "sharing.only_what_was_accepted", str(planted))
    assert found.count == 1
    clock.advance(timedelta(hours=1))
    _accept(runtime, ada)  # accepting later does not excuse what went out before
    _violated(runtime, "sharing.only_what_was_accepted", str(planted))


def test_an_address_kept_past_the_accepted_shorter_period_is_reported(
    runtime: Runtime, clock: FrozenClock
) -> None:
    _publish(runtime, V1)
    ada, bea = person(runtime), person(runtime, "Bea")
    _publish(runtime, V2)  # shortened addresses: 30 days in v1, 90 in v2
    clock.advance(timedelta(days=31))
    _accept(runtime, bea)
    at = clock.now() - timedelta(days=40)
    mine, hers = (
        _event_row(ada, at, ip="203.0.113.0/24"),
        _event_row(bea, at, ip="203.0.113.0/24"),
    )
    _plant_events(runtime, mine, hers)
    found = _violated(runtime, "retention.ip_addresses", str(mine["event_id"]))
    assert found.count == 1  # Bea accepted 90 days: hers is not overdue
    with transaction(runtime.sessions) as session:
        events_jobs.expire_ips(
            session, runtime.policy, clock.now(), held_under(runtime.book, clock.now())
        )
    _held(runtime, "retention.ip_addresses")


def test_a_restricted_persons_data_used_for_a_refused_purpose_is_reported(
    runtime: Runtime, clock: FrozenClock
) -> None:
    sid = person(runtime)
    rid = verified(runtime, sid, "restriction")
    with transaction(runtime.sessions) as session:
        restriction.apply(session, ctx(runtime), rid, actor=STAFF, reason="accuracy_contested")
    clock.advance(timedelta(minutes=1))
    sctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    # The normal flows: a read for the service refused, one for the law allowed.
    with transaction(runtime.sessions) as session, pytest.raises(PurposeRefused):
        subjects.read(session, sctx, sid, purpose="service_provision", actor=STAFF)
    with transaction(runtime.sessions) as session:
        subjects.read(session, sctx, sid, purpose="legal_obligation", actor=STAFF)
    _held(runtime, "restriction.only_legal_obligation")
    with transaction(runtime.sessions) as session:  # planted: a read that went around it
        audit.record(
            session, actor=STAFF, action="subject.read", subject_id=sid,
            categories=["account.email"], purpose="service_provision", outcome="ok", clock=clock,
        )  # fmt: skip
    found = _violated(runtime, "restriction.only_legal_obligation")
    assert found.count == 1
    assert found.examples[0].startswith("audit entry ")
