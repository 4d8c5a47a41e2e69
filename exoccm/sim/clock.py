"""Time sources for the simulator: the real one, and one that tests move by hand.

The simulator reads two kinds of time from its clock: a monotonic reading that decides when
pending operations complete, and a UNIX wall time for `created-at` stamps. A
:class:`ManualClock` moves both with :meth:`ManualClock.advance`. (Signature expiry is always
checked against the real time, since clients sign with it.)
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What the simulator needs from a time source."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (operation deadlines)."""
        ...

    def time(self) -> float:
        """UNIX time in seconds (`created-at` timestamps)."""
        ...


class RealClock:
    """The machine's clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "RealClock()"


class ManualClock:
    """A clock that stands still until :meth:`advance` moves it.

    ``start_time`` is the UNIX time it shows at first (default: the real time when created).
    The monotonic reading starts at 0.
    """

    def __init__(self, start_time: float | None = None) -> None:
        self._start_time = time.time() if start_time is None else start_time
        self._elapsed = 0.0
        # advance() may run on a test thread while a server thread reads the clock.
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def time(self) -> float:
        with self._lock:
            return self._start_time + self._elapsed

    def advance(self, seconds: float) -> None:
        """Move both readings forward by ``seconds`` (which must not be negative)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards: advance({seconds!r})")
        with self._lock:
            self._elapsed += seconds

    def __repr__(self) -> str:
        return f"ManualClock(elapsed={self._elapsed!r})"


def make_clock(clock: str | Clock) -> Clock:
    """Turn the ``clock`` argument of :class:`~exoccm.sim.Simulator` into a :class:`Clock`."""
    if clock == "real":
        return RealClock()
    if clock == "manual":
        return ManualClock()
    if isinstance(clock, Clock):
        return clock
    raise ValueError(f'clock must be "real", "manual" or a Clock object, not {clock!r}')
