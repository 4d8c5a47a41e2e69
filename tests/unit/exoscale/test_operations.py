"""Operation waiting: the poll schedule, final states, the deadline, and polling errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exoccm.exoscale import errors
from exoccm.exoscale.estimates import DurationEstimate, Poll
from exoccm.exoscale.models import Operation
from exoccm.exoscale.operations import (
    WaitPolicy,
    official_poll_interval,
    poll_delay,
    wait_for_operation,
)
from tests.unit.exoscale.faketime import FakeTime

pytestmark = pytest.mark.anyio


def test_official_curve_matches_the_reference_values() -> None:
    assert official_poll_interval(0) == 3.0
    assert official_poll_interval(30) == pytest.approx(3.0)
    assert official_poll_interval(60) == pytest.approx(4.97, abs=0.01)
    assert official_poll_interval(120) == pytest.approx(8.90, abs=0.01)
    assert official_poll_interval(300) == pytest.approx(20.69, abs=0.01)
    assert official_poll_interval(600) == pytest.approx(40.34, abs=0.01)
    assert official_poll_interval(900) == pytest.approx(60.0)
    assert official_poll_interval(10_000) == 60.0


def test_first_polls_come_fast_then_join_the_official_curve() -> None:
    assert [poll_delay(n, 0.0) for n in range(6)] == [0.2, 0.4, 0.8, 1.6, 3.0, 3.0]


@given(attempt=st.integers(0, 10_000), elapsed=st.floats(0, 1e7))
def test_poll_delay_is_bounded_by_the_official_curve(attempt: int, elapsed: float) -> None:
    delay = poll_delay(attempt, elapsed, first_delay=0.2)
    assert 0.2 <= delay <= 60.0
    assert delay <= official_poll_interval(elapsed)
    if attempt >= 9:  # 0.2 * 2**9 > 60: fully on the official curve
        assert delay == official_poll_interval(elapsed)


@given(elapsed=st.floats(0, 1e6), later=st.floats(0, 1e6))
def test_official_curve_never_shrinks(elapsed: float, later: float) -> None:
    assert official_poll_interval(elapsed) <= official_poll_interval(elapsed + later)


def op(state: str = "pending", **extra: object) -> Operation:
    return Operation.model_validate({"id": "op-1", "state": state, **extra})


class ScriptedPolls:
    """Answers polls from a script of operations or exceptions."""

    def __init__(self, *answers: Operation | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self, operation_id: str) -> Operation:
        assert operation_id == "op-1"
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def wait(
    polls: ScriptedPolls, time: FakeTime, start: Operation | None = None, **policy: float
) -> Operation:
    return await wait_for_operation(
        start or op(),
        poll=polls,
        policy=WaitPolicy(**policy),  # type: ignore[arg-type]
        clock=time.clock,
        sleep=time.sleep,
        name="create-load-balancer",
        zone="ch-gva-2",
    )


async def test_returns_the_successful_operation() -> None:
    time = FakeTime()
    polls = ScriptedPolls(op(), op(), op("success", reference={"id": "nlb"}))
    done = await wait(polls, time)
    assert done.state == "success"
    assert done.reference is not None
    assert done.reference.id == "nlb"
    assert polls.calls == 3
    assert time.sleeps == [0.2, 0.4, 0.8]


async def test_an_already_final_operation_needs_no_poll() -> None:
    time = FakeTime()
    polls = ScriptedPolls()
    assert (await wait(polls, time, start=op("success"))).state == "success"
    assert polls.calls == 0


@pytest.mark.parametrize("state", ["failure", "timeout"])
async def test_failed_operation_raises_with_state_reason_and_message(state: str) -> None:
    polls = ScriptedPolls(op(state, reason="busy", message="NLB is busy"))
    with pytest.raises(errors.OperationFailedError) as info:
        await wait(polls, FakeTime())
    assert info.value.state == state
    assert info.value.reason == "busy"
    assert info.value.api_message == "NLB is busy"
    assert info.value.operation == "create-load-balancer"
    assert info.value.operation_id == "op-1"


async def test_stuck_operation_times_out_at_the_deadline() -> None:
    time = FakeTime()
    polls = ScriptedPolls(*[op() for _ in range(200)])
    with pytest.raises(errors.OperationTimeoutError) as info:
        await wait(polls, time, timeout=120.0)
    assert info.value.waited == pytest.approx(120.0)
    assert time.now - 1000.0 == pytest.approx(120.0)
    # Fast start, then the official 3 s (and growing) steps: far fewer polls than seconds.
    assert 20 <= polls.calls <= 50


async def test_tolerates_a_few_transient_poll_errors() -> None:
    time = FakeTime()
    transient = errors.ServerError(503, "")
    polls = ScriptedPolls(
        transient, errors.TransportError("x", sent=True), transient, transient, op("success")
    )
    assert (await wait(polls, time)).state == "success"
    assert polls.calls == 5


async def test_too_many_consecutive_poll_errors_raise_the_last_one() -> None:
    polls = ScriptedPolls(
        *[errors.ServerError(502, "bad gateway") for _ in range(5)], op("success")
    )
    with pytest.raises(errors.ServerError, match="bad gateway"):
        await wait(polls, FakeTime(), max_consecutive_errors=5)
    assert polls.calls == 5


async def test_a_non_transient_poll_error_raises_at_once() -> None:
    polls = ScriptedPolls(errors.NotFoundError(404, "no such operation"), op("success"))
    with pytest.raises(errors.NotFoundError):
        await wait(polls, FakeTime())
    assert polls.calls == 1


async def test_rate_limited_poll_waits_at_least_retry_after() -> None:
    time = FakeTime()
    polls = ScriptedPolls(errors.RateLimitedError(429, "", retry_after=9.0), op("success"))
    await wait(polls, time)
    assert time.sleeps == [0.2, 9.0]


# -- with a learned estimate ----------------------------------------------------------------------


def learned(seconds: float) -> DurationEstimate:
    estimate = DurationEstimate()
    estimate.learn([Poll(seconds, seconds, False), Poll(seconds, seconds, True)])
    return estimate


async def wait_learning(
    polls: ScriptedPolls,
    time: FakeTime,
    estimate: DurationEstimate,
    turn: Callable[[], Awaitable[None]] | None = None,
    **policy: float,
) -> Operation:
    return await wait_for_operation(
        op(),
        poll=polls,
        policy=WaitPolicy(**policy),  # type: ignore[arg-type]
        clock=time.clock,
        sleep=time.sleep,
        name="create-load-balancer",
        zone="ch-gva-2",
        estimate=estimate,
        turn=turn,
    )


async def test_without_history_the_fixed_schedule_runs_and_seeds_the_estimate() -> None:
    time = FakeTime()
    estimate = DurationEstimate()
    await wait_learning(ScriptedPolls(op(), op(), op("success")), time, estimate)
    assert time.sleeps == [0.2, 0.4, 0.8]
    assert estimate.first_poll == pytest.approx((0.6 + 1.4) / 2)


async def test_with_history_the_first_poll_comes_when_the_operation_is_most_likely_done() -> None:
    time = FakeTime()
    estimate = learned(2.0)
    await wait_learning(ScriptedPolls(op("success")), time, estimate)
    assert time.sleeps == [pytest.approx(2.0)]
    assert estimate.first_poll is not None
    assert estimate.first_poll < 2.0


async def test_a_learned_first_poll_that_misses_backs_off_briefly() -> None:
    time = FakeTime()
    estimate = learned(2.0)
    polls = ScriptedPolls(op(), op(), op(), op("success"))
    await wait_learning(polls, time, estimate)
    # A twentieth of the estimate, doubling.
    assert time.sleeps == [pytest.approx(2.0), pytest.approx(0.1), pytest.approx(0.2), 0.4]
    assert estimate.first_poll is not None
    assert estimate.first_poll > 2.0


async def test_brief_pauses_never_exceed_the_official_curve() -> None:
    time = FakeTime()
    polls = ScriptedPolls(*[op() for _ in range(12)], op("success"))
    await wait_learning(polls, time, learned(1.0))
    assert max(time.sleeps[1:]) == 3.0
    assert time.sleeps[1:5] == [0.05, 0.1, 0.2, 0.4]


async def test_a_stuck_operation_with_history_still_ends_at_the_deadline() -> None:
    time = FakeTime()
    estimate = learned(1.0)
    polls = ScriptedPolls(*[op() for _ in range(200)])
    with pytest.raises(errors.OperationTimeoutError):
        await wait_learning(polls, time, estimate, timeout=120.0)
    assert time.now - 1000.0 == pytest.approx(120.0)
    assert 20 <= polls.calls <= 50
    # An operation that never ended teaches nothing.
    assert estimate.first_poll == pytest.approx(1.0)


@pytest.mark.parametrize("state", ["failure", "timeout"])
async def test_a_failed_operation_with_history_raises_and_teaches_nothing(state: str) -> None:
    estimate = learned(1.0)
    with pytest.raises(errors.OperationFailedError):
        await wait_learning(ScriptedPolls(op(state, reason="busy")), FakeTime(), estimate)
    assert estimate.first_poll == pytest.approx(1.0)


async def test_each_poll_waits_its_turn_first_and_its_time_is_when_it_was_sent() -> None:
    time = FakeTime()
    estimate = learned(1.0)
    turns: list[float] = []

    async def turn() -> None:  # the rate limiter holds the poll back by 0.5 s
        turns.append(time.now)
        await time.sleep(0.5)

    polls = ScriptedPolls(op("success"))
    await wait_learning(polls, time, estimate, turn=turn)
    assert turns == [pytest.approx(1001.0)]
    # Found done, but sent 0.5 s late: no evidence that 1 s is enough, so no change.
    assert estimate.first_poll == pytest.approx(1.0)
