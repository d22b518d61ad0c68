"""Per-recipient secrets (``{{ secret }}``): stored only vault-encrypted, rendered into that
recipient's e-mail alone, and dropped once the row's delivery is settled."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from safehold.comms import service
from safehold.comms.errors import TemplateInvalid
from safehold.comms.mail import SmtpMailer
from safehold.comms.models import Message, OutboxItem
from safehold.db import transaction
from safehold.runtime import Runtime
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import CRM, counts, deliver_all, enqueue, register

TEXT = "Dear {{ name }},\n\nYour code is {{ secret }}."


def _submit(runtime: Runtime, secrets: dict[uuid.UUID, str]) -> uuid.UUID:
    with transaction(runtime.sessions) as session:
        message = service.enqueue(
            session, service.context(runtime), actor=CRM, kind="account_notice",
            subject_ids=list(secrets), subject="Your code", text=TEXT, html=None,
            secrets=secrets,
        )  # fmt: skip
        return message.id


def _plaintext_columns(runtime: Runtime, value: str) -> list[str]:
    found = []
    with runtime.sessions() as session:
        for table in (Message.__table__, OutboxItem.__table__):
            for row in session.execute(select(table)).mappings():
                for column, stored in row.items():
                    raw = stored if isinstance(stored, bytes) else str(stored).encode()
                    if value.encode() in raw:
                        found.append(f"{table.name}.{column}")
    return found


def _sealed(runtime: Runtime, message_id: uuid.UUID) -> dict[uuid.UUID, bytes | None]:
    with runtime.sessions() as session:
        rows = session.scalars(select(OutboxItem).where(OutboxItem.message_id == message_id))
        return {row.subject_id: row.sealed_secret for row in rows}


def test_a_template_using_secret_without_secrets_is_refused(runtime: Runtime) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    with pytest.raises(TemplateInvalid) as refused:
        enqueue(runtime, "account_notice", [ada], text=TEXT)
    assert refused.value.details["variable"] == "secret"
    assert refused.value.details["part"] == "text"


def test_secrets_must_name_exactly_the_recipients(runtime: Runtime) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    bo = register(runtime, "Bo Brightwater", "bo@example.net")
    with pytest.raises(ValueError, match="exactly"), transaction(runtime.sessions) as session:
        service.enqueue(
            session, service.context(runtime), actor=CRM, kind="account_notice",
            subject_ids=[ada, bo], subject="Your code", text=TEXT, html=None,
            secrets={ada: "31415926"},
        )  # fmt: skip


def test_each_recipient_gets_their_own_secret_and_none_is_kept_in_plain_text(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    bo = register(runtime, "Bo Brightwater", "bo@example.net")
    message_id = _submit(runtime, {ada: "31415926", bo: "27182818"})
    assert all(_sealed(runtime, message_id).values())
    assert _plaintext_columns(runtime, "31415926") == []
    assert _plaintext_columns(runtime, "27182818") == []

    assert deliver_all(runtime, mailer).sent == 2
    (to_ada,) = smtp.inbox.to("ada@example.com")
    (to_bo,) = smtp.inbox.to("bo@example.net")
    ada_text, bo_text = (m.get_body(("plain",)) for m in (to_ada, to_bo))
    assert ada_text is not None
    assert bo_text is not None
    assert "Your code is 31415926." in str(ada_text.get_content())
    assert "Your code is 27182818." in str(bo_text.get_content())
    assert "27182818" not in to_ada.as_string()
    assert "31415926" not in to_bo.as_string()
    assert _sealed(runtime, message_id) == {ada: None, bo: None}


def test_a_permanent_failure_drops_the_secret_and_a_requeue_cannot_resend_it(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    smtp.inbox.refuse["ada@example.com"] = "550 5.1.1 No such mailbox"
    message_id = _submit(runtime, {ada: "31415926"})
    deliver_all(runtime, mailer)
    assert counts(runtime, message_id) == {"failed": 1}
    assert _sealed(runtime, message_id) == {ada: None}

    smtp.inbox.refuse.clear()
    with transaction(runtime.sessions) as session:
        assert service.requeue_failed(session, message_id, clock=runtime.clock) == 1
    deliver_all(runtime, mailer)
    assert smtp.inbox.to("ada@example.com") == []
    with runtime.sessions() as session:
        item = session.scalars(select(OutboxItem).where(OutboxItem.message_id == message_id)).one()
    assert (item.status, item.reason) == ("failed", "outbox.secret_gone")
