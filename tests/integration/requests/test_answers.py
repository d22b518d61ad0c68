"""Answering access, objection and rectification requests: the export holds everything and
streams, objections reach analytics and marketing, a correction logs field names only."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from safehold.access.models import AuditEntry
from safehold.analytics import service as analytics
from safehold.clock import FrozenClock
from safehold.comms import preferences
from safehold.db import transaction
from safehold.events import service as events
from safehold.events.schemas import BatchIn
from safehold.requests import export, links, rules, service
from safehold.requests.errors import (
    ExportLinkExpired,
    ExportLinkInvalid,
    ObjectionInvalid,
    RectificationInvalid,
    TransitionRefused,
    WrongKind,
)
from safehold.runtime import Runtime
from safehold.subjects import service as subjects
from safehold.subjects.errors import SubjectErased
from safehold.subjects.models import Subject
from tests.integration.requests.support import STAFF, ctx, load, open_request, person, verified


def _events(runtime: Runtime, sid: uuid.UUID, n: int, marker: str) -> None:
    ectx = events.Context(runtime.vault, runtime.policy, runtime.clock)
    now = runtime.clock.now()
    batch = BatchIn.model_validate({"events": [
        {"name": "login", "subject_id": str(sid), "properties": {"method": "password"},
         "timestamp": (now - timedelta(hours=2)).isoformat()},
        *({"name": "guide.search", "subject_id": str(sid),
           "timestamp": (now - timedelta(minutes=i + 1)).isoformat(),
           "properties": {"query": f"{marker}-{i}", "results": i}} for i in range(n)),
    ]})  # fmt: skip
    with transaction(runtime.sessions) as session:
        outcomes = events.ingest(session, ectx, batch, actor=STAFF, received_at=now)
    assert {o.status for o in outcomes} == {"accepted"}, outcomes


def test_an_access_request_yields_a_complete_streamed_export(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = person(runtime)
    _events(runtime, sid, 5, "qzchan")
    rid = verified(runtime, sid, "access")
    with transaction(runtime.sessions) as session:
        grant = service.fulfil_access(session, ctx(runtime), rid, actor=STAFF)
    request = load(runtime, rid)
    assert request.status == "completed"
    assert request.responded_at == runtime.clock.now()
    assert grant.expires_at == (runtime.clock.now() + rules.EXPORT_LINK_TTL).replace(microsecond=0)
    assert grant.path.startswith("/exports/")

    monkeypatch.setattr(export, "BATCH", 2)  # several keyset batches for 5 events
    with runtime.sessions() as session:
        found = export.resolve_link(session, ctx(runtime), grant.path.removeprefix("/exports/"))
    chunks = list(export.stream_json(runtime.sessions, ctx(runtime), found.subject_id))
    assert len(chunks) > 8  # streamed in pieces, not one document
    doc = json.loads(b"".join(chunks))
    assert doc["format"] == export.FORMAT
    by_id = {c["id"]: c for c in doc["categories"]}
    assert by_id["account.email"]["values"] == {"email": "ada@example.com"}
    assert by_id["account.email"]["held"] is True
    assert [r["recipient"] for r in by_id["account.email"]["recipients"]["received"]] == [
        "email_delivery"
    ]
    assert by_id["account.email"]["retention"]["rule"]
    assert {p["id"] for p in by_id["account.email"]["purposes"]} >= {"service_provision"}
    assert by_id["usage.action"]["source"]
    assert doc["payment_methods"][0]["last4"] == "4242"
    assert doc["counts"]["logins"] == 1
    assert sorted(e["properties"]["query"] for e in doc["events"]) == [
        f"qzchan-{i}" for i in range(5)
    ]
    assert len(doc["logins"]) == 1
    assert [r["kind"] for r in doc["requests"]] == ["access"]
    assert doc["marketing_choices"][0]["choice"] == "opted_in"
    with runtime.sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject_id == sid)
        ).all()
        page = export.render_html(session, ctx(runtime), sid)
    assert "request.export.json" in actions
    assert "ada@example.com" in page
    assert "<script" not in page
    assert "style=" not in page
    # issue 20, item 10: the summary speaks as /me does (safehold.wording), never in ISO
    # durations, "(s)" plurals or the policy's ids
    assert "5 recorded events" in page
    assert "1 sign-in and 1 device" in page or "1 sign-in and 0 devices" in page
    assert "days after the account is closed" in page
    assert not re.search(r"\bP\d+[YMWD]\b|\(s\)|email_delivery|service_provision", page)
    mailer = next(r.name for r in runtime.policy.recipients if r.id == "email_delivery")
    assert mailer in page


def test_the_download_link_expires_and_cannot_be_forged(
    runtime: Runtime, clock: FrozenClock
) -> None:
    sid = person(runtime)
    rid = verified(runtime, sid, "access")
    with transaction(runtime.sessions) as session:
        grant = service.fulfil_access(session, ctx(runtime), rid, actor=STAFF)
    token = grant.path.removeprefix("/exports/")
    forged = links.make_token(b"k" * 32, rid, grant.expires_at)
    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with runtime.sessions() as session:
        for bad in (forged, altered, "nonsense", token + "x"):
            with pytest.raises(ExportLinkInvalid):
                export.resolve_link(session, ctx(runtime), bad)
    clock.advance(rules.EXPORT_LINK_TTL)
    with runtime.sessions() as session, pytest.raises(ExportLinkExpired):
        export.resolve_link(session, ctx(runtime), token)


def _signed_in(runtime: Runtime, sid: uuid.UUID, kind: str) -> uuid.UUID:
    """A request the person made in the privacy center (verified by their sign-in)."""
    with transaction(runtime.sessions) as session:
        request = service.create(
            session, ctx(runtime), actor=STAFF, subject_id=sid, kind=kind,
            channel="privacy_center", made_by="subject", send=False,
        )  # fmt: skip
        service.verify_signed_in(session, ctx(runtime), request, actor=STAFF)
        return request.id


def test_only_a_verified_access_request_is_answered_and_never_twice(runtime: Runtime) -> None:
    sid = person(runtime)
    unverified = open_request(runtime, sid, "access")
    with transaction(runtime.sessions) as session, pytest.raises(TransitionRefused):
        service.fulfil_access(session, ctx(runtime), unverified, actor=STAFF)
    erasure = _signed_in(runtime, sid, "erasure")
    with transaction(runtime.sessions) as session, pytest.raises(WrongKind):
        service.fulfil_access(session, ctx(runtime), erasure, actor=STAFF)
    rid = _signed_in(runtime, sid, "access")
    assert load(runtime, rid).status == "verified"
    with transaction(runtime.sessions) as session:
        service.fulfil_access(session, ctx(runtime), rid, actor=STAFF)
    with transaction(runtime.sessions) as session, pytest.raises(TransitionRefused):
        service.fulfil_access(session, ctx(runtime), rid, actor=STAFF)


def test_an_objection_to_platform_improvement_leaves_analytics_from_then_on(
    runtime: Runtime,
) -> None:
    sid = person(runtime)
    with transaction(runtime.sessions) as session:
        request = service.create(
            session, ctx(runtime), actor=STAFF, subject_id=sid, kind="objection", channel="api",
            purpose="platform_improvement", send=False, made_by="subject",
        )  # fmt: skip
        service.verify_signed_in(session, ctx(runtime), request, actor=STAFF)  # carried out
        rid = request.id
    answered = load(runtime, rid)
    assert answered.status == "completed"
    assert answered.progress["verification"]["method"] == "privacy_center_sign_in"
    assert answered.progress["objection"]["effect"] == rules.LEAVE_PURPOSE
    with runtime.sessions() as session:
        assert analytics.objected_purposes(session, sid) == {"platform_improvement"}


def test_an_objection_to_marketing_is_an_opt_out(runtime: Runtime) -> None:
    sid = person(runtime)  # opted in at sign-up
    with transaction(runtime.sessions) as session:
        request = service.create(
            session, ctx(runtime), actor=STAFF, subject_id=sid, kind="objection", channel="email",
            purpose="communication.marketing", send=False,
        )  # fmt: skip
        request_id = request.id
        service.verify_signed_in(session, ctx(runtime), request, actor=STAFF)
    with runtime.sessions() as session:
        assert preferences.current_choice(session, sid) == "opted_out"
    assert load(runtime, request_id).progress["objection"]["effect"] == rules.OPT_OUT


def test_an_objection_must_name_an_objectable_purpose(runtime: Runtime) -> None:
    sid = person(runtime)
    for purpose in (None, "service_provision", "no_such_purpose"):
        with transaction(runtime.sessions) as session, pytest.raises(ObjectionInvalid):
            service.create(
                session, ctx(runtime), actor=STAFF, subject_id=sid, kind="objection",
                channel="api", purpose=purpose, send=False,
            )  # fmt: skip
    with transaction(runtime.sessions) as session, pytest.raises(ObjectionInvalid):
        service.create(
            session, ctx(runtime), actor=STAFF, subject_id=sid, kind="access", channel="api",
            purpose="platform_improvement", send=False,
        )  # fmt: skip


def test_a_rectification_corrects_and_logs_field_names_only(runtime: Runtime) -> None:
    sid = person(runtime)
    rid = verified(runtime, sid, "rectification")
    values = {"name": "Ada Qzcorrected", "email": "ada.new@example.com"}
    with transaction(runtime.sessions) as session:
        service.rectify(session, ctx(runtime), rid, actor=STAFF, values=values)
    request = load(runtime, rid)
    assert request.status == "completed"
    assert request.progress["rectification"]["fields"] == ["email", "name"]
    assert "qzcorrected" not in json.dumps(request.progress).lower()
    assert "ada.new" not in json.dumps(request.progress)
    sctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with runtime.sessions() as session:
        view = subjects.read(session, sctx, sid, purpose="service_provision", actor=STAFF)
    assert view.data["account.name"] == {"full_name": "Ada Qzcorrected"}
    assert view.data["account.email"] == {"email": "ada.new@example.com"}


def test_a_rectification_refuses_unknown_fields_and_half_addresses(runtime: Runtime) -> None:
    sid = person(runtime)
    rid = verified(runtime, sid, "rectification")
    for values in ({}, {"shoe_size": "42"}, {"street": "2 Example Road"}):
        with transaction(runtime.sessions) as session, pytest.raises(RectificationInvalid):
            service.rectify(session, ctx(runtime), rid, actor=STAFF, values=values)
    assert load(runtime, rid).status == "verified"  # nothing moved


def test_an_erased_person_has_nothing_to_export(runtime: Runtime) -> None:
    sid = person(runtime)
    with transaction(runtime.sessions) as session:
        session.get(Subject, sid).status = "erased"  # type: ignore[union-attr]
    with runtime.sessions() as session, pytest.raises(SubjectErased):
        export.render_html(session, ctx(runtime), sid)
    with pytest.raises(SubjectErased):
        export.stream_json(runtime.sessions, ctx(runtime), sid)
