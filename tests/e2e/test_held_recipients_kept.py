"""Issue 17, items 4, 5 and 6, repeated as reported, through HTTP: what /me and the export
say is held, who received the data, and what is kept (and readable) after an erasure."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from safehold.access.rules import Actor
from safehold.config import Settings
from safehold.db import transaction
from safehold.events import service as events
from safehold.events.schemas import BatchIn
from safehold.runtime import Runtime
from tests.e2e.test_privacy_center import post_form, sign_in
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings, register

ACTOR = Actor("api_key", "iptv-backend")
EMAIL = "ada.quill@example.com"


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp)


@pytest.fixture
def ada(runtime: Runtime) -> uuid.UUID:
    return register(runtime, "Ada Quill", EMAIL)


def _ingest(runtime: Runtime, sid: uuid.UUID, name: str, properties: dict[str, object]) -> None:
    at = runtime.clock.now() - timedelta(minutes=5)
    batch = BatchIn.model_validate({
        "context": {"ip": "198.51.100.23"},
        "events": [{"event_id": str(uuid.uuid4()), "subject_id": str(sid), "name": name,
                    "timestamp": at.isoformat(), "properties": properties}],
    })  # fmt: skip
    ectx = events.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        events.ingest(session, ectx, batch, actor=ACTOR, received_at=runtime.clock.now())


def _section(page: str, label: str) -> str:
    """The /me section of one category, from its heading to the next."""
    found = re.search(rf"<h2[^>]*>{re.escape(label)}</h2>(.*?)</section>", page, re.S)
    assert found, f"no section {label!r} on the page"
    return found.group(1)


def _export(client: TestClient) -> dict[str, object]:
    assert post_form(client, "/me/export", {}).status_code == 303
    link = re.search(r'href="(/exports/[^"?]+)"', client.get("/me/export").text)
    assert link, "no download link on the page"
    data = client.get(link.group(1))
    assert data.status_code == 200
    body: dict[str, object] = data.json()
    return body


def test_item4_shortened_ips_are_said_to_be_held_on_me_and_in_the_export(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, ada: uuid.UUID
) -> None:
    _ingest(runtime, ada, "login", {"method": "password"})
    _ingest(runtime, ada, "app.open", {"screen": "home"})
    sign_in(client, runtime, smtp, EMAIL)
    what_we_hold = _section(client.get("/me").text, "IP address (shortened)")
    assert "Nothing." not in what_we_hold
    assert "2 shortened IP addresses" in what_we_hold
    body = _export(client)
    categories = {c["id"]: c for c in body["categories"]}  # type: ignore[attr-defined]
    assert categories["network.ip"]["held"] is True
    ips = [e["ip"] for e in body["events"]] + [x["ip"] for x in body["logins"]]  # type: ignore[attr-defined]
    assert ips == ["198.51.100.0/24", "198.51.100.0/24"]
