"""When and how long to retry a failed API request (tenacity).

Idempotent requests (GET, PUT, DELETE) are retried on transport errors, 429 and 5xx except 501,
with capped exponential backoff and jitter, honouring ``Retry-After``.

Creates (POST) are *not* retried after the request may have reached the API: a create whose
response was lost may have succeeded, and sending it again could make a duplicate NLB. The caller
re-reads the state (the ownership labels find the NLB) and decides. A POST is retried only when
the API certainly did not act on it: a 429 (rejected before processing) or a transport error
before the request was sent (connection refused, connect timeout, no pooled connection).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import structlog
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt, wait_exponential_jitter

from exoccm.exoscale.errors import ExoscaleError, RateLimitedError, ServerError, TransportError

log = structlog.get_logger(__name__)

T = TypeVar("T")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retry loop. ``max_attempts`` counts the first try."""

    max_attempts: int = 5
    initial_backoff: float = 0.5
    max_backoff: float = 10.0
    jitter: float = 0.5
    # A server asking for a longer pause than this is not retried at once: the caller's own
    # (per-key) backoff takes over instead of a worker sleeping for minutes.
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


def _retry_after(exc: BaseException) -> float | None:
    if isinstance(exc, RateLimitedError | ServerError):
        return exc.retry_after
    return None


def is_retryable(exc: BaseException, method: str, policy: RetryPolicy) -> bool:
    """Whether ``exc`` from a ``method`` request may be retried under ``policy``."""
    if not isinstance(exc, ExoscaleError) or not exc.retryable:
        return False
    hint = _retry_after(exc)
    if hint is not None and hint > policy.max_retry_after:
        return False
    if method.upper() in IDEMPOTENT_METHODS:
        return True
    if isinstance(exc, RateLimitedError):
        return True
    return isinstance(exc, TransportError) and not exc.sent


def backoff(policy: RetryPolicy) -> wait_exponential_jitter:
    """Exponential backoff from ``initial_backoff`` doubling to ``max_backoff``, plus jitter."""
    return wait_exponential_jitter(
        multiplier=policy.initial_backoff, max=policy.max_backoff, jitter=policy.jitter
    )


def retry_delay(state: RetryCallState, base: wait_exponential_jitter) -> float:
    """Delay before the next attempt: the ``base`` backoff, but at least the server's hint."""
    delay = base(state)
    exc = state.outcome.exception() if state.outcome else None
    hint = _retry_after(exc) if exc is not None else None
    return delay if hint is None else max(delay, hint)


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    method: str,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    retries: bool = True,
) -> T:
    """Run ``attempt`` until it succeeds, fails for good, or runs out of attempts."""
    if not retries:
        return await attempt()

    def retry(state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        return exc is not None and is_retryable(exc, method, policy)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "Retrying Exoscale request",
            operation=getattr(exc, "operation", None),
            zone=getattr(exc, "zone", None),
            attempt=state.attempt_number,
            max_attempts=policy.max_attempts,
            delay=round(state.upcoming_sleep, 3),
            error=str(exc),
        )

    base = backoff(policy)
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=lambda state: retry_delay(state, base),
        retry=retry,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return await retrying(attempt)
