"""Issue 17, items 2 and 8, repeated end to end: every link of a change notice leads to
Safehold's own pages (SAFEHOLD_BASE_URL), and a recipient outside the EEA cannot be
published without its transfer safeguard, which the posted policy then names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from safehold.comms import jobs as comms_jobs
from safehold.comms import service as comms
from safehold.comms.mail import SmtpMailer
from safehold.config import Settings
from safehold.runtime import Runtime
from tests.e2e.conftest import MakeKey, bearer
from tests.e2e.test_material_gating import PARTNER, V1, V2, person
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import BASE_URL, comms_settings

URL = re.compile(r"https?://[^\s\"'<>)]+")


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp)


@pytest.fixture
def admin(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key(["policy:admin", "subjects:write"], ["*"], name="privacy-team"))


def test_every_link_of_a_change_notice_leads_to_safeholds_own_pages(
    client: TestClient, admin: dict[str, str], runtime: Runtime, smtp: SmtpServer
) -> None:
    assert client.post("/v1/policy/versions", json={"source": V1}, headers=admin).status_code == 201
    person(client, admin, "Ada Quill", "ada.quill@example.com")
    assert client.post("/v1/policy/versions", json={"source": V2}, headers=admin).status_code == 201
    mailer = SmtpMailer.from_settings(runtime.settings)
    assert comms_jobs.deliver(runtime.sessions, comms.context(runtime), mailer).sent == 1
    mailer.close()
    (notice,) = smtp.inbox.to("ada.quill@example.com")
    links = [
        link
        for part in notice.walk()
        if part.get_content_maintype() == "text"
        for link in URL.findall(part.get_content())
    ]
    assert links, "the notice links to the policy and the privacy center"
    assert all(link.startswith(f"{BASE_URL}/") for link in links), links
    assert any("/me" in link for link in links)
    assert any("/policy" in link for link in links)


def test_a_recipient_outside_the_eea_needs_its_safeguard_which_the_policy_names(
    client: TestClient, admin: dict[str, str]
) -> None:
    assert client.post("/v1/policy/versions", json={"source": V1}, headers=admin).status_code == 201
    bare = V2.replace(PARTNER, PARTNER.replace(
        "    transfer_safeguard: EU Standard Contractual Clauses (2021/914)\n", ""))  # fmt: skip
    assert bare != V2
    refused = client.post("/v1/policy/versions", json={"source": bare}, headers=admin)
    assert refused.status_code == 422
    assert "outside the European Economic Area" in refused.text
    assert "transfer_safeguard" in refused.text
    published = client.post("/v1/policy/versions", json={"source": V2}, headers=admin)
    assert published.status_code == 201
    text = client.get("/v1/policy/versions/2").json()["text_markdown"]
    assert (
        "**Country:** US, outside the European Economic Area: the transfer relies on EU "
        "Standard Contractual Clauses (2021/914)."
    ) in text


def test_the_posted_policy_links_to_the_pages_safehold_serves(
    client: TestClient, admin: dict[str, str]
) -> None:
    """The policy's own paths (`requests.privacy_center: /me`, `changes.posted_at: /policy`)
    are pages Safehold serves, so the posted text links them under SAFEHOLD_BASE_URL, not
    under the controller's website — on the page and in the version that was published."""
    page = client.get("/policy").text
    assert f'href="{BASE_URL}/me"' in page
    assert f'href="{BASE_URL}/policy"' in page
    assert 'href="https://example.com/me"' not in page
    assert client.post("/v1/policy/versions", json={"source": V1}, headers=admin).status_code == 201
    text = client.get("/v1/policy/versions/1").json()["text_markdown"]
    assert f"posted at [{BASE_URL}/policy]({BASE_URL}/policy)" in text
    assert f"({BASE_URL}/me)" in text
