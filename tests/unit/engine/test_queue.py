"""Work queue semantics, one test per guarantee, on a fake clock."""

from __future__ import annotations

import uuid

import anyio
import anyio.lowlevel
import pytest
from anyio import wait_all_tasks_blocked
from prometheus_client import REGISTRY

from exoccm.engine.clock import FakeClock
from exoccm.engine.queue import Priority, QueueShutDownError, WorkQueue
from exoccm.engine.ratelimit import DEFAULT_PROFILE, SERVICE_PROFILE, RateLimitProfile

from .waiting import until

pytestmark = pytest.mark.anyio


def _queue(clock: FakeClock, **kwargs: object) -> WorkQueue[str]:
    return WorkQueue(f"q-{uuid.uuid4().hex[:8]}", clock=clock, **kwargs)  # type: ignore[arg-type]


def _drain(queue: WorkQueue[str]) -> list[str]:
    got = []
    while (key := queue.get_nowait()) is not None:
        got.append(key)
    return got


def _sample(metric: str, queue: WorkQueue[str]) -> float:
    value = REGISTRY.get_sample_value(metric, {"name": queue.name or ""})
    assert value is not None, f"{metric} has no sample for {queue.name}"
    return value


def test_a_queued_key_is_never_queued_twice() -> None:
    queue = _queue(FakeClock())
    for _ in range(3):
        queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert _drain(queue) == ["a", "b"]
    assert _sample("workqueue_adds_total", queue) == 2


def test_a_key_being_processed_is_not_handed_out_again() -> None:
    queue = _queue(FakeClock())
    queue.add("a")
    assert queue.get_nowait() == "a"
    queue.add("a")
    assert queue.get_nowait() is None, "a second worker must not get a key in processing"
    assert queue.depth == 1  # parked, counted in the depth like client-go
    assert len(queue) == 0


def test_a_key_re_added_while_processing_runs_again_after_done() -> None:
    queue = _queue(FakeClock())
    queue.add("a")
    assert queue.get_nowait() == "a"
    queue.add("a")
    queue.add("a")  # dedup also applies to the parked key
    queue.done("a")
    assert _drain(queue) == ["a"]
    queue.done("a")
    assert queue.get_nowait() is None


def test_done_without_re_add_leaves_nothing_behind() -> None:
    queue = _queue(FakeClock())
    queue.add("a")
    assert queue.get_nowait() == "a"
    queue.done("a")
    assert queue.get_nowait() is None
    assert queue.processing == frozenset()


def test_fifo_within_a_priority() -> None:
    queue = _queue(FakeClock())
    for key in "cab":
        queue.add(key)
    assert _drain(queue) == ["c", "a", "b"]


def test_higher_priorities_first() -> None:
    queue = _queue(FakeClock())
    queue.add("resync-1", Priority.LOW)
    queue.add("change-1", Priority.NORMAL)
    queue.add("resync-2", Priority.LOW)
    queue.add("urgent", Priority.HIGH)
    queue.add("change-2", Priority.NORMAL)
    assert _drain(queue) == ["urgent", "change-1", "change-2", "resync-1", "resync-2"]


def test_re_add_with_higher_priority_raises_it_and_lower_does_not_lower_it() -> None:
    queue = _queue(FakeClock())
    queue.add("a", Priority.LOW)
    queue.add("b", Priority.NORMAL)
    queue.add("c", Priority.NORMAL)
    queue.add("a", Priority.HIGH)
    queue.add("b", Priority.LOW)
    assert _drain(queue) == ["a", "b", "c"]
    assert _sample("workqueue_adds_total", queue) == 3


def test_priority_raised_while_parked_applies_when_requeued() -> None:
    queue = _queue(FakeClock())
    queue.add("a", Priority.LOW)
    assert queue.get_nowait() == "a"
    queue.add("a", Priority.LOW)
    queue.add("a", Priority.HIGH)
    queue.add("b", Priority.NORMAL)
    queue.done("a")
    assert _drain(queue) == ["a", "b"]


def test_add_after_waits_for_its_deadline() -> None:
    clock = FakeClock()
    queue = _queue(clock)
    queue.add_after("a", 5)
    assert queue.get_nowait() is None
    assert queue.waiting == 1
    clock.advance(4.9)
    assert queue.get_nowait() is None
    clock.advance(0.1)
    assert queue.get_nowait() == "a"
    assert queue.waiting == 0


def test_add_after_keeps_the_earliest_deadline() -> None:
    clock = FakeClock()
    queue = _queue(clock)
    queue.add_after("a", 10)
    queue.add_after("a", 3)
    queue.add_after("a", 8)
    clock.advance(3)
    assert queue.get_nowait() == "a"
    queue.done("a")
    clock.advance(10)
    assert queue.get_nowait() is None, "superseded deadlines must not fire again"


def test_add_after_zero_is_an_immediate_add() -> None:
    queue = _queue(FakeClock())
    queue.add_after("a", 0)
    assert queue.get_nowait() == "a"


def test_add_after_orders_due_keys_by_deadline() -> None:
    clock = FakeClock()
    queue = _queue(clock)
    queue.add_after("late", 2)
    queue.add_after("early", 1)
    clock.advance(5)
    assert _drain(queue) == ["early", "late"]


def test_rate_limited_adds_back_off_exponentially_and_forget_resets() -> None:
    clock = FakeClock()
    profile = RateLimitProfile(base_delay=1.0, max_delay=100.0, qps=None)
    queue = _queue(clock, rate_limiter=profile.build(clock))
    delays = []
    for _ in range(4):
        queue.add_rate_limited("a")
        started = clock.monotonic()
        while queue.get_nowait() is None:
            clock.advance(0.25)
        delays.append(clock.monotonic() - started)
        queue.done("a")
    assert delays == [1.0, 2.0, 4.0, 8.0]
    assert queue.num_requeues("a") == 4
    queue.forget("a")
    assert queue.num_requeues("a") == 0
    assert _sample("workqueue_retries_total", queue) == 4


def test_retry_after_does_not_count_a_failure() -> None:
    clock = FakeClock()
    queue = _queue(clock, rate_limiter=SERVICE_PROFILE.build(clock))
    queue.add_rate_limited("a")
    queue.retry_after("a", 1.0)  # e.g. a cloud 429 with Retry-After: 1
    assert queue.num_requeues("a") == 1
    clock.advance(1.0)
    assert queue.get_nowait() == "a", "the earlier retry-after deadline wins over the 5 s backoff"
    queue.done("a")
    queue.add_rate_limited("a")
    clock.advance(9.9)
    assert queue.get_nowait() is None, "the next failure backs off 10 s: retry-after counted none"
    clock.advance(0.1)
    assert queue.get_nowait() == "a"


def test_shutdown_drops_the_backlog_and_ignores_adds() -> None:
    clock = FakeClock()
    queue = _queue(clock)
    queue.add("in-flight")
    queue.add("backlog")
    queue.add_after("later", 1)
    assert queue.get_nowait() == "in-flight"
    queue.add("in-flight")
    queue.shut_down()
    assert queue.shutting_down
    with pytest.raises(QueueShutDownError):
        queue.get_nowait()
    queue.add("new")
    queue.add_after("new", 1)
    queue.add_rate_limited("new")
    queue.done("in-flight")  # in-flight keys may still finish
    clock.advance(5)
    assert queue.depth == 0
    assert len(queue) == 0
    assert queue.waiting == 0
    assert queue.processing == frozenset()


async def test_get_waits_for_an_add() -> None:
    queue = _queue(FakeClock())
    got: list[str] = []
    async with anyio.create_task_group() as tg:

        async def worker() -> None:
            got.append(await queue.get())

        tg.start_soon(worker)
        await wait_all_tasks_blocked()
        assert got == []
        queue.add("a")
    assert got == ["a"]


async def test_get_wakes_at_an_add_after_deadline() -> None:
    clock = FakeClock()
    queue = _queue(clock)
    got: list[str] = []
    async with anyio.create_task_group() as tg:

        async def worker() -> None:
            got.append(await queue.get())

        tg.start_soon(worker)
        await wait_all_tasks_blocked()
        queue.add_after("a", 10)
        await wait_all_tasks_blocked()
        clock.advance(9)
        await wait_all_tasks_blocked()
        assert got == []
        clock.advance(1)
    assert got == ["a"]


async def test_workers_never_hold_the_same_key() -> None:
    queue = _queue(FakeClock())
    holding: set[str] = set()
    overlaps: list[str] = []
    runs: dict[str, int] = {}

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except QueueShutDownError:
                return
            if key in holding:
                overlaps.append(key)
            holding.add(key)
            runs[key] = runs.get(key, 0) + 1
            await anyio.lowlevel.checkpoint()  # let others run while we hold it
            queue.add(key if runs[key] < 3 else "x")  # re-add while processing
            holding.discard(key)
            queue.done(key)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(worker)
            for key in "abcd":
                queue.add(key)
            await until(lambda: all(runs.get(k, 0) >= 3 for k in "abcd"))
            await queue.shut_down_with_drain()
    assert overlaps == []
    assert all(runs[k] >= 3 for k in "abcd")


async def test_shutdown_wakes_idle_getters() -> None:
    queue = _queue(FakeClock())
    outcomes: list[str] = []

    async def worker() -> None:
        try:
            await queue.get()
        except QueueShutDownError:
            outcomes.append("shut down")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(worker)
            await wait_all_tasks_blocked()
            queue.shut_down()
    assert outcomes == ["shut down"] * 3


async def test_shutdown_with_drain_waits_for_in_flight_keys_only() -> None:
    queue = _queue(FakeClock())
    queue.add("a")
    queue.add("b")
    assert queue.get_nowait() == "a"
    drained = anyio.Event()

    async def drain() -> None:
        await queue.shut_down_with_drain()
        drained.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(drain)
            await wait_all_tasks_blocked()
            assert not drained.is_set(), "drain returned while 'a' was still in flight"
            queue.done("a")
    assert drained.is_set()
    with pytest.raises(QueueShutDownError):
        queue.get_nowait()


async def test_a_cancelled_woken_getter_passes_the_key_on() -> None:
    queue = _queue(FakeClock())
    got: list[str] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            first = anyio.CancelScope()

            async def doomed() -> None:
                with first:
                    got.append("doomed:" + await queue.get())

            async def survivor() -> None:
                got.append(await queue.get())

            tg.start_soon(doomed)
            await wait_all_tasks_blocked()
            tg.start_soon(survivor)
            await wait_all_tasks_blocked()
            first.cancel()  # the first waiter is cancelled but has not run yet ...
            queue.add("a")  # ... so the add wakes it, and it must pass the wake-up on
    assert got == ["a"]
    assert first.cancelled_caught


def test_queue_metrics_follow_client_go() -> None:
    clock = FakeClock()
    queue = _queue(clock)
    queue.add("a")
    queue.add("b")
    assert _sample("workqueue_depth", queue) == 2
    clock.advance(2)
    assert queue.get_nowait() == "a"
    assert _sample("workqueue_depth", queue) == 1
    assert _sample("workqueue_queue_duration_seconds_sum", queue) == pytest.approx(2)
    clock.advance(3)
    assert queue.get_nowait() == "b"
    clock.advance(1)
    assert _sample("workqueue_unfinished_work_seconds", queue) == pytest.approx(4 + 1)
    assert _sample("workqueue_longest_running_processor_seconds", queue) == pytest.approx(4)
    queue.done("a")
    assert _sample("workqueue_work_duration_seconds_count", queue) == 1
    assert _sample("workqueue_work_duration_seconds_sum", queue) == pytest.approx(4)
    queue.add_after("c", 1)
    queue.add_rate_limited("d")
    assert _sample("workqueue_retries_total", queue) == 2


def test_unnamed_queues_report_no_metrics() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    queue.add("a")
    assert queue.get_nowait() == "a"
    assert REGISTRY.get_sample_value("workqueue_adds_total", {"name": ""}) is None


def test_default_limiter_is_client_go_default() -> None:
    clock = FakeClock()
    limiter = DEFAULT_PROFILE.build(clock)
    assert [limiter.when("k") for _ in range(3)] == [0.005, 0.01, 0.02]
