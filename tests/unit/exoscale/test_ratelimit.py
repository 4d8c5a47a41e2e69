"""The per-zone token bucket: burst, sustained rate, fairness (virtual time, no real sleeps)."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exoccm.exoscale.ratelimit import TokenBucket
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


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(rate=1, burst=0)
