"""`safehold serve --workers N` as deployed: real processes on one real socket (decision 0036).

- A worker killed with SIGKILL: the other keeps answering, the supervisor starts a new one,
  and every event acknowledged before and after is stored. The periodic jobs run once, in
  the supervisor.
- SIGTERM to the supervisor: a request in flight (its body still arriving) is finished and
  acknowledged, then every process exits.
- The supervisor killed with SIGKILL: its workers stop by themselves and free the port.
- Two processes sharing Redis: the per-address sign-in limit holds across them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from limits import parse
from sqlalchemy import select

import tests.deployment
from safehold import ratelimit
from safehold.events import storage
from tests.deployment import Deployment, deploy
from tests.e2e.test_serve import free_port
from tests.e2e.test_serve_sign_in import ask_for_code

RESTART_SECONDS = 120  # a new worker imports everything first: slow on a loaded 2-core machine
ADDRESS_LIMIT = parse(ratelimit.LIMITS["signin.code.address"]).amount


def workers_of(supervisor: int) -> set[int]:
    """The supervisor's worker processes (uvicorn spawns them; the resource tracker aside)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == supervisor and b"spawn_main" in cmdline:
            found.add(int(entry.name))
    return found


def events(deployment: Deployment, n: int) -> dict[str, object]:
    return {
        "events": [
            {"event_id": str(uuid.uuid4()), "subject_id": str(deployment.people[i % 2]),
             "name": "channel.play", "properties": {"channel_id": f"ch-{i}"}}
            for i in range(n)
        ]
    }  # fmt: skip


def started(deployment: Deployment) -> int:
    """How many worker processes have built their app and begun accepting."""
    return deployment.log.read_text().count("Application startup complete")


def stored(deployment: Deployment) -> set[str]:
    with deployment.runtime.sessions() as session:
        return {str(e) for e in session.scalars(select(storage.EVENTS.c.event_id))}


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    monkeypatch.setattr(tests.deployment, "START_SECONDS", RESTART_SECONDS)  # N to start
    found = deploy(tmp_path / "var", None, people=2)
    yield found
    found.close()


def test_a_killed_worker_is_replaced_while_the_other_serves_and_sigterm_finishes_requests(
    deployment: Deployment,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {deployment.token}"}
    deployment.env["SAFEHOLD_LOG_LEVEL"] = "info"  # the supervisor's lines on its workers
    proc = deployment.serve(port, "--workers", "2")  # with the jobs (embedded: the default)
    deadline = time.monotonic() + RESTART_SECONDS
    while len(workers_of(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    first = workers_of(proc.pid)
    assert len(first) == 2, deployment.log.read_text()[-2000:]
    # /readyz answered from one worker; the other may still be importing. Killing a worker
    # before it has started would leave one start-up line short of the count below.
    while started(deployment) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert started(deployment) == 2, deployment.log.read_text()[-2000:]
    acknowledged: set[str] = set()

    def send(http: httpx.Client, n: int = 5) -> None:
        body = events(deployment, n)
        answer = http.post("/v1/events", json=body, headers=auth)
        assert answer.status_code == 202, answer.text
        acknowledged.update(r["event_id"] for r in answer.json()["results"])

    with httpx.Client(base_url=base, timeout=10) as http:
        send(http)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    answered = []
    for _ in range(20):  # a new connection each time: whichever worker accepts it answers
        with httpx.Client(base_url=base, timeout=10) as http:
            answered.append(http.get("/healthz").status_code)
            send(http, 1)
    assert answered == [200] * 20
    while time.monotonic() < deadline:
        now = workers_of(proc.pid)
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.2)
    replaced = workers_of(proc.pid)
    assert victim not in replaced
    assert len(replaced) == 2, deployment.log.read_text()[-2000:]
    log = deployment.log.read_text()
    assert f"Child process [{victim}] died" in log
    while started(deployment) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)  # the new worker has built its app and is accepting
    log = deployment.log.read_text()
    assert started(deployment) == 3
    assert log.count('"event": "worker_started"') == 1  # the jobs: in the supervisor only

    # SIGTERM while a request's body is still arriving: it is finished, then all stop.
    body = httpx.Request("POST", "/", json=events(deployment, 20)).content
    halves = [body[: len(body) // 2], body[len(body) // 2 :]]
    sent_half = threading.Event()

    def slowly() -> Iterator[bytes]:
        yield halves[0]
        sent_half.set()
        time.sleep(2.0)
        yield halves[1]

    result: dict[str, httpx.Response] = {}

    def post() -> None:
        headers = {**auth, "Content-Type": "application/json", "Content-Length": str(len(body))}
        with httpx.Client(base_url=base, timeout=30) as http:
            result["answer"] = http.post("/v1/events", content=slowly(), headers=headers)

    poster = threading.Thread(target=post)
    poster.start()
    assert sent_half.wait(10)
    time.sleep(0.3)  # the first half has reached a worker
    proc.send_signal(signal.SIGTERM)
    poster.join(30)
    answer = result["answer"]
    assert answer.status_code == 202, answer.text
    acknowledged.update(r["event_id"] for r in answer.json()["results"])
    assert proc.wait(timeout=30) == 0
    assert not workers_of(proc.pid)
    assert acknowledged <= stored(deployment)  # nothing acknowledged was lost
    assert len(acknowledged) == 5 + 20 + 20
    assert "unhandled_error" not in deployment.log.read_text()


def test_a_sign_in_limit_holds_across_two_processes_sharing_redis(
    deployment: Deployment, redis_url: str
) -> None:
    """Two `safehold serve` processes on their own ports, one database, one Redis: codes for
    one address asked alternately of each. Without Redis each would allow the limit."""
    deployment.env["SAFEHOLD_REDIS_URL"] = redis_url
    ports = [free_port(), free_port()]
    for port in ports:
        deployment.serve(port, "--no-jobs")
    address = f"visitor.{uuid.uuid4().hex[:8]}@example.com"
    statuses = []
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{p}", timeout=10) for p in ports]
    try:
        for n in range(ADDRESS_LIMIT + 2):
            statuses.append(ask_for_code(clients[n % 2], address))
        metrics = clients[1].get("/metrics").text
    finally:
        for client in clients:
            client.close()
    assert statuses == [303] * ADDRESS_LIMIT + [429, 429]
    assert re.search(r"^safehold_redis_up 1\.0$", metrics, re.MULTILINE)


def test_workers_without_redis_warn_that_limits_are_per_process(deployment: Deployment) -> None:
    port = free_port()
    env = {**deployment.env, "SAFEHOLD_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "safehold", "serve", "--no-demo", "--no-jobs", "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        banner = ""
        while "Several processes" not in " ".join(banner.split()):
            line = proc.stdout.readline()
            assert line, f"serve stopped before its warning: {banner}"
            banner += line
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    banner = " ".join(banner.split())  # the console wraps long lines
    assert "2 server processes" in banner
    assert "no SAFEHOLD_REDIS_URL" in banner
    assert "2 times each limit" in banner


def test_workers_stop_by_themselves_when_the_supervisor_is_killed(
    deployment: Deployment,
) -> None:
    port = free_port()
    proc = deployment.serve(port, "--workers", "2", "--no-jobs")
    deadline = time.monotonic() + RESTART_SECONDS
    while len(workers_of(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    orphans = workers_of(proc.pid)
    assert len(orphans) == 2
    proc.kill()  # SIGKILL: it cannot tell its workers anything
    proc.wait(timeout=10)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in orphans) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in orphans if Path(f"/proc/{pid}").exists()]
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)  # nobody holds the port
