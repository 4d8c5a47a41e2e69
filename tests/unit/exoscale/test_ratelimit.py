"""The per-zone token bucket: burst, sustained rate, fairness, priorities (virtual time, no real
sleeps)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exoccm.exoscale.ratelimit import Priority, TokenBucket
from tests.unit.exoscale.faketime import FakeTime

pytestmark = pytest.mark.anyio


async def test_burst_is_free_then_the_rate_applies() -> None:
    time = FakeTime()
    bucket = TokenBucket(rate=10, burst=20, clock=time.clock, sleep=time.sleep)
    for _ in range(20):
        assert await bucket.acquire() == 0.0
    assert time.now == 1000.0
    for _ in range(10):
        await bucket.acquire()
    assert bucket.granted == 30
    # Ten more tokens at 10 per second take one second of (virtual) time.
    assert time.now - 1000.0 == pytest.approx(1.0)
    assert bucket.waited == pytest.approx(1.0)


async def test_tokens_refill_up_to_the_burst_only() -> None:
    time = FakeTime()
    bucket = TokenBucket(rate=5, burst=3, clock=time.clock, sleep=time.sleep)
    for _ in range(3):
        await bucket.acquire()
    assert bucket.tokens == pytest.approx(0.0)
    time.now += 0.2
    assert bucket.tokens == pytest.approx(1.0)
    time.now += 100
    assert bucket.tokens == 3.0


async def test_concurrent_waiters_are_served_in_arrival_order() -> None:
    time = FakeTime()
    bucket = TokenBucket(rate=2, burst=1, clock=time.clock, sleep=time.sleep)
    order: list[int] = []

    async def take(index: int) -> None:
        await bucket.acquire()
        order.append(index)

    async with anyio.create_task_group() as tg:
        for index in range(6):
            tg.start_soon(take, index)
            await anyio.lowlevel.checkpoint()
    assert order == list(range(6))
    assert time.now - 1000.0 == pytest.approx(2.5)


@settings(max_examples=50, deadline=None)
@given(
    rate=st.floats(0.5, 50),
    burst=st.integers(1, 30),
    requests=st.integers(1, 80),
)
def test_never_exceeds_burst_plus_rate_times_elapsed(
    rate: float, burst: int, requests: int
) -> None:
    async def run() -> None:
        time = FakeTime(start=0.0)
        bucket = TokenBucket(rate=rate, burst=burst, clock=time.clock, sleep=time.sleep)
        grants: list[float] = []
        for _ in range(requests):
            await bucket.acquire()
            grants.append(time.now)
        for count, at in enumerate(grants, start=1):
            assert count <= burst + rate * at + 1e-6
        # And it is not slower than needed.
        assert time.now <= max(0.0, (requests - burst) / rate) + 1e-6

    anyio.run(run)


class ManualTime:
    """A clock that moves only when the test says so; sleepers wake once it has passed their
    deadline."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, anyio.Event]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        event = anyio.Event()
        self._sleepers.append((self.now + seconds, event))
        await event.wait()

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        for deadline, event in list(self._sleepers):
            if deadline <= self.now + 1e-12:
                self._sleepers.remove((deadline, event))
                event.set()
        for _ in range(10):  # let the woken run
            await anyio.lowlevel.checkpoint()


async def test_polls_overtake_waiting_new_work() -> None:
    time = ManualTime()
    bucket = TokenBucket(rate=10, burst=1, clock=time.clock, sleep=time.sleep)
    await bucket.acquire()  # the bucket is empty from here on
    order: list[str] = []

    async def take(name: str, priority: Priority) -> None:
        await bucket.acquire(priority)
        order.append(name)

    with anyio.fail_after(10):
        await run_queued(take, bucket, time)
    assert order == ["poll-0", "poll-1", "write-0", "write-1", "write-2"]
    assert time.now == pytest.approx(0.5)
    assert bucket.waiting == 0


async def run_queued(
    take: Callable[[str, Priority], Coroutine[Any, Any, None]],
    bucket: TokenBucket,
    time: ManualTime,
) -> None:
    async with anyio.create_task_group() as tg:
        for index in range(3):
            tg.start_soon(take, f"write-{index}", Priority.NORMAL)
        for index in range(2):
            tg.start_soon(take, f"poll-{index}", Priority.FINISH)
        await anyio.lowlevel.checkpoint()
        assert bucket.waiting == 5
        for _ in range(5):
            await time.advance(0.1)


@pytest.mark.parametrize("cancelled", ["first", "second"])
async def test_a_cancelled_waiter_lets_the_next_one_through(cancelled: str) -> None:
    time = ManualTime()
    bucket = TokenBucket(rate=10, burst=1, clock=time.clock, sleep=time.sleep)
    await bucket.acquire()
    served: list[str] = []

    async def take(name: str) -> None:
        await bucket.acquire()
        served.append(name)

    with anyio.fail_after(10):  # a waiter nobody wakes would hang here
        await run_cancelling(take, cancelled, bucket, time)
    # The first one sleeps for the refill; the second waits to be woken.
    assert served == ["second" if cancelled == "first" else "first"]
    assert bucket.waiting == 0


async def run_cancelling(
    take: Callable[[str], Coroutine[Any, Any, None]],
    cancelled: str,
    bucket: TokenBucket,
    time: ManualTime,
) -> None:
    async with anyio.create_task_group() as tg:
        doomed = anyio.CancelScope()

        async def take_doomed(name: str) -> None:
            with doomed:
                await take(name)

        for name in ("first", "second"):
            tg.start_soon(take_doomed if name == cancelled else take, name)
            await anyio.lowlevel.checkpoint()
        assert bucket.waiting == 2
        doomed.cancel()
        await anyio.lowlevel.checkpoint()
        assert bucket.waiting == 1
        for _ in range(3):
            await time.advance(0.1)


@settings(max_examples=30, deadline=None)
@given(
    priorities=st.lists(st.sampled_from(list(Priority)), min_size=1, max_size=40),
    rate=st.floats(1, 50),
    burst=st.integers(1, 10),
)
def test_priorities_never_break_the_rate(
    priorities: list[Priority], rate: float, burst: int
) -> None:
    async def run() -> None:
        time = FakeTime(start=0.0)
        bucket = TokenBucket(rate=rate, burst=burst, clock=time.clock, sleep=time.sleep)
        grants: list[float] = []

        async def take(priority: Priority) -> None:
            await bucket.acquire(priority)
            grants.append(time.now)

        async with anyio.create_task_group() as tg:
            for priority in priorities:
                tg.start_soon(take, priority)
        assert len(grants) == len(priorities)
        for count, at in enumerate(sorted(grants), start=1):
            assert count <= burst + rate * at + 1e-6

    anyio.run(run)


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(rate=1, burst=0)
