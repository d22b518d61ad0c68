"""Issue 17, item 1, repeated end to end: a material version that adds a recipient in the US
and keeps shortened IP addresses 90 days instead of 30 applies to a person only once they
accept it — until then a disclosure to the new recipient is refused for them with
``policy.not_accepted``, their addresses go after 30 days, and /me/policy shows the pending
version with an accept button; after they accept, both apply."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from safehold.client import new_event_id
from safehold.clock import FrozenClock
from safehold.comms import jobs as comms_jobs
from safehold.comms import service as comms
from safehold.comms.mail import SmtpMailer
from safehold.config import Settings
from safehold.events import jobs as events_jobs
from safehold.runtime import Runtime
from tests.conftest import DEFAULT_POLICY
from tests.e2e.conftest import MakeKey, bearer
from tests.e2e.test_privacy_center import post_form, sign_in
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings

V1 = DEFAULT_POLICY.read_text()
PARTNER = """  - id: insights_partner
    name: Example Insights Inc. (fictional)
    role: processor
    description: Measures how reliably our service reaches you.
    purposes: [service_provision]
    categories: [account.email]
    country: US
    agreement: a data processing agreement (GDPR Art. 28)
    transfer_safeguard: EU Standard Contractual Clauses (2021/914)
  - id: authorities
"""
IP_RULE = "    period: {}\n    from: collected\n    action: delete\n    reason: Abuse"
V2 = V1.replace("  - id: authorities\n", PARTNER, 1).replace(
    IP_RULE.format("P30D"), IP_RULE.format("P90D")
)
SCOPES = ["policy:admin", "subjects:read", "subjects:write", "disclosures:write", "events:write"]


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp)


@pytest.fixture
def admin(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key(SCOPES, ["*"], name="privacy-team"))


def person(client: TestClient, admin: dict[str, str], name: str, email: str) -> str:
    body = {"name": name, "email": email, "marketing_opt_in": False}
    answer = client.post("/v1/subjects", json=body, headers=admin)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def signs_in_from(client: TestClient, admin: dict[str, str], runtime: Runtime, sid: str) -> None:
    """A login event from the person's set-top box: its shortened address is kept."""
    event = {"event_id": str(new_event_id()), "subject_id": sid, "name": "login",
             "timestamp": runtime.clock.now().isoformat(),
             "properties": {"method": "code"}}  # fmt: skip
    body = {"context": {"ip": "198.51.100.23"}, "events": [event]}
    assert client.post("/v1/events", json=body, headers=admin).json()["accepted"] == 1


def addresses(client: TestClient, admin: dict[str, str], sid: str) -> list[str | None]:
    answer = client.get(
        f"/v1/subjects/{sid}/logins", params={"purpose": "service_provision"}, headers=admin
    )
    assert answer.status_code == 200, answer.text
    return [login["ip"] for login in answer.json()["logins"]]


def disclose(client: TestClient, admin: dict[str, str], *sids: str) -> dict[str, Any]:
    body = {"recipient": "insights_partner", "purpose": "service_provision",
            "subjects": list(sids), "categories": ["account.email"]}  # fmt: skip
    answer = client.post("/v1/disclosures", json=body, headers=admin)
    assert answer.status_code == 201, answer.text
    return {p["subject_id"]: p for p in answer.json()["people"]}


def test_a_material_change_applies_to_a_person_only_once_they_accept_it(
    client: TestClient, admin: dict[str, str], runtime: Runtime, smtp: SmtpServer
) -> None:
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    assert client.post("/v1/policy/versions", json={"source": V1}, headers=admin).status_code == 201
    ada = person(client, admin, "Ada Quill", "ada.quill@example.com")
    bo = person(client, admin, "Bo Lindqvist", "bo.lindqvist@example.net")
    for sid in (ada, bo):
        signs_in_from(client, admin, runtime, sid)

    published = client.post("/v1/policy/versions", json={"source": V2}, headers=admin).json()
    assert published["change_class"] == "material"
    kinds = {c["kind"] for c in published["changes"] if c["change_class"] == "material"}
    assert {"recipient.added", "retention.period_extended"} <= kinds
    mailer = SmtpMailer.from_settings(runtime.settings)
    assert comms_jobs.deliver(runtime.sessions, comms.context(runtime), mailer).sent == 2
    mailer.close()
    body = smtp.inbox.to("ada.quill@example.com")[-1].get_body(("plain",))
    assert body is not None
    notice = body.get_content()
    assert "Until you accept it, these changes do not apply to your data" in notice
    assert "- New recipient: Example Insights Inc. (fictional)." in notice
    assert "- IP address (shortened) kept: 30 days after it is collected → 90 days" in notice
    assert "we will not use your data for the new purposes" not in notice

    clock.advance(timedelta(days=31))  # v2 is in force; the first addresses are 31 days old
    accepted = client.post(f"/v1/subjects/{bo}/policy-acceptance", json={}, headers=admin)
    assert accepted.json()["handled_under"] is None
    standing = client.get(
        f"/v1/subjects/{ada}/policy-acceptance?purpose=service_provision", headers=admin
    ).json()
    assert (standing["pending_versions"], standing["handled_under"]) == ([2], 1)

    people = disclose(client, admin, ada, bo)
    assert (people[ada]["outcome"], people[ada]["rule"]) == ("refused", "policy.not_accepted")
    assert "handled under v1" in people[ada]["message"]
    assert people[bo]["outcome"] == "disclosed"

    events_jobs.maintain(runtime)
    assert addresses(client, admin, ada) == [None]  # the 30 days Ada accepted
    assert addresses(client, admin, bo) == ["198.51.100.0/24"]  # the 90 days Bo accepted

    sign_in(client, runtime, smtp, "ada.quill@example.com")
    page = client.get("/me/policy")
    assert "A change waits for your acceptance" in page.text
    assert "Version 2, in force since" in page.text
    assert "New recipient: Example Insights Inc. (fictional)." in page.text
    assert "I accept version 2" in page.text
    done = post_form(client, "/me/policy", {})
    assert done.status_code == 303
    assert "I accept version" not in client.get("/me/policy").text

    people = disclose(client, admin, ada)
    assert people[ada]["outcome"] == "disclosed"
    signs_in_from(client, admin, runtime, ada)
    clock.advance(timedelta(days=31))
    events_jobs.maintain(runtime)
    kept = sorted(addresses(client, admin, ada), key=lambda ip: ip or "")
    assert kept == [None, "198.51.100.0/24"]  # now the 90 days of v2 apply to Ada too
