"""Which failures are retried, how long between attempts, and how many attempts."""

from __future__ import annotations

import pytest

from exoccm.exoscale import errors
from exoccm.exoscale.retry import RetryPolicy, call_with_retries, is_retryable
from tests.unit.exoscale.faketime import FakeTime

pytestmark = pytest.mark.anyio

POLICY = RetryPolicy(max_attempts=4, initial_backoff=0.5, max_backoff=4.0, jitter=0.0)


def server(status: int, retry_after: float | None = None) -> errors.ApiError:
    if status == 429:
        return errors.RateLimitedError(status, "", retry_after=retry_after)
    if status >= 500:
        return errors.ServerError(status, "", retry_after=retry_after)
    return errors.InvalidRequestError(status, "")


REFUSED = errors.TransportError("refused", sent=False)
READ_TIMEOUT = errors.TransportError("read timeout", sent=True)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_idempotent_methods_retry_transient_failures(method: str) -> None:
    for exc in (REFUSED, READ_TIMEOUT, server(429), server(500), server(502), server(503)):
        assert is_retryable(exc, method, POLICY), exc
    for exc in (server(501), server(400), server(409), errors.NotFoundError(404, "")):
        assert not is_retryable(exc, method, POLICY), exc


def test_post_is_retried_only_when_the_api_certainly_did_nothing() -> None:
    assert is_retryable(server(429), "POST", POLICY)
    assert is_retryable(REFUSED, "POST", POLICY)
    assert not is_retryable(READ_TIMEOUT, "POST", POLICY)
    assert not is_retryable(server(503), "POST", POLICY)
    assert not is_retryable(server(500), "POST", POLICY)


def test_a_retry_after_beyond_the_cap_is_left_to_the_caller() -> None:
    assert not is_retryable(server(429, retry_after=3600), "GET", POLICY)
    assert is_retryable(server(429, retry_after=30), "GET", POLICY)


def test_other_exceptions_are_not_retried() -> None:
    assert not is_retryable(ValueError("bug"), "GET", POLICY)
    assert not is_retryable(errors.NotLeaderError("no"), "DELETE", POLICY)


async def test_retries_until_success_with_capped_exponential_backoff() -> None:
    time = FakeTime()
    failures = [server(503), server(503), server(503)]
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        if failures:
            raise failures.pop(0)
        return "ok"

    result = await call_with_retries(attempt, method="GET", policy=POLICY, sleep=time.sleep)
    assert result == "ok"
    assert calls == 4
    assert time.sleeps == [0.5, 1.0, 2.0]


async def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    time = FakeTime()
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise server(502)

    with pytest.raises(errors.ServerError):
        await call_with_retries(attempt, method="GET", policy=POLICY, sleep=time.sleep)
    assert calls == POLICY.max_attempts
    assert time.sleeps == [0.5, 1.0, 2.0]


async def test_honours_retry_after_when_longer_than_the_backoff() -> None:
    time = FakeTime()
    failures = [server(429, retry_after=7.0)]

    async def attempt() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    assert await call_with_retries(attempt, method="POST", policy=POLICY, sleep=time.sleep) == "ok"
    assert time.sleeps == [7.0]


async def test_post_after_a_server_error_is_not_retried() -> None:
    time = FakeTime()
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise server(503)

    with pytest.raises(errors.ServerError):
        await call_with_retries(attempt, method="POST", policy=POLICY, sleep=time.sleep)
    assert calls == 1
    assert time.sleeps == []


async def test_jitter_stays_within_bounds() -> None:
    policy = RetryPolicy(max_attempts=6, initial_backoff=0.5, max_backoff=4.0, jitter=1.0)
    time = FakeTime()

    async def attempt() -> None:
        raise REFUSED

    with pytest.raises(errors.TransportError):
        await call_with_retries(attempt, method="GET", policy=policy, sleep=time.sleep)
    assert len(time.sleeps) == 5
    assert all(0.5 <= s <= 4.0 for s in time.sleeps)
