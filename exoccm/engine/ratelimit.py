"""Retry delays for the work queue: per-key exponential backoff and a global token bucket.

Mirrors client-go's ``workqueue`` limiters. :class:`RateLimitProfile` names the two profiles
exoccm uses: client-go's default controller limiter (5 ms → 1000 s per key, and at most 10
retries/s with bursts of 100 across all keys) and the cloud-provider service controller's
(5 s → 300 s per key, no global bucket).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Protocol

from exoccm.engine.clock import SYSTEM_CLOCK, Clock


class RateLimiter(Protocol):
    """Decides how long a failed key waits before its next try."""

    def when(self, key: Hashable) -> float:
        """Record one more failure of ``key`` and return its delay in seconds."""
        ...

    def forget(self, key: Hashable) -> None:
        """Clear ``key``'s failure history (after a success)."""
        ...

    def num_requeues(self, key: Hashable) -> int:
        """How many failures of ``key`` are on record."""
        ...


class ItemExponentialFailureRateLimiter:
    """``base · 2^failures`` per key, capped at ``max_delay``."""

    def __init__(self, base_delay: float, max_delay: float):
        if base_delay <= 0 or max_delay < base_delay:
            raise ValueError(
                f"exponential backoff needs 0 < base_delay <= max_delay "
                f"(got base_delay={base_delay}, max_delay={max_delay})"
            )
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        exponent = self._failures.get(key, 0)
        self._failures[key] = exponent + 1
        if exponent >= 64:  # 2**64 · base is beyond any sane cap; avoid float overflow
            return self.max_delay
        return min(self.base_delay * float(2**exponent), self.max_delay)

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        return self._failures.get(key, 0)


class BucketRateLimiter:
    """A token bucket shared by all keys (``golang.org/x/time/rate`` reservation semantics).

    Each call reserves one token; when the bucket is empty the reservation is taken on credit and
    the returned delay is the time until that token will have been refilled.
    """

    def __init__(self, qps: float, burst: int, clock: Clock = SYSTEM_CLOCK):
        if qps <= 0 or burst < 1:
            raise ValueError(f"token bucket needs qps > 0 and burst >= 1 (got {qps}, {burst})")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.monotonic()

    def when(self, key: Hashable) -> float:  # noqa: ARG002 - one bucket for all keys
        now = self._clock.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, key: Hashable) -> None:  # noqa: ARG002 - keeps no per-key state
        return None

    def num_requeues(self, key: Hashable) -> int:  # noqa: ARG002 - keeps no per-key state
        return 0


class MaxOfRateLimiter:
    """Asks every limiter (so each one records the failure) and returns the longest delay."""

    def __init__(self, *limiters: RateLimiter):
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, key: Hashable) -> float:
        return max([limiter.when(key) for limiter in self.limiters])

    def forget(self, key: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return max(limiter.num_requeues(key) for limiter in self.limiters)


@dataclass(frozen=True)
class RateLimitProfile:
    """Parameters of a limiter: per-key exponential backoff, optionally with a global bucket.

    ``qps=None`` turns the global bucket off.
    """

    base_delay: float = 0.005
    max_delay: float = 1000.0
    qps: float | None = 10.0
    burst: int = 100

    def build(self, clock: Clock = SYSTEM_CLOCK) -> RateLimiter:
        """A fresh limiter (limiters hold per-key state, so never share one between queues)."""
        per_key = ItemExponentialFailureRateLimiter(self.base_delay, self.max_delay)
        if self.qps is None:
            return per_key
        return MaxOfRateLimiter(per_key, BucketRateLimiter(self.qps, self.burst, clock))


#: client-go's ``DefaultTypedControllerRateLimiter``: 5 ms → 1000 s per key, 10 qps burst 100.
DEFAULT_PROFILE = RateLimitProfile()
#: cloud-provider's service controller: 5 s → 300 s per key, no global bucket.
SERVICE_PROFILE = RateLimitProfile(base_delay=5.0, max_delay=300.0, qps=None)
