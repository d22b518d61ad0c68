"""The log handler's last guard: a standard-library record carrying an exception (uvicorn's
"Exception in ASGI application" for an error raised outside the app's own catcher) keeps
the exception's type and frames, never its message (review F12)."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
import structlog

from safehold.logs import configure_logging

QUOTED = "Bo Tumbleweed <bo.tumbleweed@example.com>"


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stderr", captured)
    configure_logging("json", "info")
    try:
        yield captured
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.reset_defaults()


def fail_with_a_quote() -> None:
    raise ValueError(f"duplicate key value: {QUOTED}")


def test_an_exception_logged_by_uvicorn_keeps_its_frames_not_its_message(
    stderr: io.StringIO,
) -> None:
    try:
        fail_with_a_quote()
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    text = stderr.getvalue()
    assert "bo.tumbleweed" not in text
    (line,) = [json.loads(line) for line in text.splitlines()]
    assert line["level"] == "error"
    assert line["event"].startswith("Exception in ASGI application (ValueError, message withheld)")
    assert "in fail_with_a_quote" in line["event"]
    assert "exc_info" not in line
    assert "exception" not in line
