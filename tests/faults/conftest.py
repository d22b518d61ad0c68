"""Fault injection: a PostgreSQL of the test's own (started, restarted and stopped here),
`safehold serve` as a real process, and helpers shared by the fault tests.

The private PostgreSQL runs from the system binaries (initdb, pg_ctl) on a free port in a
temporary directory — never the shared server on 5432, which other tests use. Without the
binaries the PostgreSQL faults are skipped, except under CI, where they must run."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI

PG_BIN = Path(os.environ.get("SAFEHOLD_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL cluster; as root, its commands run as the ``postgres`` user
    (the server refuses to run as root)."""

    root: Path
    port: int
    as_user: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, tool: str, *args: str) -> None:
        done = subprocess.run(  # noqa: S603 - fixed binaries, arguments built here
            [*self.as_user, str(PG_BIN / tool), *args], capture_output=True, check=False,
            timeout=120,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"{tool} failed: {done.stderr.decode(errors='replace')[-2000:]}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                 "-t", "60", "-o", options, "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        if IN_CI:
            pytest.fail(f"CI=true but the PostgreSQL server binaries are missing from {PG_BIN}")
        pytest.skip(f"no PostgreSQL server binaries in {PG_BIN} (set SAFEHOLD_TEST_PG_BIN)")
    root = Path(tempfile.mkdtemp(prefix="safehold-pg-"))  # under /tmp: reachable by postgres
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    pg = PrivatePostgres(root, free_port(), as_user)
    pg.run("initdb", "-D", str(pg.data), "-U", "postgres", "--auth=trust", "--no-sync",
           "-E", "UTF8")  # fmt: skip
    pg.start()
    try:
        yield pg
    finally:
        if pg.running():
            pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
