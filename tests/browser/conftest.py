"""The browser tier: Playwright for Python driving the system Chromium (/usr/bin/chromium)
against Safehold served by uvicorn on a loopback socket. Under CI a missing Chromium fails
the run; elsewhere these tests are skipped with the reason."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from safehold import migrate
from safehold.app import create_app
from safehold.comms import jobs as comms_jobs
from safehold.config import Settings
from safehold.runtime import Runtime, build_runtime
from safehold.web import jobs as web_jobs
from tests.conftest import DEFAULT_POLICY, IN_CI, ROOT

CHROMIUM = Path(os.environ.get("SAFEHOLD_TEST_CHROMIUM", "/usr/bin/chromium"))
SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"Chromium not found at {CHROMIUM}: install Debian's 'chromium' package"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def live_runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A Safehold of its own (a fresh SQLite file): the browser makes concurrent requests."""
    runtime = build_runtime(Settings(data_dir=tmp_path, policy=DEFAULT_POLICY))
    migrate.upgrade(runtime.engine)
    yield runtime
    runtime.close()


@pytest.fixture
def live_server(live_runtime: Runtime) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with serving(live_runtime, port) as url:
        yield url


@contextmanager
def serving(runtime: Runtime, port: int) -> Iterator[str]:
    """The app of ``runtime`` served by uvicorn on ``port`` in a thread, until the block ends."""
    config = uvicorn.Config(
        create_app(runtime), host="127.0.0.1", port=port, log_config=None, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def screenshot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- e-mail for the journeys: a real SMTP sink on loopback, and the outbox drained into it ---


def drain_outbox(runtime: Runtime) -> int:
    """Run the worker's sign-in job (codes asked for are queued), then its outbox job until
    nothing is due; how many rows it claimed."""
    web_jobs.send_codes(runtime)
    claimed = 0
    while (count := comms_jobs.run(runtime)) > 0:
        claimed += count
    return claimed
