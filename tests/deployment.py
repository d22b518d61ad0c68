"""A Safehold deployment for the tests that run `safehold serve` as a real process (the
kill test, the fault tests): a migrated database with an events key and a few people, and
the environment to serve it on a port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from safehold import migrate
from safehold.access import service as access
from safehold.access.rules import Actor
from safehold.carddata import contains_card_number
from safehold.config import Settings
from safehold.db import transaction
from safehold.runtime import Runtime, build_runtime
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from tests.conftest import DEFAULT_POLICY

ADMIN = Actor("admin", "test")
START_SECONDS = 30  # a server process on a loaded 2-core machine starts within this


def wait_until_answering(url: str, log: Path, proc: subprocess.Popen[bytes]) -> None:
    """Wait until ``url`` answers 200; fail with the end of the process's log otherwise."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{url} did not answer: {log.read_text()[-2000:]}")


@dataclass
class Deployment:
    """A migrated database with an events key and a few people, and `safehold serve` on it."""

    env: dict[str, str]
    token: str
    people: list[uuid.UUID]
    runtime: Runtime
    log: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def serve(self, port: int, *options: str) -> subprocess.Popen[bytes]:
        env = {**self.env, "SAFEHOLD_PORT": str(port)}
        with self.log.open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - this interpreter, options from the tests
                [sys.executable, "-m", "safehold", "serve", "--no-demo", *options],
                env=env, stdout=log, stderr=log,
            )  # fmt: skip
        self.procs.append(proc)
        wait_until_answering(f"http://127.0.0.1:{port}/readyz", self.log, proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
        self.runtime.close()


def usable_person(session: Session, ctx: subjects.Context, name: str, mailbox: str) -> uuid.UUID:
    """Register a fictional person whose id an event batch can carry: an id whose digits
    read as a card number would be refused (docs/events.md, "Known issues")."""
    while True:
        contact = subject_rules.contact(
            name=name, email=f"{mailbox}.{uuid.uuid4().hex[:8]}@example.com"
        )
        sid = subjects.register(
            session, ctx, actor=ADMIN, contact=contact, marketing_opt_in=False,
            policy_version="test",
        ).id  # fmt: skip
        if not contains_card_number(str(sid)):
            return sid


def deploy(data_dir: Path, database_url: str | None, *, people: int = 4) -> Deployment:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHOLD_")}
    env |= {"SAFEHOLD_DATA_DIR": str(data_dir), "SAFEHOLD_LOG_LEVEL": "warning",
            "SAFEHOLD_LOG_FORMAT": "json", "SAFEHOLD_POLICY": str(DEFAULT_POLICY)}  # fmt: skip
    if database_url:
        env["SAFEHOLD_DATABASE_URL"] = database_url
    settings = Settings(data_dir=data_dir, policy=DEFAULT_POLICY, database_url=database_url)
    runtime = build_runtime(settings)
    migrate.upgrade(runtime.engine)
    with transaction(runtime.sessions) as session:
        token = access.create_key(
            session, name="iptv-backend", scopes=["events:write"], purposes=[],
            known_purposes=runtime.policy.purpose_ids, clock=runtime.clock, actor=ADMIN,
        ).token  # fmt: skip
        ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock)
        found = [usable_person(session, ctx, "Bo Tumbleweed", "bo") for _ in range(people)]
    return Deployment(env, token, found, runtime, data_dir / "serve.log")
