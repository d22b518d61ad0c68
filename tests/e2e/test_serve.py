"""`safehold serve` as a new user runs it: a real process on a real socket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ADMIN_HINT = "Admin API key created"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHOLD_")}
    env |= {"SAFEHOLD_DATA_DIR": str(tmp_path / "var"), "SAFEHOLD_PORT": str(port)}
    stderr = tmp_path / "stderr.log"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "safehold", "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            proc.kill()
            proc.communicate()
            pytest.fail(f"serve did not become ready: {stderr.read_text()[-2000:]}")
        try:
            yield base, proc, stderr
        finally:
            proc.terminate()
            proc.communicate(timeout=10)  # waits and closes the stdout pipe


def test_serve_starts_migrated_with_an_admin_key(
    served: tuple[str, subprocess.Popen[str], Path],
) -> None:
    base, proc, _stderr = served
    assert proc.stdout is not None
    banner = ""
    while "Safehold on" not in banner:
        banner += proc.stdout.readline()
    assert ADMIN_HINT in banner
    token = next(word for word in banner.split() if word.startswith("shk_"))
    me = httpx.get(f"{base}/v1/keys/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["purposes"] == ["*"]
    assert httpx.get(f"{base}/v1/policy").status_code == 200
    assert "safehold_http_requests_total" in httpx.get(f"{base}/metrics").text
    assert httpx.get(f"{base}/docs").status_code == 200


def test_logs_are_json_lines_with_request_ids_and_no_personal_data(
    served: tuple[str, subprocess.Popen[str], Path],
) -> None:
    base, _proc, stderr = served
    marker = "Wilhelmina.Quaxley@example.com"
    httpx.get(f"{base}/v1/policy", params={"email": marker}, headers={"X-Request-ID": "trace-42"})
    httpx.post(f"{base}/v1/policy/evaluate", json={"purpose": marker})
    card = "4111 1111 1111 1111"
    assert httpx.post(f"{base}/v1/keys", json={"note": card}).status_code == 422
    time.sleep(0.3)
    lines = [json.loads(line) for line in stderr.read_text().splitlines() if line.strip()]
    access = [entry for entry in lines if entry.get("event") == "http_request"]
    assert any(e["request_id"] == "trace-42" and e["route"] == "/v1/policy" for e in access)
    assert all("request_id" in e for e in access)
    assert marker not in stderr.read_text()
    assert card not in stderr.read_text()
    assert any(e.get("event") == "card_data_refused" for e in lines)


def serve_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHOLD_")}
    return env | {"SAFEHOLD_DATA_DIR": str(data_dir), "SAFEHOLD_PORT": str(port)}


def read_until(proc: subprocess.Popen[str], marker: str, seconds: float = 120) -> str:
    """stdout up to the line holding ``marker`` (the demo takes a while on 2 cores)."""
    assert proc.stdout is not None
    seen, deadline = "", time.monotonic() + seconds
    while marker not in seen and time.monotonic() < deadline and proc.poll() is None:
        seen += proc.stdout.readline()
    assert marker in seen, seen[-2000:]
    return seen


def test_a_busy_port_stops_start_up_before_anything_is_created(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "safehold", "serve"],
            env=serve_env(data_dir, port), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "nothing was created" in result.stderr
    assert "shk_" not in result.stdout + result.stderr
    assert not data_dir.exists()  # no database, so no admin key spent and no demo skipped
    # The next start, on a free port, is a first start: the key once, then the demo.
    proc = subprocess.Popen(
        [sys.executable, "-m", "safehold", "serve"],
        env=serve_env(data_dir, free_port()), stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        seen = read_until(proc, "demo data: 60 people")
        assert ADMIN_HINT in seen
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_a_later_start_fills_the_demo_that_never_happened(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    first = subprocess.Popen(
        [sys.executable, "-m", "safehold", "serve", "--no-demo"],
        env=serve_env(data_dir, free_port()), stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        seen = read_until(first, "Safehold on")
        assert ADMIN_HINT in seen
        assert "filling the empty demo database" not in seen
    finally:
        first.terminate()
        first.communicate(timeout=10)  # stopped before any person was registered
    later = subprocess.Popen(
        [sys.executable, "-m", "safehold", "serve"],
        env=serve_env(data_dir, free_port()), stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        seen = read_until(later, "demo data: 60 people")
        assert ADMIN_HINT not in seen  # the key was shown once, on the first start
        assert "sign in as" in read_until(later, "privacy center:")
    finally:
        later.terminate()
        later.communicate(timeout=10)
    # Once people are in, no later start adds more.
    again = subprocess.Popen(
        [sys.executable, "-m", "safehold", "serve"],
        env=serve_env(data_dir, free_port()), stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert "filling" not in read_until(again, "Safehold on")
    finally:
        again.terminate()
        again.communicate(timeout=10)
