"""Files at rest (review F17): a `safehold serve` process on a fresh data directory makes
the directory and everything in it owner-only — the database with its -wal and -shm files,
the key file, and the console mailer's messages — whatever umask it was started with."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

from safehold.config import Settings
from safehold.runtime import build_runtime
from tests.conftest import DEFAULT_POLICY
from tests.deployment import wait_until_answering
from tests.e2e.test_serve import free_port
from tests.integration.comms.support import enqueue, register

LOOSE_UMASK = 0o022  # the usual default, which left the files 0644 in a 0755 directory


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_a_fresh_data_dir_and_every_file_in_it_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "var"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHOLD_")}
    env |= {"SAFEHOLD_DATA_DIR": str(data), "SAFEHOLD_PORT": str(port),
            "SAFEHOLD_POLICY": str(DEFAULT_POLICY), "SAFEHOLD_MAIL_BACKEND": "console",
            "SAFEHOLD_LOG_FORMAT": "json"}  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "safehold", "serve", "--no-demo"], env=env, stdout=out,
            stderr=out, umask=LOOSE_UMASK,
        )  # fmt: skip
    runtime = None
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/readyz", log, proc)
        # A message for the process's own delivery job, which the console mailer keeps.
        runtime = build_runtime(
            Settings(data_dir=data, policy=DEFAULT_POLICY, mail_backend="console")
        )
        person = register(runtime, "Cleo Brightwater", "cleo.brightwater@example.net")
        enqueue(runtime, "service_update", [person], text="Hello.")
        deadline = time.monotonic() + 30
        while not list(data.glob("mail/*.eml")) and time.monotonic() < deadline:
            time.sleep(0.2)
        found = modes(data)  # while serve runs: the -wal and -shm files exist
    finally:
        if runtime is not None:
            runtime.close()
        proc.terminate()
        proc.wait(timeout=10)

    copies = sorted(name for name in found if name.startswith("mail/"))
    assert len(copies) == 1  # one copy, named after its outbox row (erasure deletes it)
    expected = {".", "safehold.db", "safehold.db-wal", "safehold.db-shm", "keys",
                "keys/kek.json", "mail", *copies}  # fmt: skip
    assert expected <= set(found), sorted(found)
    loose = {name: f"{mode:04o}" for name, mode in found.items() if mode & 0o077}
    assert loose == {}
