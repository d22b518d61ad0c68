"""Helpers shared by the communication tests (integration and e2e)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from safehold.access.rules import Actor
from safehold.comms import jobs, service
from safehold.comms.mail import Mailer
from safehold.comms.outbox import Report
from safehold.config import Settings
from safehold.db import transaction
from safehold.runtime import Runtime
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from tests.integration.comms.smtp import SmtpServer

ROOT = Path(__file__).resolve().parents[3]
POLICY = ROOT / "policies" / "default.yaml"
BASE_URL = "https://safehold.example.com"
MAIL_FROM = "news@example.com"
MAILTO = "unsubscribe@example.com"
CRM = Actor("api_key", "crm")


def comms_settings(tmp_path: Path, smtp: SmtpServer, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "policy": POLICY,
        "max_request_bytes": 64 * 1024,
        "base_url": BASE_URL,
        "mail_from": MAIL_FROM,
        "mail_unsubscribe_mailto": MAILTO,
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "smtp_timeout": 5.0,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


def register(
    runtime: Runtime, name: str, email: str, *, opt_in: bool = True, phone: str | None = None
) -> uuid.UUID:
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        person = subjects.register(
            session,
            ctx,
            actor=CRM,
            contact=subject_rules.contact(name=name, email=email, phone=phone),
            marketing_opt_in=opt_in,
            policy_version="test",
        )
        return person.id


def enqueue(
    runtime: Runtime, kind: str, to: list[uuid.UUID] | None, *, subject: str = "Hello {{ name }}",
    text: str = "Dear {{ name }},\n\nNews from {{ operator }}.", html: str | None = None,
) -> uuid.UUID:  # fmt: skip
    with transaction(runtime.sessions) as session:
        message = service.enqueue(
            session, service.context(runtime), actor=CRM, kind=kind, subject_ids=to,
            subject=subject, text=text, html=html,
        )  # fmt: skip
        return message.id


def deliver_all(runtime: Runtime, mailer: Mailer, **options: Any) -> Report:
    """Run delivery rounds until nothing is due; the counts of every round added up."""
    total = Report()
    while True:
        report = jobs.deliver(runtime.sessions, service.context(runtime), mailer, **options)
        if not report.claimed:
            return total
        total.add(report)


def counts(runtime: Runtime, message_id: uuid.UUID) -> dict[str, int]:
    with transaction(runtime.sessions) as session:
        return {k: v for k, v in service.view(session, message_id).counts.items() if v}
