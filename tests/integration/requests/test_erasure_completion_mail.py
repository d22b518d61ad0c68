"""Issue 17 item 11, decision 0028: the completion of an erasure is confirmed by e-mail.

The erasure queues the e-mail before it shreds the address, sealed under the outbox row's own
data key and held; the certificate releases it and says the address is kept for it, until
when; the worker sends it with the certificate link; settling the row (sent, or failed for
good) destroys the key. SMTP down: the erasure completes all the same, the e-mail is retried
like any other and its key destroyed when it fails for good."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from safehold.comms import rules as comms_rules
from safehold.comms import service as comms
from safehold.comms.mail import SmtpMailer
from safehold.comms.models import OutboxItem
from safehold.config import Settings
from safehold.db import transaction
from safehold.requests import jobs
from safehold.runtime import Runtime
from safehold.vault.models import DataKey
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import BASE_URL, comms_settings, deliver_all
from tests.integration.requests.support import ctx, person, verified

SUBJECT = "Your deletion request has been carried out"


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp)


def _row(runtime: Runtime, item_id: str) -> OutboxItem:
    with runtime.sessions() as session:
        item = session.scalars(select(OutboxItem).where(OutboxItem.id == uuid.UUID(item_id))).one()
        assert item is not None
        session.expunge(item)
        return item


def _key_exists(runtime: Runtime, sid: uuid.UUID, klass: str) -> bool:
    with runtime.sessions() as session:
        return session.get(DataKey, (sid, klass)) is not None


def _erase(runtime: Runtime, sid: uuid.UUID) -> tuple[uuid.UUID, dict]:  # type: ignore[type-arg]
    rid = verified(runtime, sid)
    return rid, jobs.erase(runtime.sessions, ctx(runtime), rid)


def _completion(cert: dict) -> dict:  # type: ignore[type-arg]
    (entry,) = [k for k in cert["kept"] if k["kind"] == "completion_mail"]
    return entry  # type: ignore[no-any-return]


def test_the_completion_mail_waits_for_the_certificate_then_goes_with_the_link_and_its_key(
    runtime: Runtime, smtp: SmtpServer
) -> None:
    sid = person(runtime, "Ada")
    rid = verified(runtime, sid)
    mailer = SmtpMailer.from_settings(runtime.settings)
    deliver_all(runtime, mailer)  # the confirmation of the request, sent before the erasure
    smtp.inbox.received.clear()
    held: list[int] = []

    def after(step: str) -> None:  # while the erasure runs, the e-mail is held
        if step in ("queue_completion_mail", "verify"):
            held.append(deliver_all(runtime, mailer).claimed)

    cert = jobs.erase(runtime.sessions, ctx(runtime), rid, after_step=after)
    assert held == [0, 0]
    entry = _completion(cert)
    klass = entry["classes"][0]
    assert (entry["category"], entry["legal_basis"]) == ("account.email", "legal_obligation")
    assert datetime.fromisoformat(entry["until"]) == runtime.clock.now() + comms_rules.OWN_KEY_TTL
    assert klass not in cert["erased"]["retention_classes_shredded"]
    assert "account_contact" in cert["erased"]["retention_classes_shredded"]
    row = _row(runtime, entry["ref"])
    assert (row.status, row.reason, row.subject_id) == ("queued", None, sid)
    assert row.sealed_recipient is not None
    assert _key_exists(runtime, sid, klass)

    report = deliver_all(runtime, mailer)
    mailer.close()
    assert (report.sent, report.keys_destroyed) == (1, 1)
    (mail,) = [m.message for m in smtp.inbox.received]
    assert (mail["To"], mail["Subject"]) == ("ada@example.com", SUBJECT)
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert f"{BASE_URL}/me/requests/{rid}/certificate?link=" in text
    assert "Ada" not in text  # the name was erased: the e-mail uses nothing of the account
    row = _row(runtime, entry["ref"])
    assert row.status == "sent"
    assert (row.sealed_recipient, row.sealed_secret, row.recipient_index) == (None, None, None)
    assert not _key_exists(runtime, sid, klass)


def test_with_smtp_down_the_erasure_completes_and_the_address_goes_when_the_mail_fails(
    runtime: Runtime, smtp: SmtpServer
) -> None:
    sid = person(runtime, "Bo")
    down = SmtpMailer("127.0.0.1", smtp.port + 1 if smtp.port < 65535 else 1, timeout=2)
    _rid, cert = _erase(runtime, sid)
    assert cert["outcome"] == "completed"
    assert cert["verification"]["ok"] is True
    entry = _completion(cert)
    klass = entry["classes"][0]
    for attempt in range(1, comms_rules.MAX_ATTEMPTS + 1):
        deliver_all(runtime, down)
        row = _row(runtime, entry["ref"])
        assert (row.attempts, row.reason) == (attempt, "smtp.unreachable")
        if attempt < comms_rules.MAX_ATTEMPTS:
            assert row.status == "queued"
            assert _key_exists(runtime, sid, klass)
            runtime.clock.advance(comms_rules.RETRY_DELAYS[attempt - 1])  # type: ignore[attr-defined]
    row = _row(runtime, entry["ref"])
    assert row.status == "failed"
    assert (row.sealed_recipient, row.sealed_secret, row.recipient_index) == (None, None, None)
    assert not _key_exists(runtime, sid, klass)
    # Queued again by hand, it cannot be sent: the address is gone for good.
    with transaction(runtime.sessions) as session:
        assert comms.requeue_failed(session, row.message_id, clock=runtime.clock) == 1
    up = SmtpMailer.from_settings(runtime.settings)
    deliver_all(runtime, up)
    up.close()
    assert _row(runtime, entry["ref"]).reason == "vault.erased"
    assert all(m.message["Subject"] != SUBJECT for m in smtp.inbox.received)


class Crash(Exception):
    pass


def test_a_mail_never_released_is_dropped_unsent_when_its_bound_passes(
    runtime: Runtime, smtp: SmtpServer
) -> None:
    sid = person(runtime, "Cy")
    rid = verified(runtime, sid)

    def crash(step: str) -> None:
        if step == "queue_completion_mail":
            raise Crash

    with pytest.raises(Crash):
        jobs.erase(runtime.sessions, ctx(runtime), rid, after_step=crash)
    with runtime.sessions() as session:
        item = session.scalars(
            select(OutboxItem).where(OutboxItem.reason == comms_rules.HELD)
        ).one()
        klass, item_id = comms_rules.row_key_class(item.id.hex), item.id
    mailer = SmtpMailer.from_settings(runtime.settings)
    runtime.clock.advance(comms_rules.OWN_KEY_TTL)  # type: ignore[attr-defined]
    report = deliver_all(runtime, mailer)
    mailer.close()
    assert report.keys_destroyed == 1
    row = _row(runtime, str(item_id))
    assert (row.status, row.reason, row.sealed_recipient) == (
        "skipped", comms_rules.HELD_EXPIRED, None,
    )  # fmt: skip
    assert not _key_exists(runtime, sid, klass)
    assert all(m.message["Subject"] != SUBJECT for m in smtp.inbox.received)


def test_a_released_mail_not_sent_within_its_bound_is_dropped(
    runtime: Runtime, smtp: SmtpServer
) -> None:
    sid = person(runtime, "Di")
    _rid, cert = _erase(runtime, sid)
    entry = _completion(cert)
    runtime.clock.advance(comms_rules.OWN_KEY_TTL)  # type: ignore[attr-defined]  # no worker ran
    mailer = SmtpMailer.from_settings(runtime.settings)
    deliver_all(runtime, mailer)
    mailer.close()
    row = _row(runtime, entry["ref"])
    assert (row.status, row.reason) == ("skipped", comms_rules.OWN_KEY_EXPIRED)
    assert not _key_exists(runtime, sid, entry["classes"][0])
    assert all(m.message["Subject"] != SUBJECT for m in smtp.inbox.received)
