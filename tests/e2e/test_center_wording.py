"""Issue 20, item 9: the privacy center's words say what happened — counts agree in number,
ids such as ``smart_tv`` read as words, and "the services that received them are being told"
only when some did (each is queued an Art. 19 notice)."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from safehold.access.rules import Actor
from safehold.db import transaction
from safehold.events import service as events
from safehold.events.schemas import BatchIn
from safehold.runtime import Runtime
from safehold.sharing import service as sharing
from safehold.sharing.models import Propagation
from safehold.subjects import service as subjects
from tests.e2e.test_privacy_center import ada as _ada_fixture
from tests.e2e.test_privacy_center import post_form
from tests.e2e.test_privacy_center import settings as _settings_fixture
from tests.e2e.test_privacy_center import signed_in as _signed_in_fixture
from tests.integration.events.conftest import TIZEN

# the privacy-center tests' fixtures, shared: SMTP sink settings, Ada, Ada signed in
settings, ada, signed_in = _settings_fixture, _ada_fixture, _signed_in_fixture
BACK_END = Actor("service", "crm")
MINE = {"email": "ada.quill@example.com", "phone": "+44 20 7946 0958"}


def _sign_in_on_a_tv(runtime: Runtime, person: uuid.UUID) -> None:
    ctx = events.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    batch = BatchIn.model_validate({"context": {"user_agent": TIZEN}, "events": [{
        "event_id": str(uuid.uuid4()), "subject_id": str(person), "anonymous_id": "tv-1",
        "name": "login", "timestamp": runtime.clock.now().isoformat(),
    }]})  # fmt: skip
    with transaction(runtime.sessions) as session:
        events.ingest(session, ctx, batch, actor=BACK_END, received_at=runtime.clock.now())


def test_a_device_reads_as_words_and_its_count_agrees(
    signed_in: TestClient, runtime: Runtime, ada: uuid.UUID
) -> None:
    _sign_in_on_a_tv(runtime, ada)
    devices = signed_in.get("/me/devices").text
    assert "Smart TV" in devices
    assert "smart_tv" not in devices
    overview = signed_in.get("/me").text
    assert "1 device" in overview
    assert "1 devices" not in overview
    assert "1 sign-in" in overview


def test_a_correction_nobody_received_says_nobody_is_told(
    signed_in: TestClient, runtime: Runtime, ada: uuid.UUID
) -> None:
    # the phone number went to nobody (the e-mail provider received name and address only)
    answer = post_form(
        signed_in, "/me/details", {**MINE, "name": "Ada Quill", "phone": "+44 20 7946 0000"}
    )
    assert answer.status_code == 303, answer.text
    page = signed_in.get(answer.headers["location"]).text
    assert "Your details are corrected.</p>" in page
    assert "being told" not in page
    with runtime.sessions() as session:
        assert not session.scalars(select(Propagation).where(Propagation.subject_id == ada)).all()


def test_a_correction_a_recipient_received_says_it_is_being_told(
    signed_in: TestClient, runtime: Runtime, ada: uuid.UUID
) -> None:
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        sharing.disclose(
            session, ctx, actor=BACK_END, recipient="payment_processor",
            purpose="service_provision", subject_ids=[ada], categories=["account.name"],
            reference=None,
        )  # fmt: skip
    answer = post_form(signed_in, "/me/details", {**MINE, "name": "Ada M. Quill"})
    assert answer.status_code == 303, answer.text
    page = signed_in.get(answer.headers["location"]).text
    assert "The services that received them are being told of the correction." in page
    with runtime.sessions() as session:
        told = session.scalars(select(Propagation).where(Propagation.subject_id == ada)).all()
    # the payment processor, and the e-mail provider that delivered the sign-in code to Ada
    assert sorted((p.recipient_id, p.event, p.categories[0]) for p in told) == [
        ("email_delivery", "rectification", "account.name"),
        ("payment_processor", "rectification", "account.name"),
    ]
