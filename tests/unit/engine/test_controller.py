"""The controller runtime: outcomes, metrics, one worker per key, start/stop."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import anyio
import pytest
from anyio import wait_all_tasks_blocked
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from exoccm.engine.clock import FakeClock
from exoccm.engine.controller import DONE, Controller, Result, RetryAfterError
from exoccm.engine.ratelimit import RateLimitProfile

from .waiting import until

pytestmark = pytest.mark.anyio

SLOW_BACKOFF = RateLimitProfile(base_delay=10.0, max_delay=100.0, qps=None)


def _name() -> str:
    return f"c-{uuid.uuid4().hex[:8]}"


def _outcomes(name: str, result: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "controller_runtime_reconcile_total", {"controller": name, "result": result}
        )
        or 0.0
    )


async def _running(controller: Controller, body: Callable[[], Awaitable[None]]) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(controller.run)
        await until(lambda: controller.running)
        await body()
        controller.stop()


async def test_success_forgets_and_counts() -> None:
    calls: list[str] = []

    async def reconcile(key: str) -> Result:
        calls.append(key)
        return DONE

    controller = Controller(_name(), reconcile, workers=2)

    async def body() -> None:
        assert controller.queue is not None
        controller.queue.add_rate_limited("a")  # a failure on record ...
        await until(lambda: calls == ["a"])
        await until(lambda: controller.queue is not None and not controller.queue.processing)
        assert controller.queue.num_requeues("a") == 0  # ... forgotten after the success

    await _running(controller, body)
    assert _outcomes(controller.name, "success") == 1
    assert not controller.running


async def test_an_exception_means_rate_limited_retry() -> None:
    clock = FakeClock()
    attempts: list[str] = []

    async def reconcile(key: str) -> None:
        attempts.append(key)
        if len(attempts) < 3:
            raise RuntimeError("cloud unavailable")

    controller = Controller(_name(), reconcile, rate_limit=SLOW_BACKOFF, clock=clock)

    async def body() -> None:
        controller.enqueue("a")
        await until(lambda: len(attempts) == 1)
        await wait_all_tasks_blocked()
        assert controller.queue is not None
        assert controller.queue.num_requeues("a") == 1
        clock.advance(9.9)
        await wait_all_tasks_blocked()
        assert len(attempts) == 1, "retried before its 10 s backoff"
        clock.advance(0.1)
        await until(lambda: len(attempts) == 2)
        await wait_all_tasks_blocked()
        clock.advance(20)  # second failure: 20 s
        await until(lambda: len(attempts) == 3)
        await until(
            lambda: controller.queue is not None and controller.queue.num_requeues("a") == 0
        )

    await _running(controller, body)
    name = controller.name
    assert _outcomes(name, "error") == 2
    assert _outcomes(name, "success") == 1
    errors = REGISTRY.get_sample_value(
        "controller_runtime_reconcile_errors_total", {"controller": name}
    )
    assert errors == 2


def _sample(metric: str, name: str) -> float | None:
    return REGISTRY.get_sample_value(metric, {"controller": name})


async def test_a_bug_counts_as_a_panic_and_a_failed_call_does_not() -> None:
    errors = iter([ConnectionError("apiserver went away"), KeyError("spec")])
    attempts: list[str] = []

    async def reconcile(key: str) -> Result | None:
        attempts.append(key)
        raise next(errors)

    controller = Controller(_name(), reconcile, rate_limit=SLOW_BACKOFF)
    name = controller.name
    assert _sample("controller_runtime_reconcile_panics_total", name) == 0  # exported up front

    async def body() -> None:
        controller.enqueue("a")
        await until(lambda: _sample("controller_runtime_reconcile_errors_total", name) == 1)
        assert _sample("controller_runtime_reconcile_panics_total", name) == 0
        controller.enqueue("b")
        await until(lambda: _sample("controller_runtime_reconcile_errors_total", name) == 2)

    with capture_logs() as logs:
        await _running(controller, body)
    assert attempts == ["a", "b"]
    assert _sample("controller_runtime_reconcile_panics_total", name) == 1
    failures = [e for e in logs if e["event"] == "Reconcile failed; will retry with backoff"]
    assert [(e["key"], e["log_level"], e["panic"]) for e in failures] == [
        ("a", "warning", False),
        ("b", "error", True),
    ]
    assert _outcomes(name, "error") == 2


def test_max_concurrent_reconciles_is_the_worker_count() -> None:
    controller = Controller(_name(), _never_called, workers=7)
    assert _sample("controller_runtime_max_concurrent_reconciles", controller.name) == 7


async def _never_called(key: str) -> None:
    raise AssertionError(f"reconciled {key}")


@pytest.mark.parametrize("how", ["result", "exception"])
async def test_retry_after_is_not_a_failure(how: str) -> None:
    clock = FakeClock()
    attempts: list[float] = []

    async def reconcile(key: str) -> Result | None:
        attempts.append(clock.monotonic())
        if len(attempts) == 1:
            if how == "exception":
                raise RetryAfterError(3.0, "cloud said 429")
            return Result(retry_after=3.0)
        return None

    controller = Controller(_name(), reconcile, rate_limit=SLOW_BACKOFF, clock=clock)

    async def body() -> None:
        controller.enqueue("a")
        await until(lambda: len(attempts) == 1)
        await wait_all_tasks_blocked()
        assert controller.queue is not None
        assert controller.queue.num_requeues("a") == 0
        clock.advance(3)
        await until(lambda: len(attempts) == 2)

    await _running(controller, body)
    assert attempts[1] - attempts[0] == 3
    assert _outcomes(controller.name, "requeue_after") == 1
    assert _outcomes(controller.name, "error") == 0


async def test_requeue_after_looks_again_later_and_requeue_backs_off() -> None:
    clock = FakeClock()
    attempts: list[float] = []

    async def reconcile(key: str) -> Result:
        attempts.append(clock.monotonic())
        return Result(requeue_after=60) if len(attempts) == 1 else Result(requeue=True)

    controller = Controller(_name(), reconcile, rate_limit=SLOW_BACKOFF, clock=clock)

    async def body() -> None:
        controller.enqueue("a")
        await until(lambda: len(attempts) == 1)
        await wait_all_tasks_blocked()
        clock.advance(60)
        await until(lambda: len(attempts) == 2)
        await wait_all_tasks_blocked()
        clock.advance(10)
        await until(lambda: len(attempts) == 3)

    await _running(controller, body)
    assert [t - attempts[0] for t in attempts] == [0, 60, 70]
    assert _outcomes(controller.name, "requeue_after") == 1
    assert _outcomes(controller.name, "requeue") == 2


async def test_one_key_never_runs_on_two_workers() -> None:
    running: set[str] = set()
    overlaps: list[str] = []
    runs: dict[str, int] = {}
    controller: Controller

    async def reconcile(key: str) -> None:
        if key in running:
            overlaps.append(key)
        running.add(key)
        runs[key] = runs.get(key, 0) + 1
        if runs[key] < 5:
            controller.enqueue(key)  # a change arrives while we work
        await anyio.sleep(0.001)
        running.discard(key)

    controller = Controller(_name(), reconcile, workers=8)

    async def body() -> None:
        for key in "abc":
            controller.enqueue(key)
        await until(lambda: all(runs.get(k, 0) >= 5 for k in "abc"))

    await _running(controller, body)
    assert overlaps == []


async def test_graceful_stop_lets_in_flight_work_finish_and_drops_the_backlog() -> None:
    release = anyio.Event()
    finished: list[str] = []

    async def reconcile(key: str) -> None:
        await release.wait()
        finished.append(key)

    controller = Controller(_name(), reconcile, workers=1, shutdown_grace=30)
    async with anyio.create_task_group() as tg:
        tg.start_soon(controller.run)
        await until(lambda: controller.running)
        controller.enqueue("in-flight")
        await until(lambda: controller.queue is not None and bool(controller.queue.processing))
        controller.enqueue("backlog")
        controller.stop()
        await wait_all_tasks_blocked()
        assert controller.running, "stopped before the in-flight reconcile finished"
        release.set()
        await until(lambda: not controller.running)
    assert finished == ["in-flight"]


async def test_reconciles_outliving_the_grace_period_are_cancelled() -> None:
    cancelled: list[str] = []

    async def reconcile(key: str) -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(key)
            raise

    controller = Controller(_name(), reconcile, shutdown_grace=0.05)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(controller.run)
            await until(lambda: controller.running)
            controller.enqueue("stuck")
            await until(lambda: controller.queue is not None and bool(controller.queue.processing))
            controller.stop()
    assert cancelled == ["stuck"]
    assert not controller.running


async def test_cancellation_stops_at_once_and_the_controller_can_run_again() -> None:
    seen: list[str] = []

    async def reconcile(key: str) -> None:
        seen.append(key)
        await anyio.sleep_forever()

    controller = Controller(_name(), reconcile, shutdown_grace=60)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(controller.run)
            await until(lambda: controller.running)
            controller.enqueue("first-term")
            await until(lambda: seen == ["first-term"])
            tg.cancel_scope.cancel()  # leadership lost: no grace
        assert not controller.running
        controller.enqueue("while-stopped")  # dropped: the next run's initial pass covers it
        async with anyio.create_task_group() as tg:
            tg.start_soon(controller.run)
            await until(lambda: controller.running)
            controller.enqueue("second-term")
            await until(lambda: seen == ["first-term", "second-term"])
            tg.cancel_scope.cancel()


async def test_run_twice_at_once_is_refused() -> None:
    async def reconcile(key: str) -> None:
        return None

    controller = Controller(_name(), reconcile)
    async with anyio.create_task_group() as tg:
        tg.start_soon(controller.run)
        await until(lambda: controller.running)
        with pytest.raises(RuntimeError, match="already running"):
            await controller.run()
        controller.stop()


def test_bad_arguments_are_rejected() -> None:
    async def reconcile(key: str) -> None:
        return None

    with pytest.raises(ValueError, match="workers"):
        Controller("x", reconcile, workers=0)
    with pytest.raises(ValueError, match="requeue_after"):
        Result(requeue_after=-1)
