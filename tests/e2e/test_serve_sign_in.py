"""Sign-in against `safehold serve` as deployed — a real process on a real socket, e-mail to
a real SMTP sink: the code e-mail leaves by itself within seconds, though the request only
records an attempt and the in-process worker does the rest (decision 0019); and the
per-client rate limits count the connection's address unless SAFEHOLD_TRUSTED_PROXIES names
the peer as a proxy (security review F15)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from limits import parse

from safehold import ratelimit
from safehold.access.rules import Actor
from safehold.db import transaction
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from tests.deployment import Deployment, deploy
from tests.e2e.test_serve import free_port
from tests.integration.comms.smtp import SmtpServer

EMAIL = "juniper.ashgrove@example.com"
CSRF = re.compile(r'name="csrf_token" value="([A-Za-z0-9_-]{43})"')
# Generous: the worker looks every second, and this machine is shared. Typically under 2 s.
DELIVERY_DEADLINE = 20.0
CLIENT_LIMIT = parse(ratelimit.LIMITS["signin.code.client"]).amount


@pytest.fixture
def deployment(tmp_path: Path, smtp: SmtpServer) -> Iterator[Deployment]:
    """An embedded (SQLite) deployment with one person, its e-mail going to the sink."""
    found = deploy(tmp_path / "var", None, people=0)
    found.env |= {"SAFEHOLD_SMTP_HOST": smtp.host, "SAFEHOLD_SMTP_PORT": str(smtp.port),
                  "SAFEHOLD_SMTP_TIMEOUT": "5"}  # fmt: skip
    runtime = found.runtime
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock)
    with transaction(runtime.sessions) as session:
        subjects.register(
            session, ctx, actor=Actor("api_key", "crm"), marketing_opt_in=False,
            contact=subject_rules.contact(name="Juniper Ashgrove", email=EMAIL),
            policy_version="test",
        )  # fmt: skip
    yield found
    found.close()


def ask_for_code(http: httpx.Client, email: str, headers: dict[str, str] | None = None) -> int:
    """GET the form (CSRF cookie and field), POST the address; the answer's status."""
    page = http.get("/me/sign-in")
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    data = {"email": email, "csrf_token": found.group(1)}
    return http.post("/me/sign-in", data=data, headers=headers or {}).status_code


def test_the_code_email_leaves_by_itself_within_seconds(
    deployment: Deployment, smtp: SmtpServer
) -> None:
    port = free_port()
    deployment.serve(port)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        assert ask_for_code(http, EMAIL) == 303
        assert ask_for_code(http, "nobody.here@example.com") == 303
    smtp.inbox.wait_for(1, timeout=DELIVERY_DEADLINE)
    [mail] = smtp.inbox.to(EMAIL)
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    assert re.search(r"sign in to the privacy center is \d{8}", body.get_content())
    assert len(smtp.inbox.messages()) == 1  # nothing for the address without an account


@pytest.mark.parametrize(
    ("trusted_proxies", "last"),
    [(None, 429), ("127.0.0.1", 303)],
    ids=["default-trusts-no-proxy", "trusted-proxy"],
)
def test_a_forwarded_address_counts_only_from_a_trusted_proxy(
    deployment: Deployment, trusted_proxies: str | None, last: int
) -> None:
    """From 127.0.0.1, each request claims another client in X-Forwarded-For (documentation
    addresses). By default the claims are ignored: they all count against 127.0.0.1 and the
    one past the limit is refused. Only a named proxy's header changes the client."""
    if trusted_proxies is not None:
        deployment.env["SAFEHOLD_TRUSTED_PROXIES"] = trusted_proxies
    port = free_port()
    deployment.serve(port)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        statuses = [
            ask_for_code(  # a new address each time: the per-address limit stays out of it
                http, f"visitor.{n}@example.com", {"X-Forwarded-For": f"198.51.100.{n + 1}"}
            )
            for n in range(CLIENT_LIMIT + 1)
        ]
    assert statuses == [303] * CLIENT_LIMIT + [last]
