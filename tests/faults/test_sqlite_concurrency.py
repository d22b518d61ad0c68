"""The embedded database under the ordinary concurrency the security review measured (F1):
`safehold serve` on SQLite with two clients ingesting events while others read and correct
people, four API callers at once, and racing registrations of one address. Every request
reaches a decision — never a 503 "database is locked" — because every writing transaction
takes SQLite's write lock up front and waits its turn (busy timeout) instead of failing.

Bounded by request counts, not by time; nothing is timed."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import tests.deployment
from safehold.access import service as access
from safehold.client import Client, Event
from safehold.db import transaction
from tests.deployment import ADMIN, Deployment, deploy
from tests.faults.conftest import free_port

INGESTERS, BATCHES, PER_BATCH = 2, 12, 100
CALLS = 30  # per caller thread


@pytest.fixture
def served(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> tuple[Deployment, str, str]:
    """`safehold serve` on SQLite; ``--workers`` from the test's parameter (default 1)."""
    workers = getattr(request, "param", 1)
    if workers > 1:  # every worker imports everything before it answers: slow on 2 cores
        monkeypatch.setattr(tests.deployment, "START_SECONDS", 120)
    deployment = deploy(tmp_path / "var", None, people=5)
    with transaction(deployment.runtime.sessions) as session:
        staff = access.create_key(
            session, name="crm", scopes=["subjects:read", "subjects:write"],
            purposes=["service_provision"], known_purposes=deployment.runtime.policy.purpose_ids,
            clock=deployment.runtime.clock, actor=ADMIN,
        ).token  # fmt: skip
    port = free_port()
    deployment.serve(port, "--workers", str(workers))
    yield deployment, f"http://127.0.0.1:{port}", staff
    deployment.close()


class _Counting(httpx.HTTPTransport):
    """The real transport, counting the status of every answer (retried ones too)."""

    def __init__(self, seen: Counter[int]) -> None:
        super().__init__()
        self.seen = seen

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.seen[response.status_code] += 1
        return response


def _threads(targets: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads), "a caller hung"


def _caller(base: str, token: str, people: list[uuid.UUID], seen: Counter[int], n: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        for i in range(n):
            person = people[i % len(people)]
            if i % 2:
                answer = http.patch(
                    f"/v1/subjects/{person}", json={"name": f"Bo Sample {i}", "source": "operator"}
                )
            else:
                answer = http.get(f"/v1/subjects/{person}", params={"purpose": "service_provision"})
            seen[answer.status_code] += 1


@pytest.mark.parametrize("served", [1, 2], ids=["one-process", "two-workers"], indirect=True)
def test_reads_and_corrections_during_ingestion_never_answer_503(
    served: tuple[Deployment, str, str],
) -> None:
    """With ``--workers 2`` the writers are in two processes: SQLite's own lock (busy
    timeout) orders them, still without a "database is locked"."""
    deployment, base, staff = served
    seen: Counter[int] = Counter()
    failures: list[BaseException] = []

    def ingest() -> None:
        # The client retries 503s by itself: its transport counts every answer it got.
        transport = _Counting(seen)
        try:
            with Client(base, deployment.token, transport=transport) as client:
                for b in range(BATCHES):
                    events = [
                        Event("channel.play", subject_id=deployment.people[(b + i) % 5],
                              properties={"channel_id": f"ch-{i % 9}"})
                        for i in range(PER_BATCH)
                    ]  # fmt: skip
                    assert all(r.status == "accepted" for r in client.send(events).results)
        except BaseException as exc:
            failures.append(exc)

    people = deployment.people
    _threads([ingest] * INGESTERS + [lambda: _caller(base, staff, people, seen, CALLS)] * 2)
    assert failures == []
    assert seen == Counter({200: 2 * CALLS, 202: INGESTERS * BATCHES})


def test_four_concurrent_callers_never_answer_503(served: tuple[Deployment, str, str]) -> None:
    deployment, base, staff = served
    seen: Counter[int] = Counter()
    _threads([lambda: _caller(base, staff, deployment.people, seen, CALLS)] * 4)
    assert seen == Counter({200: 4 * CALLS})


def test_racing_registrations_of_one_address_make_one_person_and_no_503(
    served: tuple[Deployment, str, str],
) -> None:
    _, base, staff = served
    headers = {"Authorization": f"Bearer {staff}"}
    for round_ in range(5):
        email = f"racer.{round_}.{uuid.uuid4().hex[:6]}@example.com"
        seen: Counter[int] = Counter()

        def register(email: str = email, seen: Counter[int] = seen) -> None:
            body = {"name": "Rae Racer", "email": email, "marketing_opt_in": False}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
                seen[http.post("/v1/subjects", json=body).status_code] += 1

        _threads([register] * 6)
        assert seen == Counter({201: 1, 409: 5})
