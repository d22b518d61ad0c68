"""Rate limits on what a stranger could use to guess a code or to flood a person's inbox:
opening data-subject requests, sending their codes, checking codes, and the privacy
center's e-mail code sign-in.

The interface is one call, kept stable for every caller (routes of the API and of the
privacy center)::

    ratelimit.hit(target, bucket, key)   # None, or raises RateLimited (HTTP 429)

- ``target``: the process's :class:`~safehold.runtime.Runtime` (its :class:`Limiter` is
  made on first use and lives as long as the runtime) or a :class:`Limiter` (a test that
  wants its own limits builds one).
- ``bucket``: a name from :data:`LIMITS`; an unknown name is a programming error
  (``ValueError``), never a silent "no limit".
- ``key``: who is counted — a person's id, an API key's id, a request's id, a client
  address, the keyed hash of an e-mail address. It is hashed before it is stored, so even
  an address passed by mistake is never held in clear.

Every call counts, allowed or not. A caller that counts only the refusals it decided
(staff sign-in) asks ``ratelimit.check(target, bucket, key)`` first, which counts nothing,
and calls ``hit`` once the attempt was refused. Where the counted thing is an attempt that may fail
for reasons that are not the caller's (the database is busy or down), use
``ratelimit.attempt(target, (bucket, key), …)`` around the unit of work instead: it refuses
up front when a bucket is full, and counts the attempt only once it reached a decision (it
succeeded or was refused for a reason of its own, e.g. a wrong code) — an attempt answered
503 is not counted, so retrying what the 503 invites never locks a person out. Attempts in
flight at the same moment are checked against the same count, so a burst of concurrent
ones may pass the limit by the number in flight; the durable limits in the database (tries
per code, codes per request) are exact.

The refusal is :class:`RateLimited`: HTTP 429, code
``rate_limited``, a message saying when to come back, ``details.retry_after`` (seconds) and
the same number in a ``Retry-After`` header.

Windows are *moving* (the `limits` library's moving-window strategy): "5/hour" means no more
than 5 hits in any 60 minutes, so there is no burst at a window's edge. Without Redis the
counters live in the process's memory: they reset when the process restarts, and with N
server processes a client gets up to N times a limit (decision 0011). With
``SAFEHOLD_REDIS_URL`` (decision 0036) the windows live in Redis, shared by every process
that uses it, so a limit holds across processes and machines; each process also keeps, in
its memory, the hits that Redis allowed through it. When Redis does not answer, that
per-process window decides instead (``safehold.shared``: a warning, a metric, Redis asked
again a few seconds later): nobody is locked out by the outage, and a client's own recent
hits through that process still count. The durable limits — 5 wrong tries per code, 5 codes
per request, the sign-in codes per hour — are counted in the database either way. The
windows count wall-clock seconds (the library's own time), not the injected clock: they pace
callers and decide nothing about people's data.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn, TypeVar

import redis
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter

from safehold.errors import RateLimited, SafeholdError

if TYPE_CHECKING:
    from safehold.runtime import Runtime
    from safehold.shared import SharedRedis

T = TypeVar("T")

# bucket -> "<count>/<period>": who is counted is the caller's key (see the module docstring).
LIMITS: dict[str, str] = {
    # POST /v1/requests: requests opened for one person, and by one API key.
    "requests.open.subject": "5/hour",
    "requests.open.key": "600/minute",
    # POST /v1/requests/{id}/code: codes e-mailed about one person (5 per request already).
    "requests.code.subject": "5/hour",
    # POST /v1/requests/{id}/verification: code checks for one request, and by one API key.
    "requests.verify.request": "10/15 minutes",
    "requests.verify.key": "600/minute",
    # The privacy center's e-mail code sign-in: codes asked for one address (its keyed hash)
    # and from one client address; code checks from one client address.
    "signin.code.address": "5/15 minutes",
    "signin.code.client": "30/15 minutes",
    "signin.verify.client": "30/15 minutes",
    # The admin console's sign-in with a personal API key: refused attempts from one client
    # address (a 256-bit secret cannot be guessed; this stops stuffing leaked keys and
    # probing for key ids). Successful sign-ins are not counted, so staff behind one office
    # address never lock each other out.
    "signin.staff.client": "10/15 minutes",
    # Staff members' sign-in (decision 0038): codes asked for one address (its blind index)
    # and from one client address; wrong e-mailed codes and wrong TOTP codes from one
    # client address; wrong TOTP codes for one member across attempts (the lockout).
    "signin.member.code.address": "5/15 minutes",
    "signin.member.code.client": "30/15 minutes",
    "signin.member.verify.client": "30/15 minutes",
    "signin.member.totp.member": "10/15 minutes",
    # Staff passkeys (decision 0041): passkey challenges asked for from one client address
    # (a passkey's signature cannot be guessed: this bounds the rows and the work a client
    # causes; each answer spends a challenge, and none is checked once the limit is reached).
    "signin.member.passkey.client": "60/15 minutes",
    # Staff single sign-on (decision 0039): round trips begun and callbacks answered for one
    # client address (each writes a row; a callback is a guess at a state or a code).
    "signin.member.oidc.client": "30/15 minutes",
}


class Limiter:
    """Moving-window counters for the named buckets: in Redis when ``shared`` is given (with
    this process's memory as the fallback), else in this process's memory."""

    def __init__(
        self, limits: Mapping[str, str] = LIMITS, *, shared: SharedRedis | None = None
    ) -> None:
        self._items: dict[str, RateLimitItem] = {b: parse(s) for b, s in limits.items()}
        self._window = MovingWindowRateLimiter(MemoryStorage())
        self._shared = shared
        self._redis = None
        if shared is not None:
            storage = RedisStorage(
                "redis://", connection_pool=shared.client.connection_pool,
                key_prefix=shared.key("limits"), wrap_exceptions=True,
            )  # fmt: skip
            self._redis = MovingWindowRateLimiter(storage)

    def _item(self, bucket: str) -> RateLimitItem:
        item = self._items.get(bucket)
        if item is None:
            raise ValueError(f"no rate limit named {bucket!r}; known: {', '.join(self._items)}")
        return item

    def _ask_redis(self, call: Callable[[MovingWindowRateLimiter], T]) -> T | None:
        """Redis's answer, or None when there is no Redis or it did not answer (counted)."""
        if self._redis is None or self._shared is None or not self._shared.usable():
            return None
        try:
            answer = call(self._redis)
        except StorageError as exc:  # the library's wrapper of the Redis client's error
            self._shared.failed("ratelimit", exc.storage_error)
            return None
        except redis.RedisError as exc:
            self._shared.failed("ratelimit", exc)
            return None
        self._shared.answered()
        return answer

    def hit(self, bucket: str, key: str) -> None:
        item, who = self._item(bucket), _who(key)
        shared = self._ask_redis(lambda w: w.hit(item, bucket, who))
        if shared is None:  # no Redis, or it did not answer: this process's window decides
            if not self._window.hit(item, bucket, who):
                self._refuse(item, bucket, who)
            return
        if not shared:
            self._refuse(item, bucket, who, self._redis)
        self._window.hit(item, bucket, who)  # kept for an outage: what Redis let through here

    def check(self, bucket: str, key: str) -> None:
        """Raise :class:`RateLimited` if one more hit would pass the limit; count nothing."""
        item, who = self._item(bucket), _who(key)
        shared = self._ask_redis(lambda w: w.test(item, bucket, who))
        if shared is None:
            if not self._window.test(item, bucket, who):
                self._refuse(item, bucket, who)
        elif not shared:
            self._refuse(item, bucket, who, self._redis)

    def count(self, bucket: str, key: str) -> None:
        """Count one hit whatever the window holds (the attempt already happened)."""
        item, who = self._item(bucket), _who(key)
        self._ask_redis(lambda w: w.hit(item, bucket, who))
        self._window.hit(item, bucket, who)

    def _refuse(
        self, item: RateLimitItem, bucket: str, who: str,
        window: MovingWindowRateLimiter | None = None,
    ) -> NoReturn:  # fmt: skip
        stats = None
        if window is not None:
            stats = self._ask_redis(lambda w: w.get_window_stats(item, bucket, who))
        if stats is None:
            stats = self._window.get_window_stats(item, bucket, who)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            f"too many attempts; try again in {retry_after} seconds",
            retry_after=retry_after,
            details={"retry_after": retry_after, "limit": bucket},
        )


def _who(key: str) -> str:
    """The counted key as stored: hashed, so not even an address passed by mistake is kept."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


_limiters: weakref.WeakKeyDictionary[Runtime, Limiter] = weakref.WeakKeyDictionary()
_made = threading.Lock()  # two first requests at once must not make two limiters


def limiter_for(runtime: Runtime) -> Limiter:
    """The runtime's limiter: one per process (per runtime, so tests never share counts),
    on the runtime's Redis when SAFEHOLD_REDIS_URL is set."""
    with _made:
        limiter = _limiters.get(runtime)
        if limiter is None:
            limiter = _limiters[runtime] = Limiter(shared=runtime.shared)
        return limiter


def _limiter(target: Runtime | Limiter) -> Limiter:
    return target if isinstance(target, Limiter) else limiter_for(target)


def hit(target: Runtime | Limiter, bucket: str, key: str) -> None:
    """Count one hit of ``key`` in ``bucket``; raise :class:`RateLimited` past the limit."""
    _limiter(target).hit(bucket, key)


@contextmanager
def attempt(target: Runtime | Limiter, *counted: tuple[str, str]) -> Iterator[None]:
    """Refuse now if any ``(bucket, key)`` is full; count the attempt in each once the block
    has reached a decision: it returned, or raised a :class:`SafeholdError` of its own (a
    wrong code, an unknown request). A database that is busy or down (SQLAlchemy's
    ``DBAPIError``, answered 503) or any unexpected error leaves the counts as they were."""
    limiter = _limiter(target)
    for bucket, key in counted:
        limiter.check(bucket, key)
    try:
        yield
    except SafeholdError:
        _count(limiter, counted)
        raise
    _count(limiter, counted)


def _count(limiter: Limiter, counted: tuple[tuple[str, str], ...]) -> None:
    for bucket, key in counted:
        limiter.count(bucket, key)


def check(target: Runtime | Limiter, bucket: str, key: str) -> None:
    """Raise :class:`RateLimited` if ``key`` has no hit left in ``bucket``; count nothing."""
    _limiter(target).check(bucket, key)


# For a route's ``responses=``: the 429 in the OpenAPI document (the shape is added by
# safehold.handlers.document_errors).
RESPONSES: dict[int | str, dict[str, object]] = {
    429: {"description": "Too many attempts (`rate_limited`); `Retry-After` says when to retry"}
}
