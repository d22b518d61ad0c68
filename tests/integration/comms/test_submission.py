"""Submitting a message: what is refused up front, and what one row per recipient records."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from safehold.access.models import AuditEntry
from safehold.comms.errors import (
    TemplateCategoryRefused,
    TemplateInvalid,
    UnknownKind,
    UnknownRecipients,
)
from safehold.comms.models import OutboxItem
from safehold.policy import parse_policy
from safehold.runtime import Runtime
from tests.integration.comms.support import MAIL_FROM, POLICY, enqueue, register


def test_one_row_per_recipient_with_a_stable_message_id_and_one_audit_entry(
    runtime: Runtime,
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    bo = register(runtime, "Bo Brightwater", "bo@example.net")
    message_id = enqueue(runtime, "announcement", [ada, bo, ada])  # a repeated id counts once
    with runtime.sessions() as session:
        rows = session.scalars(select(OutboxItem).where(OutboxItem.message_id == message_id)).all()
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "message.enqueue.announcement")
        ).all()
    assert sorted(r.subject_id for r in rows) == sorted([ada, bo])
    assert all(r.mail_message_id == f"<{r.id.hex}@{MAIL_FROM.split('@')[1]}>" for r in rows)
    assert [(e.subject_id, e.categories, e.purpose) for e in entries] == [
        (None, [], "communication.service")  # no personal data was read to queue it
    ]


def test_unknown_kinds_recipients_and_broken_templates_are_refused(runtime: Runtime) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    with pytest.raises(UnknownKind):
        enqueue(runtime, "newsletter", [ada])
    with pytest.raises(UnknownRecipients) as unknown:
        enqueue(runtime, "service_update", [ada, uuid.uuid4()])
    assert unknown.value.details == {"unknown": 1}
    with pytest.raises(TemplateInvalid) as broken:
        enqueue(runtime, "service_update", [ada], text="ok\n{% if name %}unclosed")
    assert broken.value.details["part"] == "text"
    with runtime.sessions() as session:
        assert session.scalars(select(OutboxItem)).first() is None  # nothing queued


def test_templates_may_not_use_what_the_purpose_may_not(runtime: Runtime) -> None:
    text = POLICY.read_text(encoding="utf-8")
    wide = "categories: [account.name, account.email]\n    marketing: true"
    assert text.count(wide) == 1
    runtime.book.fallback = parse_policy(
        text.replace(wide, "categories: [account.email]\n    marketing: true")
    )
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    with pytest.raises(TemplateCategoryRefused) as refused:
        enqueue(runtime, "marketing", [ada], subject="Hi {{ name }}")
    assert refused.value.details == {
        "category": "account.name",
        "purpose": "communication.marketing",
        "rule": "purposes.communication.marketing.categories",
    }
    enqueue(runtime, "marketing", [ada], subject="Hi", text="Hello {{ email }}")  # fine
