"""Opening a request and verifying it with the e-mailed code: hash only, expiry, attempts,
no reuse; wrong or expired codes change nothing but the attempt count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from safehold.clock import FrozenClock
from safehold.comms import jobs
from safehold.comms.mail import SmtpMailer
from safehold.comms.models import Message, OutboxItem
from safehold.db import transaction
from safehold.requests import extension, rules, service
from safehold.requests.errors import (
    CodeAttemptsExhausted,
    CodeExpired,
    CodeInvalid,
    ErasureAlreadyOpen,
    TransitionRefused,
)
from safehold.runtime import Runtime
from safehold.subjects.errors import SubjectNotFound
from tests.integration.comms.smtp import smtp_server
from tests.integration.requests.support import (
    STAFF,
    code_sent,
    ctx,
    load,
    open_request,
    person,
    verified,
)


def test_a_request_gets_its_deadline_and_the_code_goes_to_the_outbox_as_a_hash_only(
    runtime: Runtime,
) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid)
    request = load(runtime, rid)
    assert request.status == "received"
    assert request.deadline_at == rules.deadline(request.received_at, "P1M")
    with runtime.sessions() as session:
        code = code_sent(runtime, session, sid)
        item = session.scalars(select(OutboxItem).where(OutboxItem.subject_id == sid)).one()
        assert item.status == "queued"
        assert item.purpose == "communication.service"
    assert request.code_hash is not None
    assert code not in request.code_hash
    assert request.code_hash == rules.hash_code(
        rules.code_key(runtime.vault.provider.index_key()), rid, code
    )
    assert request.code_expires_at == request.received_at + rules.CODE_TTL


def _stored_anywhere(runtime: Runtime, code: str) -> list[str]:
    """Every column of every message and outbox row that holds the code in plain text."""
    found = []
    with runtime.sessions() as session:
        for table in (Message.__table__, OutboxItem.__table__):
            for row in session.execute(select(table)).mappings():
                for column, value in row.items():
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    if code.encode() in raw:
                        found.append(f"{table.name}.{column}")
    return found


def test_the_code_is_stored_only_sealed_and_dropped_once_the_e_mail_is_sent(
    runtime: Runtime,
) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid)
    with runtime.sessions() as session:
        code = code_sent(runtime, session, sid)
        template = session.scalars(select(Message.text_template)).one()
        item = session.scalars(select(OutboxItem).where(OutboxItem.subject_id == sid)).one()
        assert item.sealed_secret is not None
    assert "{{ secret }}" in template
    assert code not in template
    assert _stored_anywhere(runtime, code) == []
    with smtp_server() as server:
        mailer = SmtpMailer(server.host, server.port, timeout=5.0)
        try:
            report = jobs.deliver(runtime.sessions, ctx(runtime).comms, mailer)
        finally:
            mailer.close()
        assert report.sent == 1
        (received,) = server.inbox.to("ada@example.com")
    body = received.get_body(("plain",))
    assert body is not None
    assert f"Your verification code is {code}." in str(body.get_content())
    with runtime.sessions() as session:
        item = session.scalars(select(OutboxItem).where(OutboxItem.subject_id == sid)).one()
        assert item.status == "sent"
        assert item.sealed_secret is None
    assert _stored_anywhere(runtime, code) == []
    with transaction(runtime.sessions) as session:  # only the stored copy went; the code works
        service.verify(session, ctx(runtime), rid, actor=STAFF, code=code)
    assert load(runtime, rid).status == "verified"


def test_the_right_code_verifies_once_and_cannot_be_used_again(runtime: Runtime) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid)
    with transaction(runtime.sessions) as session:
        code = code_sent(runtime, session, sid)
        service.verify(session, ctx(runtime), rid, actor=STAFF, code=code)
    request = load(runtime, rid)
    assert request.status == "verified"
    assert request.code_hash is None
    with pytest.raises(TransitionRefused), transaction(runtime.sessions) as session:
        service.verify(session, ctx(runtime), rid, actor=STAFF, code=code)


def _try(runtime: Runtime, rid: object, code: str) -> None:
    with runtime.sessions() as session:
        try:
            service.verify(session, ctx(runtime), rid, actor=STAFF, code=code)  # type: ignore[arg-type]
        except (CodeInvalid, CodeExpired, CodeAttemptsExhausted):
            session.commit()  # what the HTTP layer does for keeps_writes errors
            raise


def test_wrong_codes_are_counted_and_then_the_code_is_dead(runtime: Runtime) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid)
    with runtime.sessions() as session:
        code = code_sent(runtime, session, sid)
    wrong = "00000000" if code != "00000000" else "11111111"
    for attempt in range(1, rules.CODE_MAX_ATTEMPTS + 1):
        with pytest.raises(CodeInvalid):
            _try(runtime, rid, wrong)
        request = load(runtime, rid)
        assert (request.status, request.code_attempts) == ("received", attempt)
    with pytest.raises(CodeAttemptsExhausted):
        _try(runtime, rid, code)
    assert load(runtime, rid).status == "received"


def test_an_expired_code_is_refused_and_a_new_one_works(
    runtime: Runtime, clock: FrozenClock
) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid)
    with runtime.sessions() as session:
        old = code_sent(runtime, session, sid)
    clock.advance(rules.CODE_TTL)
    with pytest.raises(CodeExpired):
        _try(runtime, rid, old)
    assert load(runtime, rid).status == "received"
    clock.advance(timedelta(seconds=1))
    with transaction(runtime.sessions) as session:
        request = service.get(session, rid)
        service.issue_code(session, ctx(runtime), request, actor=STAFF)
    with runtime.sessions() as session:
        new = code_sent(runtime, session, sid)
    if new != old:
        with pytest.raises(CodeInvalid):
            _try(runtime, rid, old)  # the earlier code died with its replacement
    with transaction(runtime.sessions) as session:
        service.verify(session, ctx(runtime), rid, actor=STAFF, code=new)
    assert load(runtime, rid).status == "verified"


def test_a_second_erasure_while_one_is_open_is_refused(runtime: Runtime) -> None:
    sid = person(runtime)
    verified(runtime, sid)
    with pytest.raises(ErasureAlreadyOpen), transaction(runtime.sessions) as session:
        service.create(
            session, ctx(runtime), actor=STAFF, subject_id=sid, kind="erasure", channel="api"
        )
    open_request(runtime, sid, kind="access")  # other kinds are not blocked


def test_unknown_people_are_refused(runtime: Runtime) -> None:
    import uuid

    with pytest.raises(SubjectNotFound), transaction(runtime.sessions) as session:
        service.create(
            session,
            ctx(runtime),
            actor=STAFF,
            subject_id=uuid.uuid4(),
            kind="access",
            channel="api",
        )


def test_extension_once_with_a_listed_reason_and_overdue_listing(
    runtime: Runtime, clock: FrozenClock
) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid, kind="access")
    received = load(runtime, rid).received_at
    with transaction(runtime.sessions) as session:
        extension.extend(
            session, ctx(runtime), rid, actor=STAFF, reason="complexity", extension="P1M"
        )
    request = load(runtime, rid)
    assert request.deadline_at == rules.deadline(rules.deadline(received, "P1M"), "P1M")
    assert request.extension_reason == "complexity"
    with pytest.raises(Exception, match="already extended"), transaction(runtime.sessions) as s:
        extension.extend(s, ctx(runtime), rid, actor=STAFF, reason="complexity", extension="P1D")
    with runtime.sessions() as session:
        assert service.overdue_count(session, clock.now()) == 0
        clock.set(request.deadline_at + timedelta(minutes=1))
        assert service.overdue_count(session, clock.now()) == 1
        found = service.listing(session, now=clock.now(), overdue=True)
        assert [r.id for r in found] == [rid]
    with transaction(runtime.sessions) as session:
        service.reject(session, ctx(runtime), rid, actor=STAFF, reason="withdrawn")
    with runtime.sessions() as session:
        assert service.overdue_count(session, clock.now()) == 0
    request = load(runtime, rid)
    assert request.status == "rejected"
    assert request.rejection_reason == "withdrawn"
    assert request.responded_at == clock.now()
