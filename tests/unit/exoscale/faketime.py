"""Virtual time for client tests: sleeping advances a counter instead of the wall clock."""

from __future__ import annotations

import anyio.lowlevel


class FakeTime:
    """``clock()`` reads virtual seconds; ``await sleep(s)`` records ``s`` and moves time on."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        # Still a checkpoint, so other tasks run and cancellation works as with a real sleep.
        await anyio.lowlevel.checkpoint()
