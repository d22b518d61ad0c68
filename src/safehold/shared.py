"""What several Safehold processes share through Redis (``SAFEHOLD_REDIS_URL``).

With ``safehold serve --workers N``, or several machines behind a load balancer, each process
would otherwise keep its own rate-limit counters (a client would get N times a limit) and
learn of a newly published policy version only at its next poll of the database (up to
:data:`~safehold.notices.book.REFRESH_SECONDS` later). With Redis they share both:

- the rate limits' moving windows (``safehold.ratelimit``, the ``limits`` library's Redis
  storage), so a limit holds across every process that uses the same Redis database;
- the number of the newest published policy version (:meth:`SharedRedis.announce_policy`,
  :meth:`SharedRedis.latest_policy`): a process that publishes one says so, and every other
  process reads the number on each request and loads the new version before answering.

Redis is a help, never a gate. When it does not answer (down, refusing, slower than
:data:`TIMEOUT_SECONDS`), the process falls back to what it does without Redis — its own
counters, the database poll — logs ``redis_unavailable`` once, counts each fallback in
``safehold_redis_fallbacks_total{use}`` and shows ``safehold_redis_up 0``; it asks Redis
again after :data:`RETRY_SECONDS`. Nobody is locked out because Redis is down, and no limit
is lifted: the per-process counters are kept all along (see ``safehold.ratelimit``).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable

import redis
from prometheus_client import CollectorRegistry, Counter, Gauge

from safehold.logs import get_logger

TIMEOUT_SECONDS = 0.5  # to connect, and per command: a stuck Redis delays a request this much
RETRY_SECONDS = 5.0  # after a failure, the process uses its own state this long
PREFIX = "safehold"  # every key Safehold writes starts with this

# KEYS[1] := max(KEYS[1], ARGV[1]): version numbers only grow, whoever announces last.
_RAISE_TO = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
"""

log = get_logger(__name__)


def shared_prefix(index_key: bytes) -> str:
    """The key prefix of one deployment: ``safehold:`` and a keyed hash of its index key, so
    every process of a deployment (same keys) shares its counters and deployments that share
    one Redis never count each other's clients."""
    tag = hmac.new(index_key, b"safehold redis prefix", hashlib.sha256).hexdigest()[:16]
    return f"{PREFIX}:{tag}"


class SharedRedis:
    """One process's connection to Redis, with the fallback bookkeeping every use shares.

    ``usable()`` says whether to ask Redis now; a use reports each answer with
    :meth:`answered` and each failure with :meth:`failed`, and falls back on a failure."""

    def __init__(
        self, url: str, registry: CollectorRegistry, *, prefix: str = PREFIX,
        now: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.prefix = prefix
        self.client = redis.Redis.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )
        self._now = now
        self._lock = threading.Lock()
        self._down_until = float("-inf")
        self._answering: bool | None = None  # not asked yet
        self._raise_to = self.client.register_script(_RAISE_TO)
        self._fallbacks = Counter(
            "safehold_redis_fallbacks",
            "Calls to Redis that failed, so this process used its own state instead, by use",
            ["use"],
            registry=registry,
        )
        for use in ("ratelimit", "policy"):
            self._fallbacks.labels(use)  # present at 0 from the start
        self._up = Gauge(
            "safehold_redis_up",
            "1 while Redis answers this process; 0 while it uses its own per-process state "
            "(and before it was first asked)",
            registry=registry,
        )

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def usable(self) -> bool:
        return self._now() >= self._down_until

    def answered(self) -> None:
        if self._answering is not True:
            with self._lock:
                was, self._answering = self._answering, True
            self._up.set(1)
            if was is False:
                log.info("redis_available_again")

    def failed(self, use: str, exc: Exception) -> None:
        self._fallbacks.labels(use).inc()
        with self._lock:
            self._down_until = self._now() + RETRY_SECONDS
            first = self._answering is not False
            self._answering = False
        self._up.set(0)
        if first:
            log.warning(
                "redis_unavailable", use=use, error_type=type(exc).__name__,
                fallback="per-process state", retry_seconds=RETRY_SECONDS,
            )  # fmt: skip

    def ping(self) -> bool:
        """Whether Redis answers now (start-up says so; a failure is counted like any)."""
        try:
            self.client.ping()
        except redis.RedisError as exc:
            self.failed("ping", exc)
            return False
        self.answered()
        return True

    def latest_policy(self) -> int | None:
        """The newest policy version any process announced; None when Redis does not
        answer (the caller polls the database instead) or none was announced yet."""
        if not self.usable():
            return None
        try:
            raw = self.client.get(self.key("policy", "latest"))
        except redis.RedisError as exc:
            self.failed("policy", exc)
            return None
        self.answered()
        return None if raw is None else int(raw)

    def announce_policy(self, seq: int) -> None:
        """Tell every process that version ``seq`` is published (and committed)."""
        if not self.usable():
            return
        try:
            self._raise_to(keys=[self.key("policy", "latest")], args=[seq])
        except redis.RedisError as exc:
            self.failed("policy", exc)
            return
        self.answered()

    def close(self) -> None:
        self.client.close()
