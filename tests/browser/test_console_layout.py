"""The console's frame and person page in Chromium (issue 20, items 15, 16, 19): the console
uses a wide window's width while the public pages keep their reading width, it has its own
footer, its cards look and act like links, a missing scope is a 403 page naming it, a
person is looked up by phone and a hold placed from their page, the weekday and hour
charts run in calendar order, the month picker is styled like the other fields, and the
unsubscribe page has the site's header. Screenshots in test-output/screenshots/."""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from safehold.access.rules import Actor
from safehold.console.rules import HOURS, WEEKDAYS
from safehold.db import transaction
from safehold.runtime import Runtime
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from tests.browser import test_console as console
from tests.browser.conftest import screenshot
from tests.integration.requests.support import open_request

# The console tests' fixtures (a frozen clock, demo data and roll-ups, a full-scope key).
live_runtime = console.live_runtime
seeded = console.seeded
sign_in = console.sign_in
WIDE = {"width": 1600, "height": 1000}
READING = 60 * 16  # px: the public pages' 60rem column
PHONE = "+44 20 7946 0321"  # Ofcom's London range for drama: fictional


def _wide(browser: Browser) -> Page:
    return browser.new_context(viewport=WIDE).new_page()


def test_the_console_uses_a_wide_window_and_has_its_own_footer(
    browser: Browser,
    live_server: str,
    seeded: str,
) -> None:
    page = _wide(browser)
    try:
        sign_in(page, live_server, seeded, "/admin/audit")
        main = page.eval_on_selector("main", "m => m.getBoundingClientRect().width")
        assert main > 1400, main  # not the 920 px reading column
        table = page.locator("main table").first
        widths = table.evaluate("t => [t.scrollWidth, t.clientWidth]")
        assert widths[0] <= widths[1] + 1, widths  # the audit table no longer scrolls inside
        footer = page.locator("footer.site")
        assert "admin console of" in footer.inner_text()
        assert "signed in with the key support-desk" in footer.inner_text()
        assert "Questions about your data" not in footer.inner_text()
        screenshot(page, "console-wide-audit")
        page.goto(live_server + "/admin/messages")
        screenshot(page, "console-wide-messages")
        page.goto(live_server + "/policy")
        public = page.eval_on_selector("main", "m => m.getBoundingClientRect().width")
        assert public <= READING, public  # the public pages keep their reading width
        assert "Questions about your data" in page.locator("footer.site").inner_text()
    finally:
        page.context.close()


def test_overview_cards_look_and_act_like_links(
    browser: Browser,
    live_server: str,
    seeded: str,
) -> None:
    page = _wide(browser)
    try:
        sign_in(page, live_server, seeded)
        card = page.locator("main ul.cards a[href='/admin/audit']")
        before = card.evaluate("a => getComputedStyle(a).borderTopColor")
        colour = card.evaluate("a => getComputedStyle(a).color")
        accent = page.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--accent')"
        )
        assert card.evaluate("a => getComputedStyle(a).cursor") == "pointer"
        assert colour != page.evaluate("getComputedStyle(document.body).color")  # link colour
        assert accent.strip()
        card.hover()
        after = card.evaluate("a => getComputedStyle(a).borderTopColor")
        assert after != before  # a hover state
        screenshot(page, "console-overview-cards")
        page.locator("ul.figures a").first.click()  # the open-requests figure is a link too
        page.wait_for_url(f"{live_server}/admin/requests")
    finally:
        page.context.close()


def test_a_missing_scope_is_a_403_page_that_names_it(
    browser: Browser,
    live_runtime: Runtime,
    live_server: str,
) -> None:
    page = _wide(browser)
    try:
        sign_in(page, live_server, console._key(live_runtime, ["audit:read"], []))
        answer = page.goto(live_server + "/admin/requests")
        assert answer is not None
        assert answer.status == 403
        heading = page.get_by_role("heading", level=1).inner_text()
        assert heading == "This page needs the scope requests:open"
        assert "Something went wrong" not in page.content()
        screenshot(page, "console-403-missing-scope")
    finally:
        page.context.close()


def test_a_phone_look_up_keeps_the_query_and_a_hold_is_placed_from_the_page(
    browser: Browser,
    live_runtime: Runtime,
    live_server: str,
    seeded: str,
) -> None:
    ctx = subjects.Context(
        live_runtime.vault, live_runtime.policy, live_runtime.clock, live_runtime.book
    )
    with transaction(live_runtime.sessions) as session:
        gwen = subjects.register(
            session, ctx, actor=Actor("admin", "test"), marketing_opt_in=True,
            policy_version="test",
            contact=subject_rules.contact(name="Gwen Example", email="gwen@example.com",
                                          phone=PHONE),
        ).id  # fmt: skip
    open_request(live_runtime, gwen, "access")
    page = _wide(browser)
    try:
        sign_in(page, live_server, seeded, "/admin/people")
        page.get_by_label("Purpose").select_option("service_provision")
        page.get_by_label("E-mail address or phone number").fill(PHONE)
        page.get_by_role("button", name="Look up").click()
        page.get_by_role("heading", name="The person").wait_for()
        assert page.get_by_label("E-mail address or phone number").input_value() == PHONE
        assert str(gwen) in page.locator("dl.facts").first.inner_text()
        for part in ("Requests", "Marketing e-mails", "Devices", "Legal holds"):
            assert page.get_by_role("heading", name=part, exact=True).is_visible(), part
        assert page.locator("table.queue tbody tr").count() == 1  # her access request
        screenshot(page, "console-person")
        page.get_by_label("Payment information").check()  # by its policy label
        page.get_by_label("Reason (the case or the obligation)").fill("Chargeback case CB-7")
        page.get_by_label("Legal basis").fill("Contract claims")
        page.get_by_label("Keep until").fill("2027-03-31")
        page.get_by_role("button", name="Place the hold").click()
        page.get_by_text("The legal hold was placed.").wait_for()
        row = page.locator("h3:has-text('Legal holds') + table tbody tr")
        assert "Chargeback case CB-7" in row.inner_text()
        assert "2027-03-31" in row.inner_text()
        screenshot(page, "console-person-hold-placed")
        page.set_viewport_size({"width": 375, "height": 812})
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375 + 1, width  # on a phone the page fits; wide tables scroll inside
        screenshot(page, "console-person-375")
    finally:
        page.context.close()


def test_weekday_and_hour_charts_run_in_calendar_order_and_the_month_picker_is_styled(
    browser: Browser,
    live_server: str,
    seeded: str,
) -> None:
    page = _wide(browser)
    try:
        sign_in(page, live_server, seeded, "/admin/analytics?month=2026-02")
        page.wait_for_function("document.querySelectorAll('figure.chart-box.drawn').length > 0")
        for section, calendar in (("logins_by_weekday", WEEKDAYS), ("logins_by_hour", HOURS)):
            labels = page.eval_on_selector_all(
                f"#h-{section} ~ .report-body tbody th", "ths => ths.map(t => t.textContent)"
            )
            known = [label for label in labels if label in calendar]
            assert known, section
            assert known == sorted(known, key=calendar.index), (section, labels)
            chart = page.eval_on_selector(
                f"#h-{section} ~ .report-body script.chart-data", "s => JSON.parse(s.textContent)"
            )
            drawn = [label for label in chart["labels"] if label in calendar]
            assert drawn == known  # the chart runs as its table does
        month = page.get_by_label("Month")
        style = month.evaluate(
            "i => { const s = getComputedStyle(i); return [s.minHeight, s.borderTopStyle,"
            " s.borderTopLeftRadius, s.fontSize]; }"
        )
        search = page.evaluate("getComputedStyle(document.body).fontSize")
        assert style[0] == "44px"  # 2.75rem: the other fields' touch target
        assert style[1] == "solid"
        assert style[2] != "0px"
        assert style[3] == search  # the page's font, not the browser's small default
        screenshot(page, "console-analytics-calendar-order")
    finally:
        page.context.close()


def test_the_unsubscribe_page_has_the_sites_header(browser: Browser, live_server: str) -> None:
    page = _wide(browser)
    try:
        answer = page.goto(live_server + "/unsubscribe/not-a-token")
        assert answer is not None
        assert answer.status == 404  # a link that is not valid: still one of the site's pages
        header = page.locator("header.site")
        assert header.get_by_role("link", name="Privacy policy").is_visible()
        assert header.get_by_role("link", name="Policy history").is_visible()
        assert page.locator("footer.site").is_visible()
        screenshot(page, "unsubscribe-with-header")
    finally:
        page.context.close()
