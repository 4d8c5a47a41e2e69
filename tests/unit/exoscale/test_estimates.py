"""The learned first-poll delay: seeding, the quantile-tracking steps, bounds, and convergence
when operations are waited for on virtual time."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exoccm.exoscale.errors import OperationFailedError
from exoccm.exoscale.estimates import DurationEstimate, DurationEstimates, EstimateTuning, Poll
from exoccm.exoscale.models import Operation
from exoccm.exoscale.operations import WaitPolicy, wait_for_operation
from tests.unit.exoscale.faketime import FakeTime


def seeded(seconds: float, tuning: EstimateTuning | None = None) -> DurationEstimate:
    estimate = DurationEstimate(tuning)
    estimate.learn([Poll(seconds, seconds, False), Poll(seconds, seconds, True)])
    assert estimate.first_poll == pytest.approx(seconds)
    return estimate


def hit(estimate: DurationEstimate, at: float | None = None) -> None:
    """An operation planned on the current estimate, found done by its first poll (at ``at``)."""
    planned = estimate.first_poll
    assert planned is not None
    sent = planned if at is None else at
    estimate.learn([Poll(sent, sent + 0.003, True)], planned, estimate.version)


def miss(estimate: DurationEstimate, done_at: float) -> None:
    """An operation planned on the current estimate, pending at its first poll, done later."""
    planned = estimate.first_poll
    assert planned is not None
    polls = [Poll(planned, planned + 0.003, False), Poll(done_at, done_at + 0.003, True)]
    estimate.learn(polls, planned, estimate.version)


def test_nothing_is_known_before_an_operation_ends() -> None:
    estimate = DurationEstimate()
    assert estimate.first_poll is None
    estimate.learn([Poll(1.0, 1.01, False)])  # never seen done: no evidence
    assert estimate.first_poll is None


def test_the_first_operation_seeds_the_middle_of_its_bracket() -> None:
    estimate = DurationEstimate()
    # The fixed schedule: pending at 0.2 and 0.6 s, done at the poll sent at 1.4 s.
    estimate.learn([Poll(0.2, 0.21, False), Poll(0.6, 0.61, False), Poll(1.4, 1.41, True)])
    assert estimate.first_poll == pytest.approx((0.6 + 1.41) / 2)


def test_a_first_poll_that_finds_it_done_lowers_the_estimate_a_little() -> None:
    tuning = EstimateTuning()
    estimate = seeded(1.0, tuning)
    hit(estimate)
    step = tuning.initial_step * (1 - tuning.hit_rate)
    assert estimate.first_poll == pytest.approx(math.exp(-step))


def test_a_first_poll_that_finds_it_pending_raises_it_more_but_not_past_where_it_was_done() -> None:
    tuning = EstimateTuning()
    estimate = seeded(1.0, tuning)
    miss(estimate, 3.0)  # far later: the step decides
    assert estimate.first_poll == pytest.approx(math.exp(tuning.initial_step * tuning.hit_rate))
    estimate = seeded(1.0, tuning)
    miss(estimate, 1.05)  # just later: the time it was seen done decides
    assert estimate.first_poll == pytest.approx(1.0515)  # the middle of that poll's round trip


def test_a_first_poll_the_rate_limiter_held_back_teaches_nothing() -> None:
    estimate = seeded(1.0)
    hit(estimate, at=1.6)  # found done, but 0.6 s after the plan
    estimate.learn([Poll(1.6, 1.61, False), Poll(1.7, 1.71, True)], 1.0, estimate.version)
    assert estimate.first_poll == pytest.approx(1.0)
    estimate.learn([Poll(0.2, 0.21, True)])  # the fixed schedule only seeds
    assert estimate.first_poll == pytest.approx(1.0)


def test_operations_planned_on_one_estimate_move_it_once_each_way() -> None:
    estimate = seeded(1.0)
    version = estimate.version
    for _ in range(20):  # twenty Services created together, all found done at once
        estimate.learn([Poll(1.0, 1.003, True)], 1.0, version)
    lowered = estimate.first_poll
    assert lowered is not None
    assert lowered == pytest.approx(math.exp(-estimate.tuning.initial_step * 0.05))
    for _ in range(3):  # and three of them pending at their first poll
        polls = [Poll(1.0, 1.003, False), Poll(1.5, 1.503, True)]
        estimate.learn(polls, 1.0, version)
    assert estimate.first_poll is not None
    assert estimate.first_poll > lowered
    raised = estimate.first_poll
    estimate.learn([Poll(1.0, 1.003, True)], 1.0, version)
    assert estimate.first_poll == raised


def test_the_step_shrinks_when_the_direction_changes_and_grows_along_a_trend() -> None:
    tuning = EstimateTuning(hit_rate=0.9, initial_step=0.4, min_step=0.02, grow_after_hits=3)
    estimate = seeded(1.0, tuning)
    miss(estimate, 10.0)
    after_miss = estimate.first_poll
    assert after_miss is not None
    hit(estimate)  # reversal: half the step
    assert math.log(after_miss / estimate.first_poll) == pytest.approx(0.2 * 0.1)  # type: ignore[operator]
    lows = []
    for _ in range(6):
        current = estimate.first_poll
        assert current is not None
        hit(estimate)
        lows.append(math.log(current / estimate.first_poll))  # type: ignore[operator]
    # Two more hits complete a run of three: the step doubles, and again after three more.
    assert lows[0] == pytest.approx(0.02)
    assert lows[1] == pytest.approx(0.04)
    assert lows[4] == pytest.approx(0.08)


@given(outcomes=st.lists(st.tuples(st.booleans(), st.floats(0.0, 2000.0)), max_size=80))
def test_the_estimate_stays_within_its_bounds(outcomes: list[tuple[bool, float]]) -> None:
    tuning = EstimateTuning()
    estimate = seeded(1.0, tuning)
    for done_first, later in outcomes:
        if done_first:
            hit(estimate)
        else:
            miss(estimate, (estimate.first_poll or 0.0) + later)
        assert estimate.first_poll is not None
        assert tuning.min_estimate <= estimate.first_poll <= tuning.max_estimate + 1e-9


def test_each_kind_has_its_own_estimate() -> None:
    estimates = DurationEstimates()
    estimates["create-load-balancer"].learn([Poll(1.0, 1.0, True)])
    assert estimates["create-load-balancer"].first_poll == pytest.approx(0.5)
    assert estimates["add-service-to-load-balancer"].first_poll is None
    assert estimates["create-load-balancer"] is estimates["create-load-balancer"]
    assert set(estimates.kinds()) == {"create-load-balancer", "add-service-to-load-balancer"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hit_rate": 1.0}, "hit_rate"),
        ({"min_step": 0.5, "initial_step": 0.4}, "steps"),
        ({"min_estimate": 0.0}, "estimates"),
    ],
)
def test_nonsense_tuning_is_refused(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EstimateTuning(**changes)  # type: ignore[arg-type]


# -- learning while waiting, on virtual time ------------------------------------------------------


def waits(
    durations: Callable[[int], float], count: int, estimate: DurationEstimate
) -> list[tuple[int, float]]:
    """Wait for ``count`` operations of the given durations one after the other; return each
    one's polls and how late its end was seen."""
    time = FakeTime(start=0.0)
    results: list[tuple[int, float]] = []

    async def one(duration: float) -> None:
        started = time.now
        polls = 0

        async def poll(operation_id: str) -> Operation:
            nonlocal polls
            polls += 1
            done = time.now - started >= duration
            return Operation(id=operation_id, state="success" if done else "pending")

        await wait_for_operation(
            Operation(id="op", state="pending"),
            poll=poll,
            policy=WaitPolicy(),
            clock=time.clock,
            sleep=time.sleep,
            name="create-load-balancer",
            zone="ch-gva-2",
            estimate=estimate,
        )
        results.append((polls, time.now - started - duration))

    for index in range(count):
        anyio.run(one, durations(index))
    return results


def test_operations_of_a_steady_duration_need_about_one_poll_and_are_seen_at_once() -> None:
    estimate = DurationEstimate()
    results = waits(lambda _: 1.0, 200, estimate)
    assert results[0][0] == 3  # no history: the fixed schedule (0.2, 0.6, 1.4 s)
    settled = results[20:]
    polls = sum(p for p, _ in settled) / len(settled)
    late = sum(lateness for _, lateness in settled) / len(settled)
    assert polls <= 1.2
    assert late <= 0.05
    assert estimate.first_poll == pytest.approx(1.0, rel=0.05)


def test_the_estimate_follows_operations_that_get_slower_then_faster() -> None:
    estimate = DurationEstimate()
    waits(lambda _: 1.0, 50, estimate)
    waits(lambda _: 4.0, 30, estimate)
    assert estimate.first_poll == pytest.approx(4.0, rel=0.1)
    waits(lambda _: 1.0, 120, estimate)
    assert estimate.first_poll == pytest.approx(1.0, rel=0.1)


def test_one_stuck_outlier_does_not_throw_the_estimate_off() -> None:
    estimate = DurationEstimate()
    waits(lambda _: 1.0, 50, estimate)
    waits(lambda _: 120.0, 1, estimate)
    assert estimate.first_poll is not None
    assert estimate.first_poll < 3.0
    results = waits(lambda _: 1.0, 40, estimate)
    assert sum(p for p, _ in results[10:]) / 30 <= 1.2


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_with_varying_durations_most_first_polls_find_the_operation_done(seed: int) -> None:
    rng = random.Random(seed)
    estimate = DurationEstimate()
    results = waits(lambda _: rng.uniform(0.8, 1.6), 300, estimate)
    settled = results[50:]
    first_poll_done = sum(1 for polls, _ in settled if polls == 1) / len(settled)
    assert 0.85 <= first_poll_done <= 0.99


class VirtualTime:
    """Virtual time for many concurrent waits: sleepers wake in deadline order, and time jumps
    to the next deadline once every task is blocked."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._count = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        event = anyio.Event()
        self._count += 1
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), self._count, event))
        await event.wait()

    async def drive(self, done: anyio.Event) -> None:
        while not done.is_set():
            for _ in range(30):  # let every runnable task reach its next sleep
                await anyio.lowlevel.checkpoint()
            if self._sleepers:
                deadline, _, event = heapq.heappop(self._sleepers)
                self.now = max(self.now, deadline)
                event.set()


async def wait_concurrently(
    time: VirtualTime,
    estimate: DurationEstimate,
    durations: list[float],
    *,
    fail_first: bool = False,
    ended: list[float] | None = None,
) -> list[int | str]:
    """Wait for operations of the given durations at once (polls answered after 50 ms); each
    one's polls, or ``"failed"``; ``ended`` gets when each wait ended (seconds after it began)."""
    outcomes: list[int | str] = [0] * len(durations)
    ends = ended if ended is not None else []
    ends[:] = [0.0] * len(durations)

    async def one(index: int, duration: float) -> None:
        started = time.now
        polls = 0

        async def poll(operation_id: str) -> Operation:
            nonlocal polls
            polls += 1
            await time.sleep(0.05)
            if fail_first and index == 0:
                return Operation(id=operation_id, state="failure")
            done = time.now - started >= duration
            return Operation(id=operation_id, state="success" if done else "pending")

        try:
            await wait_for_operation(
                Operation(id="op", state="pending"),
                poll=poll,
                policy=WaitPolicy(),
                clock=time.clock,
                sleep=time.sleep,
                name="create-load-balancer",
                zone="ch-gva-2",
                estimate=estimate,
            )
            outcomes[index] = polls
        except OperationFailedError:
            outcomes[index] = "failed"
        ends[index] = time.now - started

    done = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(time.drive, done)
        async with anyio.create_task_group() as wave:
            for index, duration in enumerate(durations):
                wave.start_soon(one, index, duration)
        done.set()
    return outcomes


def concurrent_waves(
    estimate: DurationEstimate, waves: int, size: int, rng: random.Random
) -> list[list[int]]:
    """``waves`` times, ``size`` operations (1.0 to 1.1 s) waited for at once; each wave's polls
    per operation."""
    time = VirtualTime()
    polls_by_wave: list[list[int]] = []

    async def main() -> None:
        for _ in range(waves):
            durations = [rng.uniform(1.0, 1.1) for _ in range(size)]
            outcomes = await wait_concurrently(time, estimate, durations)
            polls_by_wave.append([int(polls) for polls in outcomes])

    anyio.run(main)
    return polls_by_wave


def test_many_operations_waited_for_at_once_do_not_throw_the_estimate_off() -> None:
    estimate = DurationEstimate()
    waves = concurrent_waves(estimate, 8, 50, random.Random(7))
    assert all(len(wave) == 50 for wave in waves)
    assert estimate.first_poll is not None
    assert 0.9 <= estimate.first_poll <= 1.4
    later = [polls for wave in waves[3:] for polls in wave]
    assert sum(later) / len(later) <= 1.2


def test_with_nothing_learned_only_one_of_many_follows_the_fixed_schedule() -> None:
    estimate = DurationEstimate()
    waves = concurrent_waves(estimate, 1, 50, random.Random(3))
    first = waves[0]
    assert sorted(first)[-1] == 3  # the one that learned: 0.2, 0.6 and 1.4 s
    assert sum(first) <= 50 + 2 + 5  # the others mostly once, at what it learned


def test_when_the_one_that_learns_fails_the_others_go_on() -> None:
    time = VirtualTime()
    estimate = DurationEstimate()

    async def main() -> list[int | str]:
        return await wait_concurrently(time, estimate, [1.0] * 5, fail_first=True)

    outcomes = anyio.run(main)
    assert outcomes[0] == "failed"
    assert all(isinstance(polls, int) and 1 <= polls <= 3 for polls in outcomes[1:])
    assert estimate.first_poll is not None
    assert estimate.probe is None


def test_when_the_one_that_learns_is_slow_the_others_wait_3_seconds_at_most() -> None:
    time = VirtualTime()
    estimate = DurationEstimate()

    ended: list[float] = []

    async def main() -> list[int | str]:
        return await wait_concurrently(time, estimate, [60.0, 1.0, 1.0, 2.0], ended=ended)

    outcomes = anyio.run(main)
    # The three short ones were polled once, at 3 s, and found done.
    assert outcomes[1:] == [1, 1, 1]
    assert all(end == pytest.approx(3.05) for end in ended[1:])
    assert outcomes[0] != 1
