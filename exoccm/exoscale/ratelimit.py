"""A token bucket limiting the request rate to one zone's API, with priorities.

``rate`` tokens per second refill a bucket of ``burst`` tokens; each request takes one. When
requests have to wait, the one with the most urgent :class:`Priority` goes first and requests of
equal priority are served first come, first served: a steady stream of new requests cannot
starve an older one, and polls of operations already started (finishing work) are never stuck
behind new writes when the limit is what holds everything back. Time and sleeping are injectable
for tests.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import IntEnum

import anyio

# Floating-point slack: a token that is 0.9999999999 full after the computed sleep counts as full.
_EPSILON = 1e-9
_MIN_SLEEP = 1e-4


class Priority(IntEnum):
    """Who gets the next token when requests wait for one (the lowest value first)."""

    FINISH = 0
    """Work already started: the polls of operations in progress."""
    NORMAL = 1
    """Everything else: new writes, reads, listings."""


@dataclass(order=True)
class _Waiter:
    priority: int
    arrival: int
    wake: anyio.Event = field(compare=False, default_factory=anyio.Event)


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
        # Requests waiting for a token, the next one to serve first. Only that one sleeps for
        # the refill; the others wait until it is served (or a more urgent one overtakes it).
        self._waiters: list[_Waiter] = []
        self._arrivals = itertools.count()
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

    @property
    def waiting(self) -> int:
        """Requests waiting for a token right now."""
        return len(self._waiters)

    def _grant(self, started: float) -> float:
        waited = max(0.0, self._clock() - started)
        self._tokens -= 1.0
        self.granted += 1
        self.waited += waited
        return waited

    def _wake_next(self) -> None:
        if self._waiters:
            self._waiters[0].wake.set()

    async def acquire(self, priority: Priority = Priority.NORMAL) -> float:
        """Wait for a token and take it; return the seconds spent waiting."""
        started = self._clock()
        self._refill()
        if not self._waiters and self._tokens >= 1.0 - _EPSILON:
            return self._grant(started)
        waiter = _Waiter(int(priority), next(self._arrivals))
        heapq.heappush(self._waiters, waiter)
        try:
            while True:
                if self._waiters[0] is waiter:
                    self._refill()
                    if self._tokens >= 1.0 - _EPSILON:
                        heapq.heappop(self._waiters)
                        self._wake_next()
                        return self._grant(started)
                    # Never a vanishing sleep: rounding must not turn this into a busy loop.
                    await self._sleep(max((1.0 - self._tokens) / self.rate, _MIN_SLEEP))
                else:
                    waiter.wake = anyio.Event()
                    await waiter.wake.wait()
        except BaseException:
            if waiter in self._waiters:  # cancelled while waiting: let the next one go
                self._waiters.remove(waiter)
                heapq.heapify(self._waiters)
                self._wake_next()
            raise
