"""The public pages: the policy in force, rendered from the rules, behind strict headers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from safehold.web.security import CSP


def test_the_policy_page_shows_the_five_sections(client: TestClient) -> None:
    page = client.get("/policy")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for heading in (
        "1. Types of Information Collected",
        "2. Purpose of Information Collection",
        "Third-Party Sharing",
        "4. Data Retention",
        "5. Policy Updates",
    ):
        assert heading in page.text, heading
    assert 'href="/static/safehold.css"' in page.text.replace("http://testserver", "")


def test_pages_carry_strict_security_headers(client: TestClient) -> None:
    headers = client.get("/").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"


def test_the_api_explorer_is_served_from_here_under_the_strict_csp(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-security-policy"] == CSP
    assert "<script>" not in docs.text  # the start-up script is a file: script-src 'self'
    assert "http" not in docs.text  # no CDN: every asset from this origin
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        answer = client.get(asset)
        assert answer.status_code == 200
        assert len(answer.content) > 100_000
    assert client.get("/static/api-docs.js").status_code == 200
    # only the two files the page loads; ReDoc (inline styles) is not served
    assert client.get("/docs/assets/redoc.standalone.js").status_code == 404
    assert client.get("/redoc").status_code == 404
    assert client.get("/v1/policy").headers["x-content-type-options"] == "nosniff"


def test_the_stylesheet_is_served(client: TestClient) -> None:
    css = client.get("/static/safehold.css")
    assert css.status_code == 200
    assert "prefers-color-scheme" in css.text
