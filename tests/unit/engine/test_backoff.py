"""Reconnect backoff: 0.8 s → 30 s, x2, jitter, reset after 2 min without failure."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from exoccm.engine.backoff import Backoff
from exoccm.engine.clock import FakeClock


def test_without_jitter_the_sequence_doubles_up_to_the_cap() -> None:
    backoff = Backoff(0.8, 30.0, jitter=0.0, clock=FakeClock())
    assert [backoff.next_delay() for _ in range(8)] == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30, 30]


def test_the_sequence_resets_after_a_healthy_period() -> None:
    clock = FakeClock()
    backoff = Backoff(0.8, 30.0, jitter=0.0, reset_after=120.0, clock=clock)
    for _ in range(5):
        backoff.next_delay()
    clock.advance(119)
    assert backoff.next_delay() == 25.6, "failures less than 2 min apart keep growing"
    clock.advance(121)
    assert backoff.next_delay() == 0.8


@given(seed=st.integers(0, 2**32 - 1), failures=st.integers(1, 30))
def test_jittered_delays_stay_within_base_and_cap(seed: int, failures: int) -> None:
    backoff = Backoff(0.8, 30.0, clock=FakeClock(), rng=random.Random(seed))
    base = 0.8
    for _ in range(failures):
        delay = backoff.next_delay()
        assert min(base, 30.0) <= delay <= min(2 * base, 30.0)
        base = min(30.0, base * 2)
