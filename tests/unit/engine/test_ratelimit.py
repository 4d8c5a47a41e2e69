"""Rate limiter profiles and their numbers (client-go and cloud-provider)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exoccm.engine.clock import FakeClock
from exoccm.engine.ratelimit import (
    DEFAULT_PROFILE,
    SERVICE_PROFILE,
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimitProfile,
)


def test_default_per_key_backoff_goes_from_5ms_to_1000s() -> None:
    limiter = ItemExponentialFailureRateLimiter(
        DEFAULT_PROFILE.base_delay, DEFAULT_PROFILE.max_delay
    )
    delays = [limiter.when("k") for _ in range(20)]
    assert delays[:3] == [0.005, 0.01, 0.02]
    assert delays[17] == pytest.approx(655.36)  # the 18th retry
    assert delays[18:] == [1000.0, 1000.0]  # capped from the 19th retry on
    assert sum(delays[:18]) == pytest.approx(1310.715, rel=1e-6)  # ~22 min before the cap


def test_service_profile_is_5s_to_300s_without_a_bucket() -> None:
    limiter = SERVICE_PROFILE.build(FakeClock())
    assert isinstance(limiter, ItemExponentialFailureRateLimiter)
    assert [limiter.when("svc") for _ in range(8)] == [5, 10, 20, 40, 80, 160, 300, 300]


def test_keys_back_off_independently_and_forget_resets() -> None:
    limiter = ItemExponentialFailureRateLimiter(1.0, 100.0)
    assert [limiter.when("a") for _ in range(3)] == [1, 2, 4]
    assert limiter.when("b") == 1
    assert limiter.num_requeues("a") == 3
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 1


def test_bucket_allows_a_burst_then_paces_at_qps() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(qps=10, burst=100, clock=clock)
    assert [bucket.when(i) for i in range(100)] == [0.0] * 100
    assert [bucket.when(i) for i in range(100, 103)] == pytest.approx([0.1, 0.2, 0.3])
    clock.advance(1.0)  # 10 tokens refilled, 3 were borrowed
    assert bucket.when("x") == 0.0
    assert bucket.num_requeues("x") == 0


def test_default_profile_combines_backoff_and_bucket() -> None:
    clock = FakeClock()
    limiter = DEFAULT_PROFILE.build(clock)
    assert isinstance(limiter, MaxOfRateLimiter)
    # 100 different keys fail once: the burst absorbs them at 5 ms each ...
    assert {limiter.when(f"k{i}") for i in range(100)} == {0.005}
    # ... the 101st waits for the global bucket, not its own 5 ms.
    assert limiter.when("k100") == pytest.approx(0.1)
    assert limiter.num_requeues("k1") == 1


def test_bad_profiles_are_rejected_with_the_reason() -> None:
    with pytest.raises(ValueError, match="base_delay"):
        RateLimitProfile(base_delay=0).build()
    with pytest.raises(ValueError, match="qps"):
        RateLimitProfile(qps=0).build()


@given(
    base=st.floats(min_value=1e-3, max_value=10),
    factor=st.floats(min_value=1, max_value=1e4),
    failures=st.integers(min_value=1, max_value=200),
)
def test_backoff_never_decreases_and_never_exceeds_the_cap(
    base: float, factor: float, failures: int
) -> None:
    limiter = ItemExponentialFailureRateLimiter(base, base * factor)
    delays = [limiter.when("k") for _ in range(failures)]
    assert delays == sorted(delays)
    assert all(base <= d <= base * factor for d in delays)
    assert limiter.num_requeues("k") == failures
