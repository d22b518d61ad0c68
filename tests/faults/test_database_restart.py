"""The database restarts in the middle of sustained ingestion (a private PostgreSQL, stopped
with ``-m immediate`` — a crash as far as its clients can tell — and started again).

While it is down, Safehold answers 503 ``database_unavailable`` with ``Retry-After`` (never a
bare 500) and ``/readyz`` says not ready; when it is back, the same `safehold serve` process
carries on by itself (pre-pinged connections), the client's retries land, every acknowledged
event is stored exactly once, the audit chain verifies and pg_amcheck finds no corruption."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import select

from safehold.access import audit
from safehold.client import Client, Context, Event, Retry
from safehold.events import storage
from tests.deployment import Deployment, deploy
from tests.faults.conftest import PrivatePostgres, free_port

BATCHES, PER_BATCH = 30, 50
ROKU = "Roku/DVP-12.0 (12.0.0.4182-88)"


def test_a_database_restart_mid_run_loses_nothing_and_heals_by_itself(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    pg = private_postgres
    deployment: Deployment = deploy(tmp_path / "var", pg.url)
    try:
        port = free_port()
        deployment.serve(port)
        base = f"http://127.0.0.1:{port}"
        work = [
            [Event("channel.play", subject_id=deployment.people[i % len(deployment.people)],
                   properties={"channel_id": f"ch-{i % 7}"}) for i in range(PER_BATCH)]
            for _ in range(BATCHES)
        ]  # fmt: skip
        acknowledged: list[uuid.UUID] = []
        errors: list[BaseException] = []

        def send_all() -> None:
            client = Client(base, deployment.token, timeout=5,
                            retry=Retry(attempts=400, base=0.05, cap=0.25))  # fmt: skip
            try:
                for batch in work:
                    result = client.send(batch, context=Context(user_agent=ROKU, ip="192.0.2.8"))
                    acknowledged.extend(r.event_id for r in result.results if r.event_id)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
            finally:
                client.close()

        sender = threading.Thread(target=send_all)
        sender.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 5 * PER_BATCH and time.monotonic() < deadline:
            time.sleep(0.01)
        before_stop = len(acknowledged)
        pg.stop("immediate")  # the clients' connections die mid-transaction
        down = httpx.post(
            f"{base}/v1/events", headers={"Authorization": f"Bearer {deployment.token}"},
            json={"events": []}, timeout=10,
        )  # fmt: skip
        ready = httpx.get(f"{base}/readyz", timeout=10)
        time.sleep(1.0)  # the sender keeps retrying against a database that is not there
        pg.start()
        sender.join(timeout=180)

        assert not errors, errors
        assert not sender.is_alive()
        assert down.status_code == 503, down.text
        assert down.json()["error"]["code"] == "database_unavailable"
        assert int(down.headers["retry-after"]) > 0
        assert ready.status_code == 503
        assert before_stop < BATCHES * PER_BATCH, "the restart came after the last batch"
        assert len(acknowledged) == BATCHES * PER_BATCH
        # The same process serves again, with no restart of its own.
        assert deployment.procs[0].poll() is None
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
        log = deployment.log.read_text()
        assert "unhandled_error" not in log, log[-3000:]
        assert "database_unavailable" in log

        with deployment.runtime.sessions() as session:
            ids = list(session.scalars(select(storage.EVENTS.c.event_id)))
            verification = audit.verify(session)
        assert len(ids) == len(set(ids)), "an event was stored twice"
        assert set(acknowledged) == set(ids), "an acknowledged event was lost"
        assert verification.ok, verification.broken
        pg.run("pg_amcheck", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
               "--install-missing", "--heapallindexed", "postgres")  # fmt: skip
    finally:
        deployment.close()
