"""The outbox against a real database and a real SMTP server (aiosmtpd on loopback): who gets
what, the headers and parts of what they get, and what happens when things go wrong."""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage

import pytest
from sqlalchemy import delete, select

from safehold.access.models import AuditEntry
from safehold.comms import dispatch, jobs, outbox, preferences, rules, service, suppression, tokens
from safehold.comms.mail import MailConfig, MailError, SmtpMailer
from safehold.comms.models import MarketingChoice, OutboxItem
from safehold.comms.outbox import Report
from safehold.db import transaction
from safehold.policy import Policy, parse_policy
from safehold.runtime import Runtime
from safehold.subjects import emails
from safehold.subjects import service as subjects
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import (
    BASE_URL,
    CRM,
    MAIL_FROM,
    MAILTO,
    POLICY,
    counts,
    deliver_all,
    enqueue,
    register,
)

LINK = re.compile(rf"{re.escape(BASE_URL)}/unsubscribe/([A-Za-z0-9_-]{{22}}\.[A-Za-z0-9_-]{{22}})")


def consent_policy() -> Policy:
    """The default policy with marketing moved from the soft opt-in to consent."""
    text = POLICY.read_text(encoding="utf-8")
    soft = "lawful_basis: legitimate_interests\n    interest: Telling existing customers"
    assert text.count(soft) == 1
    return parse_policy(
        text.replace(soft, "lawful_basis: consent\n    interest: Telling existing customers")
    )


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


def items(runtime: Runtime, message_id: uuid.UUID) -> dict[uuid.UUID, OutboxItem]:
    with runtime.sessions() as session:
        rows = session.scalars(select(OutboxItem).where(OutboxItem.message_id == message_id))
        return {row.subject_id: row for row in rows}


def opt_out(runtime: Runtime, subject_id: uuid.UUID, channel: str = "api") -> None:
    with transaction(runtime.sessions) as session:
        person = subjects.get(session, subject_id)
        preferences.record_choice(
            session, subject=person, choice=rules.OPTED_OUT, channel=channel, actor=CRM,
            policy_version="test", clock=runtime.clock,
        )  # fmt: skip


def test_a_service_update_reaches_every_active_account_and_no_one_else(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com", opt_in=False)
    bo = register(runtime, "Bo Brightwater", "bo@example.net")
    cy = register(runtime, "Cy Closedman", "cy@example.com")
    with transaction(runtime.sessions) as session:
        subjects.close(
            session, subjects.Context(runtime.vault, runtime.policy, runtime.clock), cy, actor=CRM
        )
    message_id = enqueue(runtime, "service_update", None, subject="Maintenance for {{ name }}")
    report = deliver_all(runtime, mailer)
    assert report.sent == 2
    assert counts(runtime, message_id) == {"sent": 2}
    assert set(items(runtime, message_id)) == {ada, bo}  # "all" means active accounts
    (mail,) = smtp.inbox.to("ada@example.com")
    assert mail["Subject"] == "Maintenance for Ada Quillfeather"
    assert mail["To"] == "ada@example.com"
    assert mail["From"].addresses[0].addr_spec == MAIL_FROM
    assert mail["From"].addresses[0].display_name == runtime.policy.policy.operator
    assert mail["List-Unsubscribe"] is None  # an opt-out of marketing does not stop service mail
    text, html = parts(mail)
    assert "Dear Ada Quillfeather," in text
    assert "<p>Dear Ada Quillfeather,</p>" in html
    assert mail["Message-ID"] == items(runtime, message_id)[ada].mail_message_id
    assert smtp.inbox.received[0].mail_from == MAIL_FROM


def test_links_in_an_email_lead_to_safeholds_own_pages(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    # Issue 17, item 2: /me and /policy are served by Safehold at SAFEHOLD_BASE_URL, not by
    # the controller's website (the policy's "website", https://example.com here).
    register(runtime, "Ada Quillfeather", "ada@example.com")
    text = "Your choices: {{ privacy_center_url }}\nThe policy: {{ policy_url }}"
    enqueue(runtime, "service_update", None, text=text)
    deliver_all(runtime, mailer)
    (mail,) = smtp.inbox.to("ada@example.com")
    plain, html = parts(mail)
    for body in (plain, html):
        assert f"{BASE_URL}/me" in body
        assert f"{BASE_URL}/policy" in body
        assert str(runtime.policy.controller.website).rstrip("/") + "/me" not in body


def test_a_policy_posted_on_the_operators_own_site_keeps_its_address() -> None:
    config = MailConfig(base_url=BASE_URL, mail_from=MAIL_FROM, from_name="IPTV Reseller")
    assert config.link("/me") == f"{BASE_URL}/me"
    assert config.link("https://iptv.example.net/privacy") == "https://iptv.example.net/privacy"


def test_an_account_notice_reaches_a_closed_account_named_by_id(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    cy = register(runtime, "Cy Closedman", "cy@example.com")
    with transaction(runtime.sessions) as session:
        subjects.close(
            session, subjects.Context(runtime.vault, runtime.policy, runtime.clock), cy, actor=CRM
        )
    notice = enqueue(runtime, "account_notice", [cy], subject="Your account is closed")
    marketing = enqueue(runtime, "marketing", [cy], subject="Come back")
    deliver_all(runtime, mailer)
    assert counts(runtime, notice) == {"sent": 1}
    assert items(runtime, marketing)[cy].reason == "subject.closed"
    assert [m["Subject"] for m in smtp.inbox.messages()] == ["Your account is closed"]


def test_a_campaign_reaches_exactly_the_eligible_with_rfc_8058_headers(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    bo = register(runtime, "Bo Brightwater", "bo@example.net", opt_in=False)
    message_id = enqueue(
        runtime, "marketing", None, subject="Spring offer",
        html="<html><body><h1>Hi {{ name }}</h1></body></html>",
    )  # fmt: skip
    rows = items(runtime, message_id)
    assert (rows[bo].status, rows[bo].reason) == (
        "skipped",
        "purposes.communication.marketing.opt_out",
    )
    deliver_all(runtime, mailer)
    assert counts(runtime, message_id) == {"sent": 1, "skipped": 1}
    (mail,) = smtp.inbox.messages()
    assert mail["To"] == "ada@example.com"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = (t.strip().strip("<>") for t in mail["List-Unsubscribe"].split(","))
    token = https.rsplit("/", 1)[1]
    assert https == f"{BASE_URL}/unsubscribe/{token}"
    assert mailto == f"mailto:{MAILTO}?subject=unsubscribe%20{token}"
    raw = smtp.inbox.received[0].data
    assert f"List-Unsubscribe: <{https}>".encode() in raw  # one line, not RFC 2047 words
    text, html = parts(mail)
    assert LINK.search(text)[1] == token  # type: ignore[index]
    assert f'<a href="{https}">Unsubscribe</a>' in html
    assert html.index("Unsubscribe") < html.index("</body>")
    key = tokens.derive_key(runtime.vault.provider.index_key())
    assert tokens.read_token(key, token) == rows[ada].id
    assert "ada" not in token.lower()
    assert "example" not in https.split("/unsubscribe/")[1]


def test_an_opt_out_after_enqueue_means_no_mail(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    bo = register(runtime, "Bo Brightwater", "bo@example.net")
    message_id = enqueue(runtime, "marketing", [ada, bo])
    assert counts(runtime, message_id) == {"queued": 2}
    opt_out(runtime, bo)
    assert items(runtime, message_id)[bo].status == "skipped"  # at once, before any worker runs
    deliver_all(runtime, mailer)
    assert [m["To"] for m in smtp.inbox.messages()] == ["ada@example.com"]
    assert counts(runtime, message_id) == {"sent": 1, "skipped": 1}


def test_an_opt_out_between_rendering_and_handing_over_means_no_mail(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    message_id = enqueue(runtime, "marketing", [ada])
    ctx, report = service.context(runtime), Report()
    with transaction(runtime.sessions) as session:
        token, ids = outbox.claim(session, now=runtime.clock.now(), worker="w1", batch_size=10)
    with transaction(runtime.sessions) as session:
        prepared = dispatch.prepare(session, ctx, ids, token, worker="w1", report=report)
    opt_out(runtime, ada)  # the e-mail is rendered in the worker's memory, not yet sent
    with transaction(runtime.sessions) as session:
        dispatch.send_group(session, ctx, mailer, prepared, token, report)
    assert smtp.inbox.received == []
    assert report.cancelled == 1
    assert items(runtime, message_id)[ada].reason == "purposes.communication.marketing.opt_out"


def test_suppression_is_checked_at_dispatch_too(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    bo = register(runtime, "Bo Brightwater", "bo@example.net")
    cy = register(runtime, "Cy Example", "cy@example.com")
    campaign = enqueue(runtime, "marketing", [ada, bo, cy])
    update = enqueue(runtime, "service_update", [ada, bo, cy])
    with transaction(runtime.sessions) as session:
        for email, kind in (("ada@example.com", "complaint"), ("BO@example.net", "hard_bounce")):
            suppression.record_report(
                session, runtime.vault, email=email, kind=rules.SuppressionKind(kind),
                source="test", actor=CRM, clock=runtime.clock,
            )  # fmt: skip
    deliver_all(runtime, mailer)
    assert {i.subject_id: i.reason for i in items(runtime, campaign).values()} == {
        ada: "suppression.complaint", bo: "suppression.hard_bounce", cy: None,
    }  # fmt: skip
    assert {i.subject_id: i.reason for i in items(runtime, update).values()} == {
        ada: None, bo: "suppression.hard_bounce", cy: None,
    }  # fmt: skip
    got = sorted((m["To"], m["List-Unsubscribe"] is not None) for m in smtp.inbox.messages())
    assert got == [("ada@example.com", False), ("cy@example.com", False), ("cy@example.com", True)]
    again = enqueue(runtime, "marketing", [ada, bo, cy])  # checked at enqueue as well
    assert counts(runtime, again) == {"queued": 1, "suppressed": 2}


def test_an_erased_address_never_gets_marketing_again_even_as_a_new_account(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    with transaction(runtime.sessions) as session:
        index = subjects.get(session, ada).email_index
        assert index is not None
        assert suppression.suppress_erased(session, index, clock=runtime.clock)
        assert not suppression.suppress_erased(session, index, clock=runtime.clock)  # idempotent
        person = subjects.get(session, ada)
        emails.release(session, [person])  # what erasure does next (issue 7)
        person.email_index = None
        session.flush()
    again = register(runtime, "Ada Quillfeather", "Ada@Example.com")
    campaign = enqueue(runtime, "marketing", [again])
    update = enqueue(runtime, "service_update", [again])
    deliver_all(runtime, mailer)
    assert counts(runtime, campaign) == {"suppressed": 1}
    assert counts(runtime, update) == {"sent": 1}
    with runtime.sessions() as session:
        kinds = suppression.kinds_by_index(session, [index])
    assert kinds == {index: {"erased"}}  # only the keyed hash is kept


def test_a_policy_that_needs_consent_only_reaches_people_who_opted_in(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    bo = register(runtime, "Bo Brightwater", "bo@example.net")
    with transaction(runtime.sessions) as session:  # Bo made no choice at all
        session.execute(delete(MarketingChoice).where(MarketingChoice.subject_id == bo))
    soft = enqueue(runtime, "marketing", [ada, bo])
    assert counts(runtime, soft) == {"queued": 2}  # soft opt-in: no opt-out is enough
    runtime.book.fallback = consent_policy()
    strict = enqueue(runtime, "marketing", [ada, bo])
    assert items(runtime, strict)[bo].reason == "purposes.communication.marketing.consent"
    deliver_all(runtime, mailer)  # the soft campaign is decided again at dispatch, too
    assert counts(runtime, soft) == {"sent": 1, "skipped": 1}
    assert sorted(m["To"] for m in smtp.inbox.messages()) == ["ada@example.com"] * 2


def test_an_smtp_server_that_is_down_means_retries_then_failed_and_nothing_lost(
    runtime: Runtime, smtp: SmtpServer
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    bo = register(runtime, "Bo Brightwater", "bo@example.net")
    message_id = enqueue(runtime, "service_update", [ada, bo])
    down = SmtpMailer("127.0.0.1", smtp.port + 1 if smtp.port < 65535 else 1, timeout=2)
    clock = runtime.clock
    for attempt in range(1, rules.MAX_ATTEMPTS + 1):
        report = deliver_all(runtime, down)
        assert report.claimed == 2, attempt
        rows = items(runtime, message_id)
        assert {r.attempts for r in rows.values()} == {attempt}
        assert {r.reason for r in rows.values()} == {"smtp.unreachable"}
        if attempt < rules.MAX_ATTEMPTS:
            assert counts(runtime, message_id) == {"queued": 2}
            assert deliver_all(runtime, down).claimed == 0  # backoff: not due yet
            clock.advance(rules.RETRY_DELAYS[attempt - 1])  # type: ignore[attr-defined]
    assert counts(runtime, message_id) == {"failed": 2}
    with transaction(runtime.sessions) as session:
        assert service.requeue_failed(session, message_id, clock=clock) == 2
    up = SmtpMailer.from_settings(runtime.settings)
    deliver_all(runtime, up)
    up.close()
    assert counts(runtime, message_id) == {"sent": 2}
    assert len(smtp.inbox.received) == 2


def test_a_refused_recipient_fails_at_once_and_the_others_are_delivered(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    bo = register(runtime, "Bo Brightwater", "bo@example.net")
    cy = register(runtime, "Cy Example", "cy@example.com")
    smtp.inbox.refuse["bo@example.net"] = "550 5.1.1 <bo@example.net>: user unknown"
    smtp.inbox.refuse["cy@example.com"] = "451 4.3.0 try again later"
    message_id = enqueue(runtime, "service_update", [ada, bo, cy])
    deliver_all(runtime, mailer)
    rows = items(runtime, message_id)
    assert (rows[bo].status, rows[bo].reason, rows[bo].attempts) == (
        "failed",
        "smtp.rejected.550",
        1,
    )
    assert (rows[cy].status, rows[cy].reason) == ("queued", "smtp.rejected.451")
    assert rows[ada].status == "sent"
    assert "bo@example.net" not in (rows[bo].reason or "")  # the server's text is never kept


def test_a_worker_that_dies_after_handing_over_leads_to_a_second_copy_with_the_same_id(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    class Crash(Exception):
        pass

    class DiesAfterSending:
        def connect(self) -> None:
            mailer.connect()

        def send(self, message: bytes, *, sender: str, recipient: str) -> None:
            mailer.send(message, sender=sender, recipient=recipient)
            raise Crash  # the process dies before it can record "sent"

        def close(self) -> None:
            mailer.close()

    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    message_id = enqueue(runtime, "marketing", [ada])
    with pytest.raises(Crash):
        jobs.deliver(runtime.sessions, service.context(runtime), DiesAfterSending(), worker="w1")
    assert items(runtime, message_id)[ada].status == "sending"
    assert deliver_all(runtime, mailer, worker="w2").claimed == 0  # w1's lease still holds
    runtime.clock.advance(rules.LEASE)  # type: ignore[attr-defined]
    assert deliver_all(runtime, mailer, worker="w2").sent == 1
    first, second = smtp.inbox.messages()
    assert (
        first["Message-ID"]
        == second["Message-ID"]
        == items(runtime, message_id)[ada].mail_message_id
    )
    with runtime.sessions() as session:
        renders = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "message.render", AuditEntry.subject_id == ada
            )
        ).all()
    assert [(e.outcome, e.purpose, e.categories) for e in renders] == [
        ("allowed", rules.MARKETING, ["account.email", "account.name"])
    ] * 2  # both reads audited, each before its copy left


def test_every_render_is_decided_and_audited_and_refusals_too(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    ada = register(runtime, "Ada Quillfeather", "ada@example.com")
    bo = register(runtime, "Bo Brightwater", "bo@example.net")
    message_id = enqueue(runtime, "marketing", [ada, bo], subject="Offer", text="Hello!")
    with transaction(runtime.sessions) as session:  # closed after the campaign was queued
        subjects.close(
            session, subjects.Context(runtime.vault, runtime.policy, runtime.clock), bo, actor=CRM
        )
    deliver_all(runtime, mailer)
    assert items(runtime, message_id)[bo].reason == "subject.closed"
    with runtime.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "message.render").order_by(AuditEntry.seq)
        ).all()
    assert sorted(
        (e.subject_id == ada, e.categories, e.outcome, e.request_id) for e in entries
    ) == [
        (False, ["account.email"], "refused", str(message_id)),
        (True, ["account.email"], "allowed", str(message_id)),  # the templates need no name
    ]
    assert {e.purpose for e in entries} == {rules.MARKETING}


def test_a_template_that_fails_for_one_person_fails_only_their_e_mail(
    runtime: Runtime, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    ann = register(runtime, "Ann Q", "ann@example.com")  # five characters: 1 / 0 below
    bo = register(runtime, "Bo Brightwater", "bo@example.net")
    message_id = enqueue(runtime, "service_update", [ann, bo], text="{{ 10 / (name|length - 5) }}")
    deliver_all(runtime, mailer)
    rows = items(runtime, message_id)
    assert (rows[ann].status, rows[ann].reason) == ("failed", "template.render_failed")
    assert rows[bo].status == "sent"


def test_starttls_and_login_are_used_with_a_verified_certificate(
    runtime: Runtime, tmp_path: object
) -> None:
    from pathlib import Path

    from tests.integration.comms.smtp import self_signed, smtp_server

    server_tls, client_tls = self_signed(Path(str(tmp_path)))
    with smtp_server(tls=server_tls, login=("mailer", "s3cret-example")) as secure:
        ada = register(runtime, "Ada Quillfeather", "ada@example.com")
        message_id = enqueue(runtime, "service_update", [ada])
        wrong = SmtpMailer(
            secure.host, secure.port, security="starttls", username="mailer", password="nope",
            ssl_context=client_tls,
        )  # fmt: skip
        deliver_all(runtime, wrong)
        assert items(runtime, message_id)[ada].reason == "smtp.auth_failed"
        runtime.clock.advance(rules.RETRY_DELAYS[0])  # type: ignore[attr-defined]
        right = SmtpMailer(
            secure.host, secure.port, security="starttls", username="mailer",
            password="s3cret-example", ssl_context=client_tls,
        )  # fmt: skip
        deliver_all(runtime, right)
        right.close()
        assert counts(runtime, message_id) == {"sent": 1}
        assert len(secure.inbox.received) == 1
        untrusted = SmtpMailer(secure.host, secure.port, security="starttls")  # system CAs only
        with pytest.raises(MailError) as refused:
            untrusted.connect()
        assert refused.value.code == "smtp.tls_failed"


def test_credentials_are_never_sent_without_tls_to_a_remote_server() -> None:
    mailer = SmtpMailer("mail.example.net", 587, username="mailer", password="s3cret-example")
    with pytest.raises(MailError) as refused:
        mailer.connect()
    assert refused.value.code == "smtp.credentials_need_tls"
