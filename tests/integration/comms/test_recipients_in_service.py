"""The e-mail provider is a recipient of everyone it delivers to (issue 17, item 5): each
e-mail handed to it is recorded, aggregated per person, in the send transaction; the person
sees it on /me and in the export, the RoPA counts it, an erasure notifies it; a failed
hand-over records nothing."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from safehold.center import service as center
from safehold.clock import FrozenClock
from safehold.comms.mail import SmtpMailer
from safehold.comms.templating import CATEGORIES
from safehold.db import transaction
from safehold.policy import parse_policy
from safehold.policy.delivery import MAIL_CATEGORIES
from safehold.requests import export
from safehold.requests import routes as request_routes
from safehold.runtime import Runtime
from safehold.sharing import deliveries, propagation, ropa
from safehold.sharing.models import ServiceDelivery
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import CRM, POLICY, deliver_all, enqueue, register


def test_the_policy_check_knows_every_category_an_email_can_carry() -> None:
    assert set(MAIL_CATEGORIES) == CATEGORIES


def test_every_email_sent_is_received_by_the_provider_once_per_person_row(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer, clock: FrozenClock
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com", opt_in=False)
    bo = register(runtime, "Bo Brightwater", "bo@example.net")
    enqueue(runtime, "service_update", None, subject="Maintenance for {{ name }}")
    first = clock.now()
    assert deliver_all(runtime, mailer).sent == 2
    clock.advance(timedelta(days=2))
    enqueue(runtime, "service_update", [ada], subject="More maintenance for {{ name }}")
    enqueue(runtime, "service_update", [ada], subject="Done", text="All done.")
    assert deliver_all(runtime, mailer).sent == 2
    with runtime.sessions() as session:
        rows = session.scalars(
            select(ServiceDelivery).order_by(ServiceDelivery.subject_id, ServiceDelivery.categories)
        ).all()
    got = {(r.subject_id, r.categories): (r.count, r.first_at, r.last_at) for r in rows}
    assert got == {
        (ada, "account.email,account.name"): (2, first, clock.now()),
        (ada, "account.email"): (1, clock.now(), clock.now()),  # "All done." names no one
        (bo, "account.email,account.name"): (1, first, first),
    }
    assert {r.recipient_id for r in rows} == {"email_delivery"}
    assert {r.purpose for r in rows} == {"service_provision"}


def test_the_person_sees_the_provider_on_me_and_in_the_export(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com", opt_in=False)
    enqueue(runtime, "service_update", [ada], subject="Maintenance for {{ name }}")
    enqueue(runtime, "service_update", [ada], subject="Maintenance, again, {{ name }}")
    assert deliver_all(runtime, mailer).sent == 2
    with transaction(runtime.sessions) as session:
        view = center.overview(session, center.context(runtime), ada, actor=CRM)
    by_id = {c.id: c for c in view.categories}
    for category in ("account.email", "account.name"):
        [line] = by_id[category].received_by
        assert (line.recipient_id, line.count, line.purpose) == (
            "email_delivery", 2, "service_provision",
        )  # fmt: skip
    assert by_id["account.phone"].received_by == []
    body = b"".join(export.stream_json(runtime.sessions, request_routes.context(runtime), ada))
    categories = {c["id"]: c for c in json.loads(body)["categories"]}
    [received] = categories["account.email"]["recipients"]["received"]
    assert (received["recipient"], received["kind"], received["count"]) == (
        "email_delivery", "in_service", 2,
    )  # fmt: skip


def test_the_ropa_counts_each_email_and_each_person_once(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com", opt_in=False)
    register(runtime, "Bo Brightwater", "bo@example.net")
    enqueue(runtime, "service_update", None, subject="Maintenance for {{ name }}")
    enqueue(runtime, "service_update", [ada], subject="Done", text="All done.")
    assert deliver_all(runtime, mailer).sent == 3
    with runtime.sessions() as session:
        live = ropa.figures(
            session, vault=runtime.vault, now=runtime.clock.now(), webhooks=frozenset()
        )
        received = propagation.received_by(session, ada)
    assert live.disclosures["email_delivery"] == (3, 2)
    assert received == {"email_delivery": {"account.email", "account.name"}}


def test_a_refused_handover_records_nothing(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com", opt_in=False)
    enqueue(runtime, "service_update", [ada])
    smtp.inbox.refuse["ada@example.com"] = "550 5.1.1 <ada@example.com>: user unknown"
    report = deliver_all(runtime, mailer)
    assert report.sent == 0
    with runtime.sessions() as session:
        assert deliveries.deliveries_for(session, ada) == []


def test_a_policy_naming_no_provider_records_nothing(runtime: Runtime) -> None:
    text = POLICY.read_text(encoding="utf-8")
    policy = parse_policy(text.replace("    delivers_email: true", "    delivers_email: false"))
    assert policy.mail_recipient is None
    with transaction(runtime.sessions) as session:
        ada = register(runtime, "Ada Quillfeather", "ada@example.com", opt_in=False)
        written = deliveries.record_mail(
            session, policy, [(ada, ("account.email",))], runtime.clock.now()
        )
    assert written == 0
