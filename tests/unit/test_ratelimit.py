"""The rate limiter: moving windows per bucket and key, a stable 429 error, no raw keys."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from safehold import ratelimit
from safehold.errors import RateLimited, SafeholdError
from safehold.handlers import status_for


def test_a_bucket_allows_its_count_then_refuses_with_when_to_retry() -> None:
    limiter = ratelimit.Limiter({"guess": "3/minute"})
    for _ in range(3):
        limiter.hit("guess", "request-1")
    with pytest.raises(RateLimited) as refused:
        limiter.hit("guess", "request-1")
    error = refused.value
    assert error.code == "rate_limited"
    assert status_for(error) == 429
    assert 1 <= error.retry_after <= 60
    assert error.details == {"retry_after": error.retry_after, "limit": "guess"}
    assert "request-1" not in error.message


def test_a_check_counts_nothing_and_refuses_as_a_hit_would() -> None:
    limiter = ratelimit.Limiter({"staff": "2/minute"})
    for _ in range(5):
        limiter.check("staff", "client-1")  # an attempt the database could not decide
    limiter.hit("staff", "client-1")
    limiter.hit("staff", "client-1")
    with pytest.raises(RateLimited) as refused:
        limiter.check("staff", "client-1")
    assert refused.value.details["limit"] == "staff"
    assert 1 <= refused.value.retry_after <= 60
    limiter.check("staff", "client-2")
    with pytest.raises(ValueError, match="no rate limit named"):
        limiter.check("staf", "client-1")


def test_keys_and_buckets_are_counted_apart() -> None:
    limiter = ratelimit.Limiter({"a": "1/hour", "b": "1/hour"})
    limiter.hit("a", "one")
    limiter.hit("a", "two")
    limiter.hit("b", "one")
    with pytest.raises(RateLimited):
        limiter.hit("a", "one")


def test_an_unknown_bucket_is_a_programming_error_not_a_free_pass() -> None:
    with pytest.raises(ValueError, match="no rate limit named"):
        ratelimit.Limiter().hit("requests.opne.subject", "x")


def test_every_named_limit_parses_and_the_runtime_keeps_one_limiter() -> None:
    limiter = ratelimit.Limiter()  # parses every entry of LIMITS
    for bucket in ratelimit.LIMITS:
        limiter.hit(bucket, "someone")

    class FakeRuntime:  # any object the runtime's place can be held by
        shared = None  # no SAFEHOLD_REDIS_URL

    runtime = FakeRuntime()
    assert ratelimit.limiter_for(runtime) is ratelimit.limiter_for(runtime)  # type: ignore[arg-type]
    assert ratelimit.limiter_for(FakeRuntime()) is not ratelimit.limiter_for(runtime)  # type: ignore[arg-type]


def test_hit_accepts_a_limiter_directly() -> None:
    limiter = ratelimit.Limiter({"signin.code.address": "1/hour"})
    ratelimit.hit(limiter, "signin.code.address", "hash-of-an-address")
    with pytest.raises(RateLimited):
        ratelimit.hit(limiter, "signin.code.address", "hash-of-an-address")


def _operational_error() -> OperationalError:
    return OperationalError("UPDATE …", {}, Exception("database is locked"))


def test_an_attempt_the_database_failed_is_not_counted() -> None:
    limiter = ratelimit.Limiter({"verify": "2/minute"})
    for _ in range(5):  # five 503s in a row: the person's budget is untouched
        with pytest.raises(OperationalError), ratelimit.attempt(limiter, ("verify", "r-1")):
            raise _operational_error()
    with ratelimit.attempt(limiter, ("verify", "r-1")):
        pass
    with ratelimit.attempt(limiter, ("verify", "r-1")):
        pass
    with pytest.raises(RateLimited), ratelimit.attempt(limiter, ("verify", "r-1")):
        pytest.fail("a full bucket must refuse before the work")


def test_an_attempt_refused_for_its_own_reason_is_counted() -> None:
    class WrongCode(SafeholdError):
        code = "wrong_code"

    limiter = ratelimit.Limiter({"verify": "2/minute", "key": "10/minute"})
    counted = (("verify", "r-1"), ("key", "k-1"))
    for _ in range(2):
        with pytest.raises(WrongCode), ratelimit.attempt(limiter, *counted):
            raise WrongCode("that code is not right")
    with pytest.raises(RateLimited) as refused, ratelimit.attempt(limiter, *counted):
        pytest.fail("a full bucket must refuse before the work")
    assert refused.value.details["limit"] == "verify"
    limiter.check("key", "k-1")  # 2 of 10: the refused third attempt was not counted


def test_an_unexpected_error_is_not_counted_either() -> None:
    limiter = ratelimit.Limiter({"open": "1/minute"})
    with pytest.raises(RuntimeError), ratelimit.attempt(limiter, ("open", "p")):
        raise RuntimeError("a bug, answered 500")
    with ratelimit.attempt(limiter, ("open", "p")):
        pass
    with pytest.raises(RateLimited):
        limiter.check("open", "p")
