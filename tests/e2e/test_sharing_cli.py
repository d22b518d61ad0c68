"""`safehold ropa` and `safehold sharing …` as an operator runs them, including delivery of a
signed notice to a real webhook endpoint on loopback."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from safehold import migrate
from safehold.access.rules import Actor
from safehold.cli import app
from safehold.config import load_settings
from safehold.db import transaction
from safehold.runtime import build_runtime
from safehold.sharing import propagation, service, webhooks
from safehold.subjects import rules
from safehold.subjects import service as subjects
from tests.integration.sharing.receiver import Receiver, serve

runner = CliRunner()
ACTOR = Actor("admin", "test")


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("SAFEHOLD_") and "TEST" not in k]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SAFEHOLD_DATA_DIR", str(tmp_path / "var"))
    return tmp_path


def shared_then_erased() -> uuid.UUID:
    """One person whose e-mail went to the payment processor, then erased (in-process)."""
    runtime = build_runtime(load_settings())
    migrate.upgrade(runtime.engine)
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock)
    with transaction(runtime.sessions) as session:
        sid = subjects.register(
            session, ctx, actor=ACTOR, marketing_opt_in=False, policy_version="v1",
            contact=rules.contact(name="Pat Example", email="pat@example.com"),
        ).id  # fmt: skip
        service.disclose(
            session, ctx, actor=ACTOR, recipient="payment_processor",
            purpose="service_provision", subject_ids=[sid], categories=["account.email"],
            reference=None,
        )  # fmt: skip
        propagation.notify_erasure(
            session, sid, policy=runtime.policy, clock=runtime.clock, actor=ACTOR
        )
    runtime.close()
    return sid


def test_ropa_in_every_format(tmp_path: Path) -> None:
    shared_then_erased()
    as_json = runner.invoke(app, ["ropa", "--format", "json", "--verify"])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    assert document["controller"]["email"] == "privacy@example.com"
    assert document["security"]["audit"]["intact"] is True
    assert document["security"]["outstanding_notices"] == 1
    markdown = runner.invoke(app, ["ropa"])
    assert markdown.output.startswith("# Record of processing activities")
    page = tmp_path / "ropa.html"
    html = runner.invoke(app, ["ropa", "--format", "html", "-o", str(page)])
    assert html.exit_code == 0
    assert "<h1>Record of processing activities" in page.read_text()


def test_notices_are_listed_and_acknowledged_by_staff() -> None:
    shared_then_erased()
    listed = runner.invoke(app, ["sharing", "notices"])
    assert listed.exit_code == 0, listed.output
    assert "payment_processor" in listed.output
    assert "manual" in listed.output
    runtime = build_runtime(load_settings())
    with transaction(runtime.sessions) as session:
        [notice] = propagation.list_propagations(session, now=runtime.clock.now())
    runtime.close()
    acked = runner.invoke(app, ["sharing", "ack", str(notice.id)])
    assert acked.exit_code == 0, acked.output
    assert "payment_processor" not in runner.invoke(app, ["sharing", "notices"]).output
    twice = runner.invoke(app, ["sharing", "ack", str(notice.id)])
    assert twice.exit_code == 2
    assert "acknowledged" in twice.output
    assert runner.invoke(app, ["sharing", "ack", "not-an-id"]).exit_code == 2


def test_deliver_sends_a_signed_notice_to_a_real_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = runner.invoke(app, ["sharing", "webhook-secret"]).output.strip()
    assert len(webhooks.secret_key(secret)) == webhooks.SECRET_BYTES
    with serve(Receiver(secret, now=lambda: int(time.time()))) as receiver:
        hook = {"payment_processor": {"url": receiver.url, "secret": secret}}
        monkeypatch.setenv("SAFEHOLD_RECIPIENT_WEBHOOKS", json.dumps(hook))
        sid = shared_then_erased()
        recipients = runner.invoke(app, ["sharing", "recipients"])
        assert "webhook" in recipients.output
        delivered = runner.invoke(app, ["sharing", "deliver"])
        assert delivered.exit_code == 0, delivered.output
        assert "1 attempted, 1 delivered" in delivered.output
    [request] = receiver.received
    assert request.authentic
    assert request.body["data"]["subject_id"] == str(sid)


def test_a_wrong_webhook_setting_stops_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SAFEHOLD_RECIPIENT_WEBHOOKS",
        '{"payment_processor": {"url": "http://hooks.example.net/x", "secret": "whsec_x"}}',
    )
    result = runner.invoke(app, ["sharing", "deliver"])
    assert result.exit_code == 2
    assert "SAFEHOLD_RECIPIENT_WEBHOOKS" in result.output
    assert "hooks.example.net" not in result.output
    assert "Traceback" not in result.output
