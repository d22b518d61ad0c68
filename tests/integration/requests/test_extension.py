"""Extending a request's deadline (decision 0029): only before the first deadline passes, and
in the same transaction the person is e-mailed the new deadline and the reason, as a rights
notice while they are restricted."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from safehold.access.models import AuditEntry
from safehold.clock import FrozenClock
from safehold.comms import rules as comms_rules
from safehold.comms.models import Message, OutboxItem
from safehold.db import transaction
from safehold.requests import extension, restriction, rules
from safehold.requests.errors import ExtensionTooLate, ReasonUnknown
from safehold.requests.models import DataRequest
from safehold.runtime import Runtime
from tests.integration.requests.support import STAFF, ctx, load, open_request, person, verified


def _extend(runtime: Runtime, rid: uuid.UUID, reason: str = "complexity") -> DataRequest:
    with transaction(runtime.sessions) as session:
        request = extension.extend(
            session, ctx(runtime), rid, actor=STAFF, reason=reason, extension="P1M"
        )
        session.expunge(request)
        return request


def _notice(runtime: Runtime, item_id: uuid.UUID | None) -> tuple[OutboxItem, Message]:
    with runtime.sessions() as session:
        row = session.execute(
            select(OutboxItem, Message)
            .join(Message, Message.id == OutboxItem.message_id)
            .where(OutboxItem.id == item_id)
        ).one()
        session.expunge_all()
        return row[0], row[1]


@pytest.mark.parametrize("reason", sorted(rules.EXTENSION_REASONS))
def test_extending_e_mails_the_person_the_new_deadline_and_the_reason_in_words(
    runtime: Runtime, reason: str
) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid, "access")
    first = load(runtime, rid).deadline_at
    request = _extend(runtime, rid, reason)
    assert request.first_deadline_at == first
    assert request.deadline_at == rules.deadline(first, "P1M")
    item, message = _notice(runtime, request.extension_notice_item)
    assert item.subject_id == sid
    assert item.status == "queued"
    assert (message.kind, item.purpose) == ("account_notice", "communication.service")
    text = message.text_template
    assert f"We had until {first:%Y-%m-%d}" in text
    assert f"we will now answer by {request.deadline_at:%Y-%m-%d}" in text
    assert f"Why: {rules.EXTENSION_WORDS[reason]}" in text
    assert f"reference {str(rid)[:8]}" in text
    assert f"{runtime.settings.base_url.rstrip('/')}/me/requests" in text  # not the website
    with runtime.sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject_id == sid)
        ).all()
    assert "request.extend" in actions


def test_an_extension_is_possible_up_to_the_first_deadline_and_refused_after_it(
    runtime: Runtime, clock: FrozenClock
) -> None:
    sid = person(runtime)
    on_time = open_request(runtime, sid, "access")
    late = open_request(runtime, sid, "rectification")
    deadline = load(runtime, late).deadline_at
    clock.set(deadline)
    assert _extend(runtime, on_time).extended_at == deadline  # the last moment still counts
    clock.set(deadline + timedelta(microseconds=1))
    newest = select(OutboxItem.id).order_by(OutboxItem.created_at.desc(), OutboxItem.id)
    with runtime.sessions() as session:
        before = session.scalars(newest).all()
    with pytest.raises(ExtensionTooLate) as refused:
        _extend(runtime, late)
    assert refused.value.code == "extension_too_late"
    assert refused.value.details == {"deadline_at": deadline.isoformat()}
    after = load(runtime, late)  # nothing written: no extension, no e-mail
    assert (after.extended_at, after.deadline_at, after.extension_notice_item) == (
        None, deadline, None,
    )  # fmt: skip
    with runtime.sessions() as session:
        assert session.scalars(newest).all() == before


def test_a_refused_extension_queues_no_e_mail(runtime: Runtime) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid, "access")
    with runtime.sessions() as session:
        queued = len(session.scalars(select(OutboxItem.id)).all())
    with pytest.raises(ReasonUnknown):
        _extend(runtime, rid, "we_were_busy")
    _extend(runtime, rid)
    with runtime.sessions() as session:
        assert len(session.scalars(select(OutboxItem.id)).all()) == queued + 1


def test_a_restricted_person_is_told_by_a_rights_notice(runtime: Runtime) -> None:
    sid = person(runtime)
    rid = verified(runtime, sid, "restriction")
    with transaction(runtime.sessions) as session:
        restriction.apply(session, ctx(runtime), rid, actor=STAFF, reason="legal_claims")
    request = _extend(runtime, open_request(runtime, sid, "access"))
    item, message = _notice(runtime, request.extension_notice_item)
    assert message.kind == comms_rules.RIGHTS_NOTICE
    assert item.purpose == "legal_obligation"
    assert item.status == "queued"  # not skipped: the restriction allows a legal obligation
