"""The public policy page in a real browser: readable, navigable by keyboard, on a phone."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot


def test_the_policy_page_renders_with_its_stylesheet_and_contents(
    page: Page, live_server: str
) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server}/policy")
    expect(page.get_by_role("heading", level=1)).to_have_text("Information We Collect Policy")
    toc = page.get_by_role("navigation", name="Sections of this policy")
    toc.get_by_role("link", name="4. Data Retention").click()
    assert page.url.endswith("#4-data-retention")
    # the stylesheet applied (no inline styles are allowed by the CSP)
    width = page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth")
    assert width != "none"
    assert errors == []
    shot = screenshot(page, "policy")
    assert shot.stat().st_size > 10_000


def test_the_skip_link_is_first_for_keyboard_users(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to the content"


def test_the_policy_is_usable_on_a_phone(browser, live_server: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    phone.goto(f"{live_server}/policy")
    overflow = phone.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    screenshot(phone, "policy-phone")
    context.close()
    assert overflow is False


def test_the_api_explorer_works_offline_under_the_strict_csp(page: Page, live_server: str) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((live_server, "data:")) else elsewhere.append(r.url),
    )
    page.goto(f"{live_server}/docs")
    expect(page.get_by_role("heading", name="Safehold")).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/v1/keys/me").first).to_be_visible()
    page.locator(".opblock-summary", has_text="/v1/keys/me").first.click()
    expect(page.get_by_role("button", name="Try it out").first).to_be_visible()
    shot = screenshot(page, "api-docs")
    assert shot.stat().st_size > 10_000
    assert elsewhere == []  # nothing from a CDN: it works without internet
    assert errors == []  # a CSP violation would be a console error
