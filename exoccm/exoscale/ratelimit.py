"""A token bucket limiting the request rate to one zone's API.

``rate`` tokens per second refill a bucket of ``burst`` tokens; each request takes one. Waiters
are served first come, first served (the lock is held while sleeping), so a steady stream of new
requests cannot starve an older one. Time and sleeping are injectable for tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import anyio

# Floating-point slack: a token that is 0.9999999999 full after the computed sleep counts as full.
_EPSILON = 1e-9
_MIN_SLEEP = 1e-4


class TokenBucket:
    """Allows ``burst`` requests at once and ``rate`` per second on average."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ):
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate = float(rate)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = asyncio.Lock()
        self.granted = 0
        """How many tokens were handed out since creation (for tests and debugging)."""
        self.waited = 0.0
        """Total seconds callers spent sleeping for a token."""

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now

    @property
    def tokens(self) -> float:
        """Tokens available right now."""
        self._refill()
        return self._tokens

    async def acquire(self) -> float:
        """Wait for a token and take it; return the seconds spent waiting."""
        async with self._lock:
            started = self._clock()
            self._refill()
            while self._tokens < 1.0 - _EPSILON:
                # Never a vanishing sleep: rounding must not turn this into a busy loop.
                await self._sleep(max((1.0 - self._tokens) / self.rate, _MIN_SLEEP))
                self._refill()
            waited = max(0.0, self._clock() - started)
            self._tokens -= 1.0
            self.granted += 1
            self.waited += waited
            return waited
