"""Restriction of processing (Art. 18): applied on a verified request, it narrows every
purpose to legal obligations, tells recipients and the person; it is lifted only after the
e-mail telling the person has been sent, and then recipients are told again."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.analytics import rules as analytics_rules
from safehold.analytics import service as analytics
from safehold.analytics.models import Rollup
from safehold.clock import FrozenClock
from safehold.comms import service as comms
from safehold.comms.mailers import ConsoleMailer
from safehold.comms.models import Message, OutboxItem
from safehold.db import transaction
from safehold.policy import load_policy
from safehold.requests import restriction
from safehold.requests.errors import (
    LiftNotAnnounced,
    LiftNoticeNotSent,
    ReasonUnknown,
    RestrictionInForce,
    RestrictionLifted,
)
from safehold.runtime import Runtime
from safehold.sharing import service as sharing
from safehold.sharing.models import Propagation
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from safehold.subjects.errors import PurposeRefused
from safehold.subjects.models import Subject
from tests.conftest import DEFAULT_POLICY
from tests.e2e.conftest import audit_entries
from tests.integration.analytics.helpers import KEY, Raw, people, store
from tests.integration.comms.support import deliver_all
from tests.integration.requests.support import (
    STAFF,
    ctx,
    load,
    open_request,
    person,
    signed_in,
    verified,
)

POLICY = load_policy(DEFAULT_POLICY)
PLATFORM = ("smart_tv", "Tizen", "6", "Samsung Internet", "2")


def _mailer(tmp_path: Path) -> ConsoleMailer:
    return ConsoleMailer(tmp_path / "mail", out=Console(file=io.StringIO()))


def _mails(tmp_path: Path) -> list[EmailMessage]:
    found = []
    for path in sorted((tmp_path / "mail").glob("*.eml")):
        parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append(parsed)
    return found


def _text(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def _status(runtime: Runtime, sid: uuid.UUID) -> str:
    with runtime.sessions() as session:
        subject = session.get(Subject, sid)
        assert subject is not None
        return subject.status


def _notices(runtime: Runtime, sid: uuid.UUID) -> list[tuple[str, str]]:
    with runtime.sessions() as session:
        rows = session.scalars(
            select(Propagation)
            .where(Propagation.subject_id == sid)
            .order_by(Propagation.created_at, Propagation.event)
        ).all()
        return [(r.recipient_id, r.event) for r in rows]


def _actions(runtime: Runtime, sid: uuid.UUID) -> list[str]:
    return [e.action for e in audit_entries(runtime, None) if e.subject_id == sid]


def _apply(runtime: Runtime, rid: uuid.UUID, reason: str = "accuracy_contested") -> None:
    with transaction(runtime.sessions) as session:
        restriction.apply(session, ctx(runtime), rid, actor=STAFF, reason=reason)


def test_applying_narrows_every_purpose_and_tells_recipients_and_the_person(
    runtime: Runtime, tmp_path: Path
) -> None:
    sid = person(runtime)
    rid = verified(runtime, sid, "restriction")
    with transaction(runtime.sessions) as session, pytest.raises(ReasonUnknown):
        restriction.apply(session, ctx(runtime), rid, actor=STAFF, reason="because")
    _apply(runtime, rid)

    request = load(runtime, rid)
    assert (request.status, request.progress["restriction"]["reason"]) == (
        "completed", "accuracy_contested"
    )  # fmt: skip
    assert _status(runtime, sid) == "restricted"
    assert "subject.restrict" in _actions(runtime, sid)
    assert ("email_delivery", "restriction") in _notices(runtime, sid)

    sctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        with pytest.raises(PurposeRefused) as refused:
            subjects.read(session, sctx, sid, purpose="service_provision", actor=STAFF)
        assert refused.value.details["rule"] == "subject.restricted"
        kept = subjects.read(session, sctx, sid, purpose="legal_obligation", actor=STAFF)
        assert kept.data["account.name"]["full_name"] == "Ada Example"
        shared = sharing.disclose(
            session, sctx, actor=STAFF, recipient="payment_processor",
            purpose="service_provision", subject_ids=[sid], categories=["account.email"],
            reference=None,
        )  # fmt: skip
        assert (shared.people[0].outcome, shared.people[0].rule) == (
            "refused", "subject.restricted"
        )  # fmt: skip
        news = comms.enqueue(
            session, comms.context(runtime), actor=STAFF, kind="marketing", subject_ids=[sid],
            subject="News", text="Hello {{ name }}", html=None,
        )  # fmt: skip
        marketing = session.scalars(
            select(OutboxItem).where(OutboxItem.message_id == news.id)
        ).one()
        assert (marketing.status, marketing.reason) == ("skipped", "subject.restricted")

    deliver_all(runtime, _mailer(tmp_path))
    applied = [
        m for m in _mails(tmp_path) if m["subject"] == "Processing of your data is restricted"
    ]
    assert len(applied) == 1
    assert "We will e-mail you before we lift the restriction." in _text(applied[0])
    assert "Hello Ada Example" in _text(applied[0])


def test_the_lift_waits_for_the_e_mail_telling_the_person(runtime: Runtime, tmp_path: Path) -> None:
    sid = person(runtime)
    rid = verified(runtime, sid, "restriction")
    _apply(runtime, rid, "objection_pending")
    with transaction(runtime.sessions) as session, pytest.raises(LiftNotAnnounced):
        restriction.lift(session, ctx(runtime), rid, actor=STAFF)
    with transaction(runtime.sessions) as session:
        with pytest.raises(ReasonUnknown):
            restriction.announce_lift(session, ctx(runtime), rid, actor=STAFF, reason="bored")
        restriction.announce_lift(
            session, ctx(runtime), rid, actor=STAFF, reason="objection_decided"
        )
    with transaction(runtime.sessions) as session, pytest.raises(LiftNoticeNotSent) as waiting:
        restriction.lift(session, ctx(runtime), rid, actor=STAFF)
    assert waiting.value.details["status"] == "queued"
    assert _status(runtime, sid) == "restricted"

    deliver_all(runtime, _mailer(tmp_path))
    told = [m for m in _mails(tmp_path) if m["subject"] == "We are lifting the restriction"]
    assert len(told) == 1
    assert "because the objection was decided" in _text(told[0])

    with transaction(runtime.sessions) as session:
        restriction.lift(session, ctx(runtime), rid, actor=STAFF)
    assert _status(runtime, sid) == "active"
    assert _notices(runtime, sid)[-1] == ("email_delivery", "restriction_end")
    assert _actions(runtime, sid)[-1] == "subject.unrestrict"
    with transaction(runtime.sessions) as session, pytest.raises(RestrictionLifted):
        restriction.lift(session, ctx(runtime), rid, actor=STAFF)


def test_a_restricted_person_still_gets_the_codes_their_requests_need(runtime: Runtime) -> None:
    sid = person(runtime)
    _apply(runtime, signed_in(runtime, sid, "restriction"))
    with pytest.raises(RestrictionInForce):
        open_request(runtime, sid, "restriction")
    open_request(runtime, sid, "access")  # e-mails a code while restricted
    with runtime.sessions() as session:
        kind, status = session.execute(
            select(Message.kind, OutboxItem.status)
            .join(OutboxItem, OutboxItem.message_id == Message.id)
            .where(OutboxItem.subject_id == sid, Message.subject_template.like("%code%"))
        ).one()
    assert (kind, status) == ("rights_notice", "queued")


def test_closing_while_restricted_keeps_it_restricted_and_the_lift_leaves_it_closed(
    runtime: Runtime, tmp_path: Path
) -> None:
    sid = person(runtime)
    rid = signed_in(runtime, sid, "restriction")
    _apply(runtime, rid, "legal_claims")
    sctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        subjects.close(session, sctx, sid, actor=STAFF)
    assert _status(runtime, sid) == "restricted"
    with transaction(runtime.sessions) as session:
        restriction.announce_lift(session, ctx(runtime), rid, actor=STAFF, reason="person_asked")
    deliver_all(runtime, _mailer(tmp_path))
    with transaction(runtime.sessions) as session:
        restriction.lift(session, ctx(runtime), rid, actor=STAFF)
    assert _status(runtime, sid) == "closed"


def test_recipients_hear_each_change_once_in_order(
    runtime: Runtime, tmp_path: Path, clock: FrozenClock
) -> None:
    sid = person(runtime)
    first = signed_in(runtime, sid, "restriction")
    _apply(runtime, first)
    again = signed_in(runtime, sid, "access")  # a request meanwhile changes nothing
    assert load(runtime, again).status == "verified"
    with transaction(runtime.sessions) as session:
        restriction.announce_lift(session, ctx(runtime), first, actor=STAFF, reason="person_asked")
    deliver_all(runtime, _mailer(tmp_path))
    clock.advance(timedelta(minutes=1))
    with transaction(runtime.sessions) as session:
        restriction.lift(session, ctx(runtime), first, actor=STAFF)
    clock.advance(timedelta(minutes=1))
    _apply(runtime, signed_in(runtime, sid, "restriction"))  # restricted again, notices unsent
    events = [e for r, e in _notices(runtime, sid) if r == "email_delivery"]
    assert events == ["restriction", "restriction_end", "restriction"]


def test_a_restricted_person_is_left_out_of_the_usage_statistics(session: Session) -> None:
    """What /me promises ("we leave you out of our usage statistics"): the status that
    ``apply`` sets keeps the person's events out of every roll-up."""
    ids = people(session, 11)
    noon = datetime(2026, 2, 2, 12, tzinfo=UTC)
    store(session, ids, [Raw(p, "channel.play", noon, PLATFORM) for p in range(11)])
    restricted = session.get(Subject, ids[0])
    assert restricted is not None
    restricted.status = subject_rules.RESTRICTED
    session.flush()
    analytics_ctx = analytics.Context(POLICY, FrozenClock(datetime(2026, 3, 5, tzinfo=UTC)), KEY)
    analytics.build_days(session, analytics_ctx, [noon.date()])
    row = session.scalars(
        select(Rollup).where(Rollup.period == "day", Rollup.grain == analytics_rules.NAME)
    ).one()
    assert row.events == 10
    assert analytics_rules.people(analytics_rules.load(row.people)) == 10
