"""Shared state through a real Redis (decision 0036): rate limits that hold across processes,
a published policy version that reaches every process on its next request, and what a
process does when Redis stops mid-run and comes back (a private ``redis-server`` this test
starts and stops). Needs SAFEHOLD_TEST_REDIS_URL (CI sets it; without it, skipped), and the
``redis-server`` program for the outage test (under CI=true its absence fails)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session, sessionmaker

from safehold import ratelimit, shared
from safehold.access.rules import Actor
from safehold.db import transaction
from safehold.errors import RateLimited
from safehold.notices import service as notices
from safehold.notices.book import PolicyBook
from safehold.policy import load_policy
from safehold.runtime import Runtime
from tests.conftest import DEFAULT_POLICY, IN_CI
from tests.unit.test_shared_state import Ticks, value

V1 = DEFAULT_POLICY.read_text()
V2 = V1.replace("P30D\n    from: collected", "P20D\n    from: collected", 1)  # minor: now
OPERATOR = Actor("staff", "privacy-officer")


def link(url: str, prefix: str, registry: CollectorRegistry | None = None) -> shared.SharedRedis:
    """One process's view of Redis, under the test's own key prefix."""
    return shared.SharedRedis(url, registry or CollectorRegistry(), prefix=prefix)


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    name = f"safehold-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{name}*"):  # its own keys and those of "{name}-other"
        client.delete(key)
    client.close()


class PrivateRedis:
    """A ``redis-server`` of this test's own on a loopback port, to stop and start."""

    def __init__(self, program: str, workdir: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.program, self.workdir = program, workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - redis-server from PATH, arguments built here
            [self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def private_redis(redis_url: str, tmp_path: Path) -> Iterator[PrivateRedis]:
    program = shutil.which("redis-server")
    if program is None:
        if IN_CI:
            pytest.fail("redis-server is missing: the Redis outage test must run under CI")
        pytest.skip("redis-server not installed")
    server = PrivateRedis(program, tmp_path)
    server.start()
    yield server
    server.stop()


def test_a_limit_holds_across_two_processes_sharing_redis(redis_url: str, prefix: str) -> None:
    one = ratelimit.Limiter({"guess": "3/minute"}, shared=link(redis_url, prefix))
    two = ratelimit.Limiter({"guess": "3/minute"}, shared=link(redis_url, prefix))
    one.hit("guess", "request-1")
    two.hit("guess", "request-1")
    one.hit("guess", "request-1")
    with pytest.raises(RateLimited) as refused:
        two.hit("guess", "request-1")  # its own memory saw 1 hit; Redis saw 3
    assert 1 <= refused.value.retry_after <= 60
    with pytest.raises(RateLimited):
        one.check("guess", "request-1")
    two.hit("guess", "request-2")  # another key has its own count
    alone = ratelimit.Limiter({"guess": "3/minute"}, shared=link(redis_url, f"{prefix}-other"))
    alone.hit("guess", "request-1")  # another deployment (prefix) counts apart


def test_redis_stopping_mid_run_neither_locks_out_nor_lifts_the_limit(
    private_redis: PrivateRedis,
) -> None:
    registry, ticks = CollectorRegistry(), Ticks()
    redis_link = shared.SharedRedis(private_redis.url, registry, now=ticks)
    limiter = ratelimit.Limiter({"guess": "3/minute"}, shared=redis_link)
    limiter.hit("guess", "request-1")
    limiter.hit("guess", "request-1")
    assert value(registry, "safehold_redis_up") == 1

    private_redis.stop()  # mid-run: the next call is refused by the operating system
    limiter.hit("guess", "request-1")  # the process's own count: 2 before, so 3 of 3
    with pytest.raises(RateLimited):
        limiter.hit("guess", "request-1")  # the outage did not reset the limit
    limiter.hit("guess", "request-2")  # and locks nobody else out
    assert value(registry, "safehold_redis_up") == 0
    assert value(registry, "safehold_redis_fallbacks_total", use="ratelimit") == 1

    private_redis.start()  # back (empty: it kept nothing)
    limiter.hit("guess", "request-3")  # not asked yet: marked down for RETRY_SECONDS
    ticks.now += shared.RETRY_SECONDS
    limiter.hit("guess", "request-3")
    assert value(registry, "safehold_redis_up") == 1
    assert redis_link.client.keys("safehold:limits:*")  # counted in Redis again (default prefix)


def test_a_published_version_reaches_the_other_processes_on_their_next_request(
    runtime: Runtime, sessions: sessionmaker[Session], redis_url: str, prefix: str
) -> None:
    fallback = load_policy(DEFAULT_POLICY)
    publisher = PolicyBook(fallback, shared=link(redis_url, prefix))
    other = PolicyBook(fallback, shared=link(redis_url, prefix))
    without_redis = PolicyBook(fallback)
    with transaction(sessions) as session:
        notices.publish(
            session, source=V1, source_name="v1", effective_at=None, requested_class=None,
            clock=runtime.clock, actor=OPERATOR,
        )  # fmt: skip
    for book in (publisher, other, without_redis):
        book.refresh_if_stale(sessions)
        assert book.seqs() == [1]

    with transaction(sessions) as session:
        notices.publish(
            session, source=V2, source_name="v2", effective_at=None, requested_class=None,
            clock=runtime.clock, actor=OPERATOR,
        )  # fmt: skip
    with sessions() as session:
        publisher.load(session)  # what the publishing route does after its commit
    other.refresh_if_stale(sessions)  # the other process's next request
    without_redis.refresh_if_stale(sessions)
    assert other.seqs() == [1, 2]
    in_force = other.in_force(runtime.clock.now())
    assert in_force is not None
    assert in_force.facts.seq == 2
    assert without_redis.seqs() == [1]  # it polls: v2 only after REFRESH_SECONDS
