"""A real OpenID provider for the single sign-on tests: ``oidc-provider-mock`` started as
its own process (from this venv) on a free loopback port, reached as ``localhost`` — another
site than Safehold's 127.0.0.1, as a real provider is. Any client id and secret are
accepted; who signs in is typed on its authorization form, with the claims set beforehand by
:meth:`Provider.user`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import httpx

CLIENT_ID = "safehold-console"
CLIENT_SECRET = "fictional-client-secret"


@dataclass(frozen=True)
class Provider:
    issuer: str

    def user(self, sub: str, **claims: object) -> None:
        answer = httpx.put(f"{self.issuer}/users/{quote(sub)}", json=claims, timeout=10)
        assert answer.status_code == 204, answer.text

    def authorize(self, url: str, sub: str) -> str:
        """Sign ``sub`` in on the provider's form (as the browser would): the redirect back."""
        answer = httpx.post(url, data={"sub": sub}, timeout=10, follow_redirects=False)
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_provider() -> Iterator[Provider]:
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "-m", "oidc_provider_mock", "--port", str(port), "--require-nonce"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    provider = Provider(f"http://localhost:{port}")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None, "the OpenID provider exited"
                assert time.monotonic() < deadline, "the OpenID provider did not start"
                time.sleep(0.1)
        yield provider
    finally:
        process.terminate()
        process.wait(timeout=10)
