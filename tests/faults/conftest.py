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
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from safehold import migrate
from safehold.access import service as access
from safehold.access.rules import Actor
from safehold.carddata import contains_card_number
from safehold.config import Settings
from safehold.db import transaction
from safehold.runtime import Runtime, build_runtime
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from tests.conftest import DEFAULT_POLICY, IN_CI

PG_BIN = Path(os.environ.get("SAFEHOLD_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
ADMIN = Actor("admin", "faults")


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


@dataclass
class Deployment:
    """A migrated database with an events key and a few people, and `safehold serve` on it."""

    env: dict[str, str]
    token: str
    people: list[uuid.UUID]
    runtime: Runtime
    log: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def serve(self, port: int) -> subprocess.Popen[bytes]:
        env = {**self.env, "SAFEHOLD_PORT": str(port)}
        with self.log.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "safehold", "serve", "--no-demo"],
                env=env, stdout=log, stderr=log,
            )  # fmt: skip
        self.procs.append(proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    return proc
            except httpx.TransportError:
                time.sleep(0.05)
        proc.kill()
        pytest.fail(f"serve did not start: {self.log.read_text()[-2000:]}")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
        self.runtime.close()


def deploy(data_dir: Path, database_url: str | None, *, people: int = 4) -> Deployment:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHOLD_")}
    env |= {"SAFEHOLD_DATA_DIR": str(data_dir), "SAFEHOLD_LOG_LEVEL": "warning",
            "SAFEHOLD_LOG_FORMAT": "json", "SAFEHOLD_POLICY": str(DEFAULT_POLICY)}  # fmt: skip
    if database_url:
        env["SAFEHOLD_DATABASE_URL"] = database_url
    settings = Settings(data_dir=data_dir, policy=DEFAULT_POLICY, database_url=database_url)
    runtime = build_runtime(settings)
    migrate.upgrade(runtime.engine)
    found: list[uuid.UUID] = []
    with transaction(runtime.sessions) as session:
        token = access.create_key(
            session, name="iptv-backend", scopes=["events:write"], purposes=[],
            known_purposes=runtime.policy.purpose_ids, clock=runtime.clock, actor=ADMIN,
        ).token  # fmt: skip
        ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock)
        while len(found) < people:
            contact = subject_rules.contact(
                name="Bo Tumbleweed", email=f"bo.{uuid.uuid4().hex[:8]}@example.com"
            )
            sid = subjects.register(
                session, ctx, actor=ADMIN, contact=contact, marketing_opt_in=False,
                policy_version="test",
            ).id  # fmt: skip
            if not contains_card_number(str(sid)):  # docs/events.md, "Known issues"
                found.append(sid)
    return Deployment(env, token, found, runtime, data_dir / "serve.log")
