"""The admin console over HTTP: staff sign-in with a personal API key, the scope behind
every page, CSRF on every form, the requests queue, the audited look-up, policy publication
and the analytics page's small cells."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from safehold.access import service as access
from safehold.access.models import AuditEntry
from safehold.access.rules import SCOPES, Actor
from safehold.analytics import jobs as analytics_jobs
from safehold.clock import FrozenClock
from safehold.db import transaction
from safehold.requests import service as requests
from safehold.requests.models import DataRequest
from safehold.retention import jobs as retention_jobs
from safehold.retention import runs
from safehold.runtime import Runtime
from safehold.subjects import service as subjects
from tests.conftest import DEFAULT_POLICY
from tests.e2e.conftest import MakeKey
from tests.e2e.console_forms import confirm
from tests.integration.analytics.helpers import Raw, people, store
from tests.integration.requests import support
from tests.integration.requests.support import code_sent, open_request, person
from tests.unit.policy.bombs import ALIAS_BOMB

ALL = list(SCOPES)
PAGES = ["/admin", "/admin/requests", "/admin/people", "/admin/retention", "/admin/audit",
         "/admin/promises", "/admin/messages", "/admin/policy", "/admin/ropa",
         "/admin/analytics"]  # fmt: skip
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
PLATFORM = ("smart_tv", "Tizen", "6", "Samsung Internet", "2")


def token_of(page: Response) -> str:
    found = TOKEN.search(page.text)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, api_key: str) -> Response:
    form = client.get("/admin/sign-in")
    return client.post(
        "/admin/sign-in", data={"csrf_token": token_of(form), "api_key": api_key, "next": "/admin"},
        follow_redirects=False,
    )  # fmt: skip


def staff(client: TestClient, make_key: MakeKey, scopes: list[str] | None = None,
          purposes: list[str] | None = None) -> str:  # fmt: skip
    token = make_key(ALL if scopes is None else scopes, ["*"] if purposes is None else purposes)
    assert sign_in(client, token).status_code == 303
    return token


def post(client: TestClient, page: str, action: str, data: dict[str, str]) -> Response:
    """Submit a form of ``page`` the way a browser does: with the page's CSRF token."""
    token = token_of(client.get(page))
    return client.post(action, data={"csrf_token": token, **data}, follow_redirects=False)


def test_staff_sign_in_with_a_good_a_bad_and_a_revoked_key(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    assert (
        client.get("/admin", follow_redirects=False)
        .headers["location"]
        .startswith("/admin/sign-in?next=")
    )
    bad = sign_in(client, "shk_notakey")
    assert bad.status_code == 422
    assert 'id="f-api_key-error"' in bad.text
    assert 'class="site staff-footer"' in bad.text  # the staff's footer, not the customers'
    assert "Questions about your data" not in bad.text
    token = staff(client, make_key)
    home = client.get("/admin")
    assert home.status_code == 200
    assert "Admin console" in home.text
    key_id = token.split("_")[1]
    with transaction(runtime.sessions) as session:
        access.revoke_key(session, key_id, clock=runtime.clock)
    gone = client.get("/admin/requests", follow_redirects=False)
    assert gone.status_code == 303  # the revoked key's session ended at once
    assert gone.headers["location"].startswith("/admin/sign-in")
    again = sign_in(client, token)
    assert again.status_code == 422
    assert "revoked" in again.text


def test_every_page_renders_for_a_full_scope_key(client: TestClient, make_key: MakeKey) -> None:
    staff(client, make_key)
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert page.headers["cache-control"] == "no-store"
        assert '<body class="console">' in page.text  # the console's width
        assert "signed in with the key <strong>test</strong>" in page.text  # its own footer
        assert "Questions about your data" not in page.text
        for other in PAGES[1:]:
            assert f'href="{other}"' in page.text  # the whole navigation


def test_a_narrow_key_gets_a_403_naming_the_scope_and_sees_only_its_pages(
    client: TestClient, make_key: MakeKey
) -> None:
    staff(client, make_key, ["audit:read"], [])
    home = client.get("/admin")
    nav = home.text.split('aria-label="Admin console"')[1].split("</nav>")[0]
    assert 'href="/admin/audit"' in nav
    assert 'href="/admin/requests"' not in nav
    assert 'href="/admin/analytics"' not in nav
    assert client.get("/admin/audit").status_code == 200
    refused = client.get("/admin/requests")
    assert refused.status_code == 403
    assert "<h1>This page needs the scope requests:open</h1>" in refused.text
    assert "Something went wrong" not in refused.text
    assert "missing_scope" in refused.text
    assert 'class="console"' in refused.text  # in the console's frame, with its footer
    assert "Questions about your data" not in refused.text
    assert "policy:admin" in client.get("/admin/policy").text


def test_a_form_without_its_csrf_token_is_refused(client: TestClient, make_key: MakeKey) -> None:
    staff(client, make_key)
    refused = client.post("/admin/people", data={"email": "ada@example.com",
                                                 "purpose": "service_provision"})  # fmt: skip
    assert refused.status_code == 403
    assert "csrf_rejected" in refused.text
    assert "<h1>Not allowed</h1>" in refused.text


def test_the_queue_is_by_deadline_and_marks_overdue_requests(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    old = open_request(runtime, person(runtime, "Ada"), "access")
    clock.set(clock.now() + timedelta(days=20))
    new = open_request(runtime, person(runtime, "Bea"), "erasure")
    clock.set(clock.now() + timedelta(days=15))  # Ada's month is over, Bea's is not
    staff(client, make_key)
    page = client.get("/admin/requests")
    assert page.status_code == 200
    first, second = (
        page.text.index(f"/admin/requests/{old}"),
        page.text.index(f"/admin/requests/{new}"),
    )
    assert first < second  # soonest deadline first
    rows = page.text.split("<tr")
    old_row = next(r for r in rows if f"/admin/requests/{old}" in r)
    new_row = next(r for r in rows if f"/admin/requests/{new}" in r)
    assert 'class="overdue"' in old_row
    assert "Overdue" in old_row
    assert "Overdue" not in new_row
    only = client.get("/admin/requests?kind=erasure")
    assert f"/admin/requests/{new}" in only.text
    assert f"/admin/requests/{old}" not in only.text
    home = client.get("/admin")
    assert re.search(r'class="figure">1</span> overdue', home.text)


def test_the_queue_opens_on_the_open_requests_and_lists_the_finished_ones_on_demand(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    waiting = open_request(runtime, person(runtime, "Ines"), "access")
    finished = open_request(runtime, person(runtime, "Jona"), "erasure")
    with transaction(runtime.sessions) as session:
        requests.reject(session, support.ctx(runtime), finished, actor=support.STAFF,
                        reason="duplicate")  # fmt: skip
    staff(client, make_key)
    first = client.get("/admin/requests")
    assert f"/admin/requests/{waiting}" in first.text
    assert f"/admin/requests/{finished}" not in first.text
    assert re.search(r'<option value="open" selected>', first.text)
    every = client.get("/admin/requests?status=any")
    assert f"/admin/requests/{waiting}" in every.text
    assert f"/admin/requests/{finished}" in every.text
    assert re.search(r'<option value="any" selected>', every.text)
    rejected = client.get("/admin/requests?status=rejected")
    assert f"/admin/requests/{finished}" in rejected.text
    assert f"/admin/requests/{waiting}" not in rejected.text
    unknown = client.get("/admin/requests?status=nonsense")  # treated as the default
    assert f"/admin/requests/{finished}" not in unknown.text


def test_a_request_is_verified_and_erased_from_its_page(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    sid = person(runtime, "Cleo")
    rid = open_request(runtime, sid, "erasure")
    staff(client, make_key)
    url = f"/admin/requests/{rid}"
    wrong = post(client, url, f"{url}/verify", {"code": "12"})
    assert wrong.status_code == 422
    assert 'id="f-code-error"' in wrong.text
    with runtime.sessions() as session:
        code = code_sent(runtime, session, sid)
    bad = "00000000" if code != "00000000" else "11111111"
    refused = post(client, url, f"{url}/verify", {"code": bad})
    assert refused.status_code == 422
    assert 'id="f-code-error"' in refused.text
    with runtime.sessions() as session:
        assert requests.get(session, rid).code_attempts == 1  # the wrong code counted
    ok = post(client, url, f"{url}/verify", {"code": code})
    assert ok.status_code == 303
    page = client.get(ok.headers["location"])
    assert "verified" in page.text
    assert re.search(r"<button[^>]*>Carry out the erasure</button>", page.text)
    # the plan the person saw on /me/delete, before anything is done
    text = html.unescape(page.text)
    plan = text[text.index("The erasure plan") : text.index("Carry out the erasure</button>")]
    labels = {c.id: c.label for c in runtime.policy.categories}
    assert f"<li>{labels['account.email']}</li>" in plan
    unticked = post(client, url, f"{url}/erasure", {})
    assert unticked.status_code == 422
    assert 'id="f-confirm-error"' in unticked.text
    assert "Tick the box to confirm the plan" in unticked.text
    with runtime.sessions() as session:
        assert requests.get(session, rid).status == "verified"  # nothing was carried out
    done = post(client, url, f"{url}/erasure", {"confirm": "yes"})
    assert done.status_code == 303, done.text
    finished = client.get(done.headers["location"])
    assert f"{url}/certificate.json" in finished.text
    cert = client.get(f"{url}/certificate.json")
    assert cert.status_code == 200
    assert cert.json()["request_id"] == str(rid)
    kept = [k for k in cert.json()["kept"] if k["kind"] != "completion_mail"]
    assert kept, "the card is kept for the tax rule: the plan had something to show"
    for item in kept:  # what was kept is what the plan said would be, with its reason
        assert labels[item["category"]] in plan
        assert item["reason"] in plan
    document = client.get(f"{url}/certificate")
    assert document.status_code == 200
    assert '<h2 id="c-kept">What was kept, and why</h2>' in document.text
    assert labels[kept[0]["category"]] in document.text  # by the policy's name, not only its id
    with runtime.sessions() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.subject_id == sid)).all()
        assert any(e.action == "request.verify" and e.actor.startswith("api_key:") for e in entries)


def test_a_look_up_is_audited_with_the_chosen_purpose(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    sid = person(runtime, "Dora")
    staff(client, make_key, ["subjects:read"], ["service_provision", "communication.service"])
    form = client.get("/admin/people")
    options = re.findall(r'<option value="([^"]+)"', form.text)
    assert options == ["service_provision", "communication.service"]
    missing = post(client, "/admin/people", "/admin/people", {"contact": "", "purpose": ""})
    assert missing.status_code == 422
    assert 'id="f-contact-error"' in missing.text
    assert 'id="f-purpose-error"' in missing.text
    found = post(client, "/admin/people", "/admin/people",
                 {"contact": "dora@example.com", "purpose": "communication.service"})  # fmt: skip
    assert found.status_code == 200
    assert str(sid) in found.text
    assert "<td>dora@example.com</td>" in found.text  # communication may see the address
    assert "Withheld" in found.text  # but not the card, say
    with runtime.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.subject_id == sid,
                                     AuditEntry.action.in_(["subject.lookup", "subject.read"]))
        ).all()  # fmt: skip
    assert {e.action for e in entries} == {"subject.lookup", "subject.read"}
    assert {e.purpose for e in entries} == {"communication.service"}
    nobody = post(client, "/admin/people", "/admin/people",
                  {"contact": "nobody@example.com", "purpose": "service_provision"})  # fmt: skip
    assert nobody.status_code == 404
    assert 'id="f-contact-error"' in nobody.text
    assert 'value="nobody@example.com"' in nobody.text  # kept in its field, to correct it
    assert nobody.text.count("nobody@example.com") == 1  # and nowhere else


def test_publishing_a_broken_policy_shows_the_line_next_to_the_field(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    staff(client, make_key)
    broken = DEFAULT_POLICY.read_text().replace("k_anonymity: 10", "k_anonymity: 1", 1)
    assert broken != DEFAULT_POLICY.read_text()
    page = post(client, "/admin/policy", "/admin/policy", {"source": broken})
    assert page.status_code == 422
    error = page.text.split('id="f-source-error"')[1].split("</div>")[0]
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if "k_anonymity" in text)
    assert f"the submitted policy:{line}:" in error
    empty = post(client, "/admin/policy", "/admin/policy", {"source": "  "})
    assert empty.status_code == 422
    assert 'id="f-source-error"' in empty.text
    preview = post(client, "/admin/policy", "/admin/policy", {"source": DEFAULT_POLICY.read_text()})
    assert preview.status_code == 200  # checked, shown, not yet published
    assert "Nobody: the first version has nobody to tell yet." in preview.text
    assert "No version is published yet." in client.get("/admin/policy").text
    first = confirm(client, preview)
    assert first.status_code == 303  # no version yet in this database: this is v1
    listed = client.get(first.headers["location"])
    assert "The new policy version was published." in listed.text
    assert 'href="/policy/versions/1"' in listed.text
    assert "0 accepted, 0 notified, of 0" in listed.text  # acceptance progress per version
    same = post(client, "/admin/policy", "/admin/policy", {"source": DEFAULT_POLICY.read_text()})
    assert same.status_code == 409
    assert "already published as v1" in same.text.split('id="f-source-error"')[1]


def test_an_uploaded_alias_bomb_is_refused_with_its_line(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    staff(client, make_key)
    token = token_of(client.get("/admin/policy"))
    page = client.post(
        "/admin/policy", data={"csrf_token": token},
        files={"policy_file": ("laughs.yaml", ALIAS_BOMB.encode(), "application/yaml")},
        follow_redirects=False,
    )  # fmt: skip
    assert page.status_code == 422
    error = page.text.split('id="f-source-error"')[1].split("</div>")[0]
    assert "the submitted policy:1:" in error
    assert "anchors and aliases are not allowed" in error


def test_the_analytics_page_never_shows_a_suppressed_cells_number(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    with runtime.sessions() as session:
        ids = people(session, 15)
        busy = datetime(2026, 2, 10, 20, tzinfo=UTC)
        quiet = datetime(2026, 2, 11, 20, tzinfo=UTC)  # 3 people only: below k = 10
        events = [Raw(p, "channel.play", busy, PLATFORM) for p in range(12)]
        events += [Raw(12 + p, "vod.rare", quiet, PLATFORM) for p in range(3)]
        store(session, ids, events)
        session.commit()
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    clock.set(datetime(2026, 3, 3, tzinfo=UTC))  # February's last days in their grace period
    while analytics_jobs.run(runtime):
        pass
    staff(client, make_key, ["analytics:read"], ["platform_improvement"])
    early = client.get("/admin/analytics?month=2026-02").text
    assert "February 2026 is not final yet" in early
    assert "(7 days after it ended, and once any data that arrived late for it is counted)" in early
    assert "Events per action" not in early
    clock.set(datetime(2026, 3, 9, tzinfo=UTC))  # 7 days after February ended: final
    while analytics_jobs.run(runtime):
        pass
    staff(client, make_key, ["analytics:read"], ["platform_improvement"])  # a new sign-in
    page = client.get("/admin/analytics?month=2026-02")
    assert page.status_code == 200, page.text[:400]
    assert "Events per action" in page.text
    active, logins = page.text.split("Logins per day", 1)  # two tables keyed by day
    rows = {r.split("</th>")[0].split(">")[-1]: r for r in active.split("<tr>")[1:]}
    assert 'class="suppressed">suppressed' in rows["2026-02-11"]  # said, without a number
    assert ">12<" in rows["2026-02-10"]
    no_sign_ins = {r.split("</th>")[0].split(">")[-1]: r for r in logins.split("<tr>")[1:]}
    assert 'class="suppressed">suppressed' in no_sign_ins["2026-02-10"]  # none signed in
    assert "vod.rare" not in page.text  # folded into "(other)", never named with its 3
    charts = re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page.text)
    assert charts
    assert all('"02-11"' not in c for c in charts)
    assert "<canvas" in page.text
    # Each dimension its own chart, device types in words: 15 people on smart TVs pass k.
    assert "Device types" in page.text
    assert "Operating systems" in page.text
    assert "Browsers and apps" in page.text
    assert any('"Smart TV"' in c for c in charts)
    assert "smart_tv" not in page.text
    refused = client.get("/admin/people")
    assert refused.status_code == 403
    assert "subjects:read" in refused.text


def test_the_retention_page_shows_the_last_run(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    retention_jobs.run(runtime, dry_run=True)  # the run records itself when it finishes
    with runtime.sessions() as session:
        latest = runs.latest(session)
        assert latest is not None
        assert latest.dry_run
        assert "reason" not in str(latest.report)  # counts only, never a hold's free text
    staff(client, make_key)
    page = client.get("/admin/retention")
    assert page.status_code == 200
    assert "Dry run" in page.text
    assert "No legal hold is in force." in page.text


@pytest.mark.parametrize("path", ["/admin/requests/not-a-uuid", f"/admin/requests/{uuid.uuid4()}"])
def test_an_unknown_request_is_a_page_not_a_500(
    client: TestClient, make_key: MakeKey, path: str
) -> None:
    staff(client, make_key)
    answer = client.get(path)
    assert answer.status_code in {404, 422}
    assert "<h1>" in answer.text
    if answer.status_code == 404:
        assert "<h1>Not found</h1>" in answer.text


def test_the_queue_shows_no_personal_data(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    open_request(runtime, person(runtime, "Edda"), "erasure")
    staff(client, make_key)
    page = client.get("/admin/requests")
    assert "edda@example.com" not in page.text
    assert "Edda Example" not in page.text
    with runtime.sessions() as session:
        assert session.scalars(select(DataRequest)).first() is not None


@pytest.mark.parametrize(
    "path",
    [
        "/admin/audit?before=9223372036854775808",  # 2**63: past a BIGINT (was a 500)
        "/admin/audit?before=-1",
        "/admin/audit?before=1e23",
        "/admin/analytics?month=0000-01",  # year 0 does not exist (was a 500)
        "/admin/analytics?month=9999-12",  # the month after it would not (was a 500)
        "/admin/analytics?month=%C2%B2026-02",  # "²026": a digit to isdigit, not to int()
    ],
)
def test_out_of_range_query_values_are_a_4xx_page_not_a_500(
    client: TestClient, make_key: MakeKey, path: str
) -> None:
    staff(client, make_key)
    answer = client.get(path)
    assert 400 <= answer.status_code < 500, (path, answer.status_code)
    assert "<h1>" in answer.text
    assert "9223372036854775808" not in answer.text


def test_the_largest_audit_position_still_pages(client: TestClient, make_key: MakeKey) -> None:
    staff(client, make_key)
    assert client.get("/admin/audit?before=9223372036854775807").status_code == 200


def test_a_look_up_for_a_purpose_the_person_refused_answers_like_nobody(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    sid = person(runtime, "Fenn")
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    with transaction(runtime.sessions) as session:
        subjects.close(session, ctx, sid, actor=Actor("admin", "test"))  # marketing ends
    staff(client, make_key, ["subjects:read"], ["communication.marketing"])
    answers = [
        post(client, "/admin/people", "/admin/people",
             {"contact": email, "purpose": "communication.marketing"})
        for email in ("fenn@example.com", "nobody@example.com")
    ]  # fmt: skip
    assert [a.status_code for a in answers] == [404, 404]
    assert "No person has that e-mail address." in answers[0].text
    assert str(sid) not in answers[0].text
    with runtime.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "subject.lookup").order_by(AuditEntry.seq)
        ).all()
    assert [(e.subject_id, e.outcome) for e in entries] == [(sid, "refused"), (None, "not_found")]
