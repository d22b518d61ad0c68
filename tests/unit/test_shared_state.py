"""Settings of several processes and Redis, and what a process does when Redis does not
answer (here: nothing listens on its port), without any Redis server. The behaviour against
a real Redis, running and stopped mid-run, is in tests/integration/test_redis_shared.py."""

from __future__ import annotations

import os
import socket

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from safehold import config, ratelimit, shared, supervisor
from safehold.config import Settings, SettingsError, load_settings
from safehold.errors import RateLimited
from safehold.notices.book import PolicyBook
from safehold.policy import load_policy
from tests.conftest import DEFAULT_POLICY


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("SAFEHOLD_")]:
        monkeypatch.delenv(name)


def refused_url() -> str:
    """A Redis URL on a loopback port nobody listens on: every call is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_workers_default_to_one_embedded_and_one_per_core_on_postgresql(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings().server_processes == 1
    monkeypatch.setenv("SAFEHOLD_DATABASE_URL", "postgresql://app@db.example.com/safehold")
    assert load_settings().server_processes == config.usable_cores() >= 1
    monkeypatch.setenv("SAFEHOLD_WORKERS", "3")
    assert load_settings().server_processes == 3


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("SAFEHOLD_WORKERS", "0", "SAFEHOLD_WORKERS"),
        ("SAFEHOLD_WORKERS", "many", "SAFEHOLD_WORKERS"),
        ("SAFEHOLD_REDIS_URL", "http://127.0.0.1:6379", "redis://"),
        ("SAFEHOLD_REDIS_URL", "127.0.0.1:6379", "redis://"),
    ],
)
def test_wrong_worker_and_redis_settings_stop_start_up_in_one_line(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, name: str, raw: str, expected: str
) -> None:
    monkeypatch.setenv(name, raw)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert name in str(caught.value)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_redis_password_is_never_shown_and_the_test_variable_is_not_a_setting(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFEHOLD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("SAFEHOLD_REDIS_URL", "redis://:hunter2-fictional@cache.example.com:6379/0")
    settings = load_settings()
    assert settings.redis_url is not None
    assert "hunter2" not in repr(settings)


def test_while_redis_is_refused_the_process_counts_alone_and_says_so() -> None:
    """Never locked out, never unlimited: the limit is counted in this process's memory."""
    registry, ticks = CollectorRegistry(), Ticks()
    link = shared.SharedRedis(refused_url(), registry, now=ticks)
    limiter = ratelimit.Limiter({"guess": "3/minute"}, shared=link)
    with capture_logs() as logs:
        for _ in range(3):
            limiter.hit("guess", "request-1")  # Redis refused: allowed by the process's count
        with pytest.raises(RateLimited):
            limiter.hit("guess", "request-1")
    assert value(registry, "safehold_redis_up") == 0
    assert value(registry, "safehold_redis_fallbacks_total", use="ratelimit") == 1
    warnings = [e for e in logs if e["event"] == "redis_unavailable"]
    assert len(warnings) == 1  # once per outage, not once per call
    assert warnings[0]["error_type"] == "ConnectionError"
    assert "127.0.0.1" not in str(warnings[0])  # no address, no password in the log

    ticks.now += shared.RETRY_SECONDS  # Redis is asked again, refuses again
    limiter.check("guess", "request-2")
    assert value(registry, "safehold_redis_fallbacks_total", use="ratelimit") == 2


def test_a_policy_book_without_an_answer_from_redis_polls_the_database() -> None:
    registry = CollectorRegistry()
    link = shared.SharedRedis(refused_url(), registry)
    assert link.latest_policy() is None
    link.announce_policy(3)  # skipped while Redis is marked down: no exception, no delay
    book = PolicyBook(load_policy(DEFAULT_POLICY), shared=link)

    class Unreachable:
        def __call__(self) -> None:
            raise AssertionError("the book must not open a session when it looked just now")

    book._checked = float("inf")  # it just looked at the database
    book.refresh_if_stale(Unreachable())  # type: ignore[arg-type]
    assert value(registry, "safehold_redis_fallbacks_total", use="policy") == 1


def test_a_redis_url_with_a_database_number_is_accepted() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:6379/3")
    assert settings.redis_url == "redis://127.0.0.1:6379/3"


def test_each_deployment_counts_under_its_own_prefix() -> None:
    one, other = b"fictional index key one........!", b"fictional index key two........!"
    assert shared.shared_prefix(one) == shared.shared_prefix(one)  # every process alike
    assert shared.shared_prefix(one) != shared.shared_prefix(other)
    assert shared.shared_prefix(one).startswith("safehold:")


def test_start_up_says_when_redis_does_not_answer_and_when_there_is_none() -> None:
    class Started:  # what supervisor.warnings reads of a runtime
        def __init__(self, link: shared.SharedRedis | None) -> None:
            self.shared = link

    registry = CollectorRegistry()
    down = Started(shared.SharedRedis(refused_url(), registry))
    [said] = supervisor.warnings(down, 1)  # type: ignore[arg-type]
    assert "does not answer" in said
    assert value(registry, "safehold_redis_up") == 0
    [said] = supervisor.warnings(Started(None), 3)  # type: ignore[arg-type]
    assert "3 times each limit" in said
    assert supervisor.warnings(Started(None), 1) == []  # type: ignore[arg-type]
