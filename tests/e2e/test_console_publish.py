"""Publishing a policy from the console in two steps (preview, then confirm), withdrawing a
scheduled version (its unsent notices stopped, the people it reached told once), and the
refusal of a too-early date naming the real bound (issue 20, item 17; decision 0034)."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from safehold.clock import FrozenClock
from safehold.comms import jobs as comms_jobs
from safehold.comms import service as comms
from safehold.comms.mail import SmtpMailer
from safehold.comms.models import OutboxItem
from safehold.notices.models import PolicyNotice
from safehold.notices.withdrawal import STOPPED
from safehold.runtime import Runtime
from tests.e2e.conftest import MakeKey, audit_entries, bearer
from tests.e2e.console_forms import confirm
from tests.e2e.test_console import post, staff
from tests.e2e.test_http_skeleton import assert_error
from tests.e2e.test_policy_versions import V1, V3_MATERIAL
from tests.integration.comms.smtp import smtp_server

ADA = {"name": "Ada Quillfeather", "email": "ada.quillfeather@example.net"}
BO = {"name": "Bo Marrowby", "email": "bo.marrowby@example.net"}


def deliver(runtime: Runtime, batch_size: int) -> dict[str, list[str]]:
    """One delivery round of at most ``batch_size`` e-mails; the subjects each address got."""
    with smtp_server() as smtp:
        settings = runtime.settings.model_copy(update={"smtp_port": smtp.port})
        mailer = SmtpMailer.from_settings(settings)
        comms_jobs.deliver(runtime.sessions, comms.context(runtime), mailer, batch_size=batch_size)
        mailer.close()
        return {a: [m["Subject"] for m in smtp.inbox.to(a)] for a in (ADA["email"], BO["email"])}


def rows_of(runtime: Runtime, seq: int, kind: str) -> list[OutboxItem]:
    with runtime.sessions() as session:
        ids = select(PolicyNotice.message_id).where(
            PolicyNotice.version_seq == seq, PolicyNotice.kind == kind
        )
        return list(session.scalars(select(OutboxItem).where(OutboxItem.message_id.in_(ids))))


def test_preview_confirm_withdraw_and_publish_again(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    api = bearer(make_key(["policy:admin", "subjects:write"], ["*"], name="privacy-team"))
    assert client.post("/v1/policy/versions", json={"source": V1}, headers=api).status_code == 201
    for person in (ADA, BO):
        body = {**person, "marketing_opt_in": False}
        assert client.post("/v1/subjects", json=body, headers=api).status_code == 201
    staff(client, make_key)

    preview = post(client, "/admin/policy", "/admin/policy", {"source": V3_MATERIAL})
    assert preview.status_code == 200
    text = preview.text
    assert "<strong>material</strong>" in text
    held = text.split("Wait for each person's acceptance</h3>")[1].split("</ul>")[0]
    assert "loyalty" in held.lower()  # the new purpose waits for each person (decision 0022)
    assert "2 people with an active account will be e-mailed" in text
    assert "Our privacy policy changes on" in text  # the notice itself
    assert "Hello [the person&#39;s name]," in text
    assert '<table class="textdiff">' in text
    assert "Publish v2 and e-mail 2 people" in text
    assert len(client.get("/v1/policy/versions").json()) == 1  # nothing published yet

    published = confirm(client, preview)
    assert published.status_code == 303, published.text[-3000:]
    assert published.headers["location"] == "/admin/policy?done=published"
    v2 = client.get("/v1/policy/versions").json()[1]
    assert (v2["version"], v2["change_class"], v2["in_force"]) == (2, "material", False)
    assert len(rows_of(runtime, 2, "change")) == 2

    # the preview again after it was published: nothing is published twice
    stale = confirm(client, preview)
    assert stale.status_code == 409
    assert "these rules are already published as v2" in stale.text.lower()

    sent = deliver(runtime, batch_size=1)  # one of the two notices goes out
    reached = next(a for a, subjects in sent.items() if subjects)
    waiting = next(a for a, subjects in sent.items() if not subjects)

    page = client.get("/admin/policy")
    assert 'href="/admin/policy/versions/2/withdraw"' in page.text
    ask = client.get("/admin/policy/versions/2/withdraw")
    assert "1 e-mail not yet sent will be stopped" in ask.text
    assert "1 person already e-mailed about it will get one short e-mail" in ask.text
    done = post(client, "/admin/policy/versions/2/withdraw", "/admin/policy/versions/2/withdraw",
                {})  # fmt: skip
    assert done.headers["location"] == "/admin/policy?done=withdrawn"
    assert [(r.status, r.reason) for r in rows_of(runtime, 2, "change") if r.status != "sent"] == [
        ("skipped", STOPPED)
    ]
    (told,) = rows_of(runtime, 2, "withdrawal")
    assert told.status == "queued"
    after = deliver(runtime, batch_size=10)
    assert after[reached] == ["A privacy policy change we announced will not happen"]
    assert after[waiting] == []  # never told of v2, so not told of its withdrawal either
    assert len(audit_entries(runtime, "policy.version.withdraw")) == 1

    listed = client.get("/v1/policy/versions").json()
    assert listed[1]["withdrawn_at"] is not None
    assert "Withdrawn on" in client.get("/policy/versions").text
    again = post(client, "/admin/policy/versions/2/withdraw", "/admin/policy/versions/2/withdraw",
                 {})  # fmt: skip
    assert again.status_code == 409
    assert "already withdrawn" in again.text

    # publishing again follows v1, the version before the withdrawn one
    clock.advance(timedelta(days=31))  # v2's date has passed: it never took effect
    assert client.get("/v1/policy/versions").json()[0]["in_force"] is True
    staff(client, make_key)  # the console session has long expired
    second = post(client, "/admin/policy", "/admin/policy", {"source": V3_MATERIAL})
    assert "<dt>Follows</dt><dd>v1</dd>" in second.text
    assert confirm(client, second).status_code == 303
    v3 = client.get("/v1/policy/versions").json()[2]
    assert (v3["version"], v3["change_class"]) == (3, "material")
    assert 'href="/policy/diff?from=1&amp;to=3"' in client.get("/policy/versions").text


def test_withdrawal_refusals_and_the_real_earliest_date(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    api = bearer(make_key(["policy:admin"], ["*"], name="privacy-team"))
    assert client.post("/v1/policy/versions", json={"source": V1}, headers=api).status_code == 201
    in_force = client.post("/v1/policy/versions/1/withdrawal", headers=api)
    assert in_force.status_code == 409
    assert_error(in_force.json(), "policy_version_not_withdrawable")
    material = client.post("/v1/policy/versions", json={"source": V3_MATERIAL}, headers=api)
    effective = material.json()["effective_at"]

    # a minor change cannot take effect before the material version it follows
    early = client.post(
        "/v1/policy/versions",
        json={"source": V3_MATERIAL.replace("P30D", "P14D", 1),
              "effective_at": clock.now().isoformat()},
        headers=api,
    )  # fmt: skip
    assert early.status_code == 422
    assert_error(early.json(), "effective_date_too_soon")
    error = early.json()["error"]
    assert error["details"]["earliest"][:16] == effective[:16]
    assert "the version it follows, v2, takes effect then" in error["message"]
    assert "now" not in error["message"]

    withdrawn = client.post("/v1/policy/versions/2/withdrawal", headers=api)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json() | {"withdrawn_at": None} == {
        "version": 2,
        "withdrawn_at": None,
        "notices_stopped": 0,
        "people_told": 0,
    }  # fmt: skip  (nobody to tell: no one had an account)
    # nobody can be recorded as having accepted it, by signing up or explicitly
    writer = bearer(make_key(["subjects:write", "subjects:read"], ["*"], name="service"))
    body = {**ADA, "marketing_opt_in": False, "policy_version": "v2"}
    sid = client.post("/v1/subjects", json=body, headers=writer).json()["id"]
    explicit = client.post(f"/v1/subjects/{sid}/policy-acceptance", json={"version": 2},
                           headers=writer)  # fmt: skip
    assert explicit.status_code == 404
    records = client.get(f"/v1/subjects/{sid}/policy-acceptance?purpose=service_provision",
                         headers=writer).json()["records"]  # fmt: skip
    assert records == []

    material = client.post("/v1/policy/versions", json={"source": V3_MATERIAL}, headers=api)
    assert material.json()["version"] == 3  # v2's number is not reused
    later = V3_MATERIAL.replace("P30D", "P14D", 1)
    assert later != V3_MATERIAL
    v4 = client.post("/v1/policy/versions", json={"source": later}, headers=api)
    assert v4.status_code == 201, v4.text
    followed = client.post("/v1/policy/versions/3/withdrawal", headers=api)
    assert followed.status_code == 409
    assert "withdraw v4 first" in followed.json()["error"]["message"]
    assert client.post("/v1/policy/versions/4/withdrawal", headers=api).status_code == 200
    clock.advance(timedelta(days=30) - timedelta(seconds=30))
    late = client.post("/v1/policy/versions/3/withdrawal", headers=api)
    assert late.status_code == 409
    assert "takes effect within a minute" in late.json()["error"]["message"]
