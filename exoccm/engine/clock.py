"""Injectable monotonic clocks, so queue, backoff and election timing can be tested without sleeping.

Everything in ``exoccm.engine`` measures time through a :class:`Clock`. Production code uses
:data:`SYSTEM_CLOCK` (``time.monotonic``); tests use :class:`FakeClock` and move time by hand.
Wall-clock time is never used for decisions: it jumps.
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Protocol

import anyio
import anyio.lowlevel


class Clock(Protocol):
    """A monotonic time source that can also wait."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend for ``seconds`` of this clock's time."""
        ...

    async def wait(self, event: anyio.Event, deadline: float | None) -> None:
        """Return when ``event`` is set or ``deadline`` (on this clock) has passed.

        Callers re-check their condition afterwards (``event.is_set()`` tells which happened).
        """
        ...


class SystemClock:
    """The real clock: ``time.monotonic`` and the event loop's timers."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    async def wait(self, event: anyio.Event, deadline: float | None) -> None:
        if deadline is None:
            await event.wait()
            return
        with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
            await event.wait()

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK: Clock = SystemClock()


class FakeClock:
    """A clock that only moves when :meth:`advance` is called (for tests).

    Sleepers and timed waiters are woken by ``advance``; they run at the event loop's next
    opportunity, so tests typically follow ``advance`` with
    ``anyio.wait_all_tasks_blocked()``.
    """

    def __init__(self, start: float = 1000.0):
        self._now = start
        self._timers: list[tuple[float, int, anyio.Event]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward and wake everything whose deadline has passed."""
        if seconds < 0:
            raise ValueError(f"FakeClock.advance({seconds}): time cannot go backwards")
        self._now += seconds
        while self._timers and self._timers[0][0] <= self._now:
            _, _, event = heapq.heappop(self._timers)
            event.set()

    @property
    def pending_timers(self) -> int:
        """Timers not yet fired (including ones whose waiter already returned)."""
        return len(self._timers)

    def next_deadline(self) -> float | None:
        """The earliest registered deadline, if any."""
        return self._timers[0][0] if self._timers else None

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        timer = anyio.Event()
        heapq.heappush(self._timers, (self._now + seconds, next(self._seq), timer))
        await timer.wait()

    async def wait(self, event: anyio.Event, deadline: float | None) -> None:
        if deadline is None:
            await event.wait()
            return
        if deadline <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        timer = anyio.Event()
        heapq.heappush(self._timers, (deadline, next(self._seq), timer))
        async with anyio.create_task_group() as tg:

            async def until_event() -> None:
                await event.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(until_event)
            await timer.wait()
            tg.cancel_scope.cancel()

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now})"
