"""The checks of how things are done: addresses kept only shortened, no request answered
unverified, recipients told of an erasure, material changes given their notice period —
each planted violation reported, the normal flows held."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, update

from safehold.db import transaction
from safehold.events import service as events
from safehold.events.schemas import BatchIn
from safehold.notices.models import PolicyVersion
from safehold.requests import jobs as request_jobs
from safehold.requests.models import DataRequest
from safehold.runtime import Runtime
from safehold.sharing.models import Propagation
from tests.e2e.test_material_gating import V1, V2
from tests.integration.promises.test_checks import _event_row, _held, _plant_events, _violated
from tests.integration.requests.support import STAFF, ctx, person, verified
from tests.integration.retention.test_held_under import _publish


def test_a_whole_address_is_reported_when_the_policy_keeps_them_shortened(
    runtime: Runtime,
) -> None:
    sid = person(runtime)
    at = runtime.clock.now()
    batch = BatchIn.model_validate({
        "context": {"ip": "203.0.113.77"},
        "events": [{"subject_id": str(sid), "name": "channel.play", "timestamp": at.isoformat(),
                    "properties": {}}],
    })  # fmt: skip
    ectx = events.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:  # the normal flow: shortened on the way in
        events.ingest(session, ectx, batch, actor=STAFF, received_at=at)
    _held(runtime, "minimisation.ip_shortened")
    whole = _event_row(sid, at, ip="203.0.113.77")
    _plant_events(runtime, whole)
    _violated(runtime, "minimisation.ip_shortened", str(whole["event_id"]))


def test_a_request_answered_unverified_is_reported(runtime: Runtime) -> None:
    rid = verified(runtime, person(runtime), "erasure")
    request_jobs.erase(runtime.sessions, ctx(runtime), rid)
    _held(runtime, "requests.verified_before_answer")
    with transaction(runtime.sessions) as session:
        session.execute(update(DataRequest).where(DataRequest.id == rid).values(verified_at=None))
    _violated(runtime, "requests.verified_before_answer", str(rid))


def test_an_erasure_not_passed_on_to_a_recipient_is_reported(runtime: Runtime) -> None:
    sid = person(runtime)  # disclosed to the e-mail provider
    request_jobs.erase(runtime.sessions, ctx(runtime), verified(runtime, sid))
    _held(runtime, "erasure.recipients_told")
    with transaction(runtime.sessions) as session:  # planted: the notice never existed
        session.execute(delete(Propagation).where(Propagation.subject_id == sid))
    _violated(runtime, "erasure.recipients_told", f"email_delivery of {sid}")


def test_a_material_change_without_its_notice_period_is_reported(runtime: Runtime) -> None:
    _publish(runtime, V1)
    _publish(runtime, V2)  # material: effective after the 30 days' notice
    _held(runtime, "policy.notice_period")
    with transaction(runtime.sessions) as session:
        session.execute(update(PolicyVersion).where(PolicyVersion.seq == 2).values(
            effective_at=runtime.clock.now() + timedelta(days=2)))  # fmt: skip
    _violated(runtime, "policy.notice_period", "v2")
