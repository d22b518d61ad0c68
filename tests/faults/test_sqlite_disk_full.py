"""The embedded SQLite database runs out of disk space under `safehold serve`, then space is
freed again.

How the disk fills: a small tmpfs mounted over the data directory, topped up with a ballast
file until a few hundred kilobytes are left (when ``mount -t tmpfs`` works: root, as on the
CI machine); otherwise ``RLIMIT_FSIZE`` on the server process (``SIGXFSZ`` ignored, so a
write past it fails with EFBIG). The fault clears by deleting the ballast, or by raising the
process's limit with prlimit(2) — the same process carries on, nothing is restarted.

Expected: writes are refused with a clear error (507 ``storage_full``, or 503
``database_unavailable`` when SQLite reports the failed write as an I/O error), never a bare
500; nothing acknowledged is lost; ``PRAGMA integrity_check`` is ``ok`` and the audit chain
verifies; and ingestion works again once there is space."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from safehold.access import audit
from safehold.events import storage
from tests.conftest import IN_CI
from tests.deployment import Deployment, deploy
from tests.faults.conftest import free_port

FORCE = "SAFEHOLD_TEST_DISK_FAULT"  # "rlimit" skips the tmpfs even where it would work
TMPFS_SIZE = "24m"
HEADROOM = 384 * 1024  # bytes left free once the fault is armed
BATCH = 100


@dataclass
class DiskFault:
    how: str  # "tmpfs" or "rlimit"
    data_dir: Path

    def arm(self, server: subprocess.Popen[bytes]) -> None:
        if self.how == "tmpfs":
            free = shutil.disk_usage(self.data_dir).free
            with (self.data_dir / "ballast").open("wb") as ballast:
                ballast.truncate(0)
                chunk = b"\0" * (1024 * 1024)
                left = free - HEADROOM
                while left > 0:
                    left -= ballast.write(chunk[: min(len(chunk), left)])
        else:
            biggest = max(p.stat().st_size for p in self.data_dir.iterdir() if p.is_file())
            limit = biggest + HEADROOM
            # The soft limit only: raising it again needs no privilege.
            resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    def clear(self, server: subprocess.Popen[bytes]) -> None:
        if self.how == "tmpfs":
            (self.data_dir / "ballast").unlink()
        else:
            unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
            resource.prlimit(server.pid, resource.RLIMIT_FSIZE, unlimited)


def _try_tmpfs(where: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    options = f"size={TMPFS_SIZE},mode=0700"
    done = subprocess.run(  # noqa: S603 - fixed command, a path made here
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],  # noqa: S607
        capture_output=True, check=False,
    )  # fmt: skip
    return done.returncode == 0


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[DiskFault]:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    if os.environ.get(FORCE, "tmpfs") == "tmpfs" and _try_tmpfs(data_dir):
        try:
            yield DiskFault("tmpfs", data_dir)
        finally:
            subprocess.run(["umount", "-l", str(data_dir)], check=False)  # noqa: S603, S607
        return
    if not hasattr(resource, "prlimit"):
        if IN_CI:
            pytest.fail("neither a tmpfs mount nor prlimit(2) is available to fill the disk")
        pytest.skip("neither a tmpfs mount nor prlimit(2) is available here")
    yield DiskFault("rlimit", data_dir)


def _serve(deployment: Deployment, port: int) -> subprocess.Popen[bytes]:
    """`safehold serve`, ignoring SIGXFSZ so that a write past RLIMIT_FSIZE fails with EFBIG
    (the default action would kill the process) — the ignored disposition survives exec."""
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        return deployment.serve(port)
    finally:
        signal.signal(signal.SIGXFSZ, previous)


def _batch(people: list[uuid.UUID]) -> dict[str, Any]:
    return {
        "events": [
            {"event_id": str(uuid.uuid4()), "subject_id": str(people[i % len(people)]),
             "name": "channel.play", "properties": {"channel_id": f"news-{i % 9}"}}
            for i in range(BATCH)
        ]
    }  # fmt: skip


def test_a_full_disk_refuses_writes_clearly_corrupts_nothing_and_heals(
    disk: DiskFault, tmp_path: Path
) -> None:
    deployment = deploy(disk.data_dir, None)
    deployment.log = tmp_path / "serve.log"  # outside the full disk: the log must survive
    try:
        port = free_port()
        server = _serve(deployment, port)
        auth = {"Authorization": f"Bearer {deployment.token}"}
        acknowledged: list[str] = []
        refusals: list[httpx.Response] = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=30) as http:

            def send() -> httpx.Response:
                body = _batch(deployment.people)
                answer = http.post("/v1/events", json=body)
                if answer.status_code == 202:
                    acknowledged.extend(e["event_id"] for e in body["events"])
                return answer

            assert send().status_code == 202  # healthy before the fault
            disk.arm(server)
            for _ in range(400):
                answer = send()
                if answer.status_code != 202:
                    refusals.append(answer)
                    if len(refusals) >= 3:
                        break
            assert refusals, "the disk never filled up"
            assert {r.status_code for r in refusals} <= {503, 507}, [r.text for r in refusals]
            codes = {r.json()["error"]["code"] for r in refusals}
            assert codes <= {"storage_full", "database_unavailable"}
            if disk.how == "tmpfs":
                assert codes == {"storage_full"}
            assert all(int(r.headers["retry-after"]) > 0 for r in refusals)

            disk.clear(server)  # the operator frees space; nothing is restarted
            assert send().status_code == 202
            assert send().status_code == 202
            assert http.get("/readyz").status_code == 200
        assert server.poll() is None
        log = deployment.log.read_text()
        assert "unhandled_error" not in log, log[-3000:]

        with deployment.runtime.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        with deployment.runtime.sessions() as session:
            stored = [str(i) for i in session.scalars(select(storage.EVENTS.c.event_id))]
            verification = audit.verify(session)
        assert len(stored) == len(set(stored)), "an event was stored twice"
        assert set(acknowledged) <= set(stored), "an acknowledged event was lost"
        assert verification.ok, verification.broken
    finally:
        deployment.close()
