"""The pages issue 20 items 17, 18, 20 and 21 changed, in Chromium (screenshots in
test-output/screenshots/): publishing a policy through its preview and withdrawing it, the
public diff side by side (also on a phone), the erasure certificate on screen and for print,
and the console's record of processing activities."""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from safehold.access import service as access
from safehold.access.rules import SCOPES, Actor
from safehold.clock import SystemClock
from safehold.db import transaction
from safehold.notices import service as notices
from safehold.requests import jobs
from safehold.runtime import Runtime
from tests.browser.conftest import screenshot
from tests.browser.test_console import sign_in
from tests.conftest import DEFAULT_POLICY
from tests.e2e.test_policy_versions import V2_MINOR, V3_MATERIAL
from tests.integration.requests.support import ctx, person, verified


def staff_key(runtime: Runtime) -> str:
    with transaction(runtime.sessions) as session:
        return access.create_key(
            session, name="privacy-officer", scopes=list(SCOPES), purposes=["*"],
            known_purposes=runtime.policy.purpose_ids, clock=runtime.clock,
            actor=Actor("admin", "test"),
        ).token  # fmt: skip


def first_version(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        notices.ensure_first_version(
            session, source=DEFAULT_POLICY.read_text(), clock=runtime.clock
        )
    with runtime.sessions() as session:
        runtime.book.load(session)


def no_overflow(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner + 1, (width, inner)


def test_publish_through_the_preview_then_withdraw(
    page: Page, live_server: str, live_runtime: Runtime
) -> None:
    first_version(live_runtime)
    person(live_runtime, "Ada")
    person(live_runtime, "Bea")
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    sign_in(page, live_server, staff_key(live_runtime), "/admin/policy")
    page.get_by_label("Policy file (YAML)").fill(V3_MATERIAL)
    page.get_by_role("button", name="Check and preview").click()
    page.get_by_role("heading", name="Publish v2? Check what it does").wait_for()
    assert page.get_by_role("heading", name="Wait for each person's acceptance").is_visible()
    assert page.locator("table.textdiff tr.added").count() > 0
    assert "2 people with an active account will be e-mailed" in page.inner_text("main")
    screenshot(page, "console-policy-preview")
    page.get_by_role("button", name="Publish v2 and e-mail 2 people").click()
    page.wait_for_url("**/admin/policy?done=published")
    assert "The new policy version was published." in page.inner_text("main")
    screenshot(page, "console-policy-published")
    page.get_by_role("link", name="Withdraw…").click()
    page.get_by_role("heading", name="Withdraw v2?").wait_for()
    assert "2 e-mails not yet sent will be stopped" in page.inner_text("main")
    screenshot(page, "console-policy-withdraw")
    page.get_by_role("button", name="Withdraw v2").click()
    page.wait_for_url("**/admin/policy?done=withdrawn")
    assert "withdrawn" in page.locator("table tbody tr").first.inner_text()
    screenshot(page, "console-policy-withdrawn")
    assert not problems, problems


def test_the_public_diff_side_by_side_on_a_desktop_and_a_phone(
    browser: Browser, live_server: str, live_runtime: Runtime
) -> None:
    first_version(live_runtime)
    with transaction(live_runtime.sessions) as session:
        notices.publish(
            session, source=V2_MINOR, source_name="v2", effective_at=None, requested_class=None,
            clock=live_runtime.clock, actor=Actor("admin", "test"),
        )  # fmt: skip
    for name, viewport in (("", {"width": 1280, "height": 900}),
                           ("-375", {"width": 375, "height": 812})):  # fmt: skip
        context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        page = context.new_page()
        try:
            page.goto(f"{live_server}/policy/diff?from=1&to=2")
            page.get_by_role("heading", name="The rule changes in words").wait_for()
            marks = page.locator("table.textdiff tr.changed mark")
            # "30" and "14": in the table, the rule's line, and three times in the retention
            # paragraph (its sentence on sealed addresses names the period, decision 0043).
            assert marks.count() == 10
            assert marks.first.inner_text() == "30"
            style = "m => getComputedStyle(m).backgroundColor"
            old_bg = page.locator("table.textdiff tr.changed .old mark").first.evaluate(style)
            new_bg = page.locator("table.textdiff tr.changed .new mark").first.evaluate(style)
            assert old_bg != new_bg  # removed and added words look different
            no_overflow(page)
            screenshot(page, f"public-policy-diff{name}")
        finally:
            context.close()


def test_the_certificate_reads_and_prints_as_a_document(
    page: Page, live_server: str, live_runtime: Runtime
) -> None:
    assert isinstance(live_runtime.clock, SystemClock)
    first_version(live_runtime)
    sid = person(live_runtime, "Ada")
    rid = verified(live_runtime, sid)
    jobs.erase(live_runtime.sessions, ctx(live_runtime), rid)
    sign_in(page, live_server, staff_key(live_runtime), f"/admin/requests/{rid}")
    page.goto(f"{live_server}/admin/requests/{rid}/certificate")
    headings = page.get_by_role("heading", level=2).all_inner_texts()
    assert headings == [
        "When",
        "What was erased",
        "What was kept, and why",
        "Recipients told of the erasure",
        "Verification after the erasure",
    ]
    assert "Postal address" in page.locator("section[aria-labelledby=c-kept]").inner_text()
    assert page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth") != "none"
    screenshot(page, "console-certificate")
    page.emulate_media(media="print")
    assert page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth") == "none"
    screenshot(page, "console-certificate-print")
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")


def test_the_ropa_page(page: Page, live_server: str, live_runtime: Runtime) -> None:
    first_version(live_runtime)
    person(live_runtime, "Ada")
    sign_in(page, live_server, staff_key(live_runtime), "/admin/ropa")
    page.get_by_role("heading", level=1).wait_for()
    assert page.get_by_role("link", name="Record of processing").get_attribute("aria-current")
    text = page.inner_text("main")
    assert "No key rotation has run yet." in text
    assert "(g) Technical and organisational security measures" in text
    screenshot(page, "console-ropa")
