"""An unexpected error under uvicorn, as `safehold serve` runs the app: the client gets the
bare 500, and the log has the project's frames-only line — never the exception's message,
which may quote personal data or SQL parameters (review F12: uvicorn logged its repr)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.deployment import wait_until_answering
from tests.e2e.raising_app import QUOTED
from tests.e2e.test_serve import free_port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHOLD_")}
    log = tmp_path / "stderr.log"
    with log.open("w") as err:
        proc = subprocess.Popen(  # noqa: S603 - this interpreter, a module of the tests
            [sys.executable, "-m", "tests.e2e.raising_app", str(port), str(tmp_path / "var")],
            env=env, cwd=ROOT, stdout=err, stderr=err,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base}/healthz", log, proc)
        yield base, log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def records(log: Path) -> list[dict[str, object]]:
    time.sleep(0.2)  # let the last lines land
    text = log.read_text()
    assert "bo.tumbleweed" not in text  # frames show the code that raised, not its values
    assert "Exception in ASGI application" not in text
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_a_500_logs_frames_only_never_the_message(served: tuple[str, Path]) -> None:
    base, log = served
    with httpx.Client(base_url=base) as http:
        failed = http.get("/raises")
        after = http.get("/healthz")  # on the same connection: a 500 no longer closes it
    assert failed.status_code == 500
    assert failed.json()["error"]["code"] == "internal_error"
    assert QUOTED not in failed.text
    assert after.status_code == 200
    lines = records(log)
    (unhandled,) = [line for line in lines if line.get("event") == "unhandled_error"]
    assert unhandled["error_type"] == "StoreFailed"
    assert "in raises" in str(unhandled["frames"])
    assert unhandled["request_id"] == failed.headers["x-request-id"]
    (access,) = [line for line in lines if line.get("route") == "/raises"]
    assert access["status"] == 500


def test_an_error_after_the_answer_began_logs_frames_only(served: tuple[str, Path]) -> None:
    base, log = served
    with pytest.raises(httpx.RemoteProtocolError):  # the answer is cut short
        httpx.get(f"{base}/raises-mid-answer")
    lines = records(log)
    (unhandled,) = [line for line in lines if line.get("event") == "unhandled_error"]
    assert unhandled["error_type"] == "StoreFailed"
    assert "in chunks" in str(unhandled["frames"])
