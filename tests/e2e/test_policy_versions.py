"""Policy updates: publication, posted pages, and a whole life of acceptance records."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from safehold.clock import FrozenClock
from safehold.comms import jobs as comms_jobs
from safehold.comms import service as comms
from safehold.comms.mail import SmtpMailer
from safehold.runtime import Runtime
from tests.conftest import DEFAULT_POLICY
from tests.e2e.conftest import MakeKey, audit_entries, bearer
from tests.e2e.test_http_skeleton import assert_error
from tests.integration.comms.smtp import smtp_server
from tests.unit.policy.bombs import ALIAS_BOMB

V1 = DEFAULT_POLICY.read_text()
IP_RULE = "    period: {}\n    from: collected\n    action: delete\n    reason: Abuse"
V2_MINOR = V1.replace(IP_RULE.format("P30D"), IP_RULE.format("P14D"))
NEW_PURPOSE = """purposes:
  - id: loyalty_rewards
    label: Loyalty rewards
    description: To tell you about the loyalty rewards your subscription earned.
    lawful_basis: contract
    categories: [account.name, account.email]
"""
V3_MATERIAL = V2_MINOR.replace("purposes:\n", NEW_PURPOSE, 1)
LOYALTY_WITH_USAGE = V1.replace(
    "purposes:\n", NEW_PURPOSE.replace("[account.name, account.email]", "[usage.action]"), 1
)
PERSON = {"name": "Cleo Brightwater", "email": "cleo.brightwater@example.net",
          "marketing_opt_in": False}  # fmt: skip


@pytest.fixture
def admin(make_key: MakeKey) -> dict[str, str]:
    scopes = ["policy:admin", "subjects:read", "subjects:write"]
    return bearer(make_key(scopes, ["*"], name="privacy-team"))


def publish(client: TestClient, headers: dict[str, str], source: str, **extra: object) -> dict:  # type: ignore[type-arg]
    response = client.post("/v1/policy/versions", json={"source": source, **extra}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_edits_make_the_intended_changes() -> None:
    assert V2_MINOR != V1
    assert "loyalty_rewards" in V3_MATERIAL


def test_a_whole_life_of_acceptance(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    v1 = publish(client, admin, V1)
    assert (v1["version"], v1["change_class"], v1["in_force"]) == (1, "minor", True)
    sid = client.post("/v1/subjects", json=PERSON, headers=admin).json()["id"]
    mine = client.get(
        f"/v1/subjects/{sid}/policy-acceptance?purpose=service_provision", headers=admin
    ).json()
    assert [(r["version"], r["method"]) for r in mine["records"]] == [(1, "sign_up")]

    # v2, minor: the notice reaches the person's mailbox; accepted by continued use later
    v2 = publish(
        client, admin, V2_MINOR, effective_at=(clock.now() + timedelta(days=1)).isoformat()
    )
    assert v2["change_class"] == "minor"
    assert v2["in_force"] is False
    with smtp_server() as smtp:
        settings = runtime.settings.model_copy(update={"smtp_port": smtp.port})
        mailer = SmtpMailer.from_settings(settings)
        report = comms_jobs.deliver(runtime.sessions, comms.context(runtime), mailer)
        mailer.close()
        assert report.sent == 1
        (notice,) = smtp.inbox.to(str(PERSON["email"]))
    assert notice["Subject"].startswith("Our privacy policy changes on")
    assert "List-Unsubscribe" not in notice  # a service update, not marketing
    body = notice.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Hello Cleo Brightwater" in text
    assert "version v2" in text
    clock.advance(timedelta(days=2))
    after = client.post(f"/v1/subjects/{sid}/activity", json={"channel": "login"}, headers=admin)
    assert after.json()["accepted_version"] == 2
    assert ("continued_use", 2) in {(r["method"], r["version"]) for r in after.json()["records"]}

    # v3, material: adds a purpose; needs the notice period and explicit acceptance
    too_soon = client.post(
        "/v1/policy/versions",
        json={"source": V3_MATERIAL, "effective_at": clock.now().isoformat()},
        headers=admin,
    )
    assert too_soon.status_code == 422
    assert_error(too_soon.json(), "effective_date_too_soon")
    v3 = publish(client, admin, V3_MATERIAL)
    assert v3["change_class"] == "material"
    assert v3["needs_acceptance"] == ["loyalty_rewards"]
    read = f"/v1/subjects/{sid}?purpose=loyalty_rewards"
    early = client.get(read, headers=admin)
    assert early.json()["error"]["details"]["rule"] == "policy.purposes.unknown"

    clock.advance(timedelta(days=31))
    noticed = client.post(f"/v1/subjects/{sid}/activity", json={}, headers=admin).json()
    assert noticed["accepted_version"] == 2
    assert noticed["pending_purposes"] == ["loyalty_rewards"]
    assert ("notified", 3) in {(r["method"], r["version"]) for r in noticed["records"]}
    refused = client.get(read, headers=admin)
    assert refused.status_code == 403
    assert (
        refused.json()["error"]["details"]["rule"] == "purposes.loyalty_rewards.pending_acceptance"
    )

    accepted = client.post(f"/v1/subjects/{sid}/policy-acceptance", json={}, headers=admin)
    assert accepted.json()["pending_purposes"] == []
    allowed = client.get(read, headers=admin)
    assert allowed.status_code == 200
    assert set(allowed.json()["data"]) == {"account.name", "account.email"}

    report = client.get("/v1/policy/acceptances?version=3", headers=admin).json()
    assert [(r["subject_id"], r["status"], r["how"]) for r in report] == [
        (sid, "accepted", "explicit")
    ]
    csv_text = client.get("/v1/policy/acceptances?version=3&format=csv", headers=admin).text
    assert csv_text.splitlines()[1].startswith(f"{sid},accepted,3,explicit,")


def test_publication_refusals(client: TestClient, admin: dict[str, str]) -> None:
    publish(client, admin, V1)
    same = client.post("/v1/policy/versions", json={"source": V1}, headers=admin)
    assert same.status_code == 409
    assert_error(same.json(), "policy_unchanged")
    lowered = client.post(
        "/v1/policy/versions", json={"source": V3_MATERIAL, "change_class": "minor"}, headers=admin
    )
    assert lowered.status_code == 422
    assert_error(lowered.json(), "change_class_lowered")
    broken = client.post(
        "/v1/policy/versions", json={"source": "schema_version: 1\n"}, headers=admin
    )
    assert broken.status_code == 422
    assert_error(broken.json(), "policy_invalid")
    assert broken.json()["error"]["details"]["issues"]
    raised = publish(client, admin, V2_MINOR, change_class="material")
    assert raised["change_class"] == "material"


def test_publishing_needs_its_scope(client: TestClient, make_key: MakeKey) -> None:
    reader = bearer(make_key(["subjects:read"], ["*"]))
    response = client.post("/v1/policy/versions", json={"source": V1}, headers=reader)
    assert response.status_code == 403


def test_an_alias_bomb_is_refused_with_its_line(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post("/v1/policy/versions", json={"source": ALIAS_BOMB}, headers=admin)
    assert response.status_code == 422
    assert_error(response.json(), "policy_invalid")
    (issue,) = response.json()["error"]["details"]["issues"]
    assert issue.startswith("the submitted policy:1:")
    assert "anchors and aliases are not allowed" in issue
    assert client.get("/v1/policy/versions").json() == []


def test_history_pages_and_json(
    client: TestClient, admin: dict[str, str], runtime: Runtime
) -> None:
    publish(client, admin, V1)
    publish(client, admin, V2_MINOR)
    listed = client.get("/v1/policy/versions").json()
    assert [v["version"] for v in listed] == [1, 2]
    assert listed[1]["in_force"] is True
    detail = client.get("/v1/policy/versions/1").json()
    assert detail["text_markdown"].startswith("# Information We Collect Policy")
    assert client.get("/v1/policy/versions/9").status_code == 404
    diff = client.get("/v1/policy/diff?from=1&to=2").json()
    assert diff["change_class"] == "minor"
    assert any("IP" in c["description"] or "network" in c["subject"] for c in diff["changes"])
    assert (
        "-| IP address (shortened) | 30 days" in diff["text_diff"] or "30 days" in diff["text_diff"]
    )
    page = client.get("/policy/versions")
    assert page.status_code == 200
    assert "v2" in page.text
    assert "(in force)" in page.text
    assert client.get("/policy/versions/1").status_code == 200
    diff_page = client.get("/policy/diff?from=1&to=2")
    assert diff_page.status_code == 200
    # side by side, and only the words that changed are marked: 30 days became 14 days
    changed = diff_page.text.split('<tr class="changed">')[1:]
    assert changed
    old_cell, new_cell = changed[0].split('class="old">')[1], changed[0].split('class="new">')[1]
    assert "<mark>30</mark> days" in old_cell.split("</td>")[0]
    assert "<mark>14</mark> days" in new_cell.split("</td>")[0]
    # The periods table, the network_ip rule's own line, and the retention paragraph (whose
    # sentence on sealed addresses names the period: decision 0043).
    assert "3 lines reworded, 0 lines removed and 0 lines added" in diff_page.text
    assert "unchanged lines" in diff_page.text  # the rest is folded
    assert "Version v2" in client.get("/policy").text


def acceptance_reads(runtime: Runtime) -> list[tuple[str | None, str]]:
    entries = audit_entries(runtime, "subject.policy_acceptance.read")
    return [(e.purpose, e.outcome) for e in entries]


def test_acceptance_records_are_read_for_a_purpose_and_audited(
    client: TestClient, admin: dict[str, str], make_key: MakeKey, runtime: Runtime
) -> None:
    publish(client, admin, V1)
    opted_in = {**PERSON, "marketing_opt_in": True}  # marketing may reach them, not this
    sid = client.post("/v1/subjects", json=opted_in, headers=admin).json()["id"]
    url = f"/v1/subjects/{sid}/policy-acceptance"
    marketing = bearer(make_key(["subjects:read", "subjects:write"], ["communication.marketing"]))
    assert client.get(url, headers=marketing).status_code == 422  # the purpose is required
    refused = client.get(f"{url}?purpose=communication.marketing", headers=marketing)
    assert refused.status_code == 403
    assert_error(refused.json(), "purpose_refused")
    assert refused.json()["error"]["details"]["rule"] == (
        "purposes.communication.marketing.categories"
    )
    assert "records" not in refused.text
    other = client.get(f"{url}?purpose=service_provision", headers=marketing)
    assert_error(other.json(), "purpose_not_allowed")
    for write in ("activity", "policy-acceptance"):  # nor does a write answer with them
        answer = client.post(f"/v1/subjects/{sid}/{write}", json={}, headers=marketing)
        assert answer.status_code == 403
        assert_error(answer.json(), "purpose_not_allowed")
    mine = client.get(f"{url}?purpose=service_provision", headers=admin)
    assert [(r["version"], r["method"]) for r in mine.json()["records"]] == [(1, "sign_up")]
    assert acceptance_reads(runtime) == [
        ("communication.marketing", "refused"),
        ("service_provision", "allowed"),
    ]


def test_a_pending_acceptance_does_not_hide_that_it_is_pending(
    client: TestClient, admin: dict[str, str], make_key: MakeKey, runtime: Runtime
) -> None:
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    publish(client, admin, V1)
    sid = client.post("/v1/subjects", json=PERSON, headers=admin).json()["id"]
    assert publish(client, admin, LOYALTY_WITH_USAGE)["needs_acceptance"] == ["loyalty_rewards"]
    clock.advance(timedelta(days=31))
    loyalty = bearer(make_key(["subjects:read"], ["loyalty_rewards"]))
    events = client.get(f"/v1/subjects/{sid}/events?purpose=loyalty_rewards", headers=loyalty)
    assert events.json()["error"]["details"]["rule"] == (
        "purposes.loyalty_rewards.pending_acceptance"
    )
    standing = client.get(
        f"/v1/subjects/{sid}/policy-acceptance?purpose=loyalty_rewards", headers=loyalty
    )
    assert standing.status_code == 200, standing.text
    assert standing.json()["pending_purposes"] == ["loyalty_rewards"]
