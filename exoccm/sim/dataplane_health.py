"""Health checking of one NLB service member: the state machine and the loop that drives it.

A member starts unhealthy (no traffic before a probe has seen it answer), becomes healthy after
one successful probe, and unhealthy again after ``retries + 1`` probes in a row have failed (the
first failure and its retries). Probes start every ``interval`` seconds; each gives up after
``timeout`` seconds (the probe enforces that, see :mod:`exoccm.sim.dataplane_probe`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio


@dataclass(slots=True)
class HealthState:
    """What a member's probes have shown so far."""

    retries: int
    healthy: bool = False
    failures_in_a_row: int = 0

    def record(self, success: bool) -> bool:
        """Take one probe's outcome into account; return whether the member is healthy now."""
        if success:
            self.failures_in_a_row = 0
            self.healthy = True
        else:
            self.failures_in_a_row += 1
            if self.failures_in_a_row > self.retries:
                self.healthy = False
        return self.healthy


Probe = Callable[[], Awaitable[bool]]
Report = Callable[[bool], None]
Sleep = Callable[[float], Awaitable[None]]


async def monitor(
    probe: Probe,
    report: Report,
    *,
    interval: float,
    retries: int,
    sleep: Sleep = anyio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Probe for ever, ``interval`` seconds from one probe's start to the next, and report the
    member's health after every probe (also when unchanged: the reader may have been reset)."""
    state = HealthState(retries)
    while True:
        started = clock()
        report(state.record(await probe()))
        await sleep(max(0.0, interval - (clock() - started)))
