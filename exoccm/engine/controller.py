"""The controller runtime: informer events → keys → a work queue → N reconcile workers.

A :class:`Controller` owns a reconcile function ``async (key) -> Result | None``. Watched
informers map their events to keys (initial-list and resync work at ``LOW`` priority, fresh
changes at ``NORMAL``). Each of ``workers`` coroutines takes a key (never one that another worker
holds), reconciles it and decides what happens next:

==========================================  ===========================================  ==============
reconcile outcome                           queue action                                 metric result
==========================================  ===========================================  ==============
returns ``None`` / :data:`DONE`             ``forget`` (clear the failure history)        success
``Result(requeue_after=s)``                 ``forget``, then look again in ``s`` s       requeue_after
``Result(retry_after=s)`` or raises         again in ``s`` s; failure count unchanged    requeue_after
:class:`RetryAfterError`                    (e.g. a cloud 429 with Retry-After)
``Result(requeue=True)``                    rate-limited requeue (counts a failure)      requeue
raises any other exception                  rate-limited requeue (counts a failure)      error
==========================================  ===========================================  ==============

An exception that only a bug raises (:data:`PANICS`: ``AttributeError``, ``KeyError``...) is
what a Go controller would die of in a panic: it also counts in
``controller_runtime_reconcile_panics_total`` and is logged as an error, with its traceback.

A controller runs while it leads: :meth:`Controller.run` creates a fresh queue, waits for the
watched informers to sync, enqueues every cached object (``LOW``), and serves until
:meth:`Controller.stop` (graceful: no new work, in-flight reconciles get ``shutdown_grace``
seconds, then are cancelled) or until cancelled (immediate: leadership lost). Informers keep
running across runs, so the next start has a warm cache.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import anyio
import structlog

from exoccm.engine import metrics
from exoccm.engine.clock import SYSTEM_CLOCK, Clock
from exoccm.engine.informer import Informer, Tombstone, final_state
from exoccm.engine.queue import Priority, QueueShutDownError, WorkQueue
from exoccm.engine.ratelimit import DEFAULT_PROFILE, RateLimitProfile
from exoccm.kube.objects import Obj, key_of

log = structlog.get_logger(__name__)

KeyMapper = Callable[[Obj], Iterable[str]]
UpdateFilter = Callable[[Obj, Obj], bool]


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for next. The default (:data:`DONE`) is "nothing, all good"."""

    requeue: bool = False
    requeue_after: float | None = None
    retry_after: float | None = None

    def __post_init__(self) -> None:
        for name in ("requeue_after", "retry_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"Result.{name} must be >= 0 seconds (got {value})")


DONE = Result()

# Python's counterparts of a Go runtime panic (nil dereference, index out of range, failed type
# assertion): raised by a bug, never by a failed call to an API.
PANICS: tuple[type[Exception], ...] = (
    AttributeError,
    TypeError,
    LookupError,
    NameError,
    AssertionError,
    ArithmeticError,
    RecursionError,
)


class RetryAfterError(Exception):
    """Raise from a reconcile to retry the key in ``seconds`` without counting a failure."""

    def __init__(self, seconds: float, reason: str = ""):
        super().__init__(reason or f"retry after {seconds}s")
        self.seconds = max(0.0, seconds)
        self.reason = reason


Reconcile = Callable[[str], Awaitable[Result | None]]


def _own_key(obj: Obj) -> Iterable[str]:
    return (key_of(obj),)


class Controller:
    """A named pool of reconcile workers fed by informers. See the module documentation."""

    def __init__(
        self,
        name: str,
        reconcile: Reconcile,
        *,
        workers: int = 1,
        rate_limit: RateLimitProfile = DEFAULT_PROFILE,
        shutdown_grace: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
    ):
        if workers < 1:
            raise ValueError(f"controller {name!r}: workers must be >= 1 (got {workers})")
        self.name = name
        self.workers = workers
        self.rate_limit = rate_limit
        self.shutdown_grace = shutdown_grace
        self._reconcile = reconcile
        self._clock = clock
        self._informers: list[tuple[Informer, KeyMapper]] = []
        self._queue: WorkQueue[str] | None = None
        self._stop_requested = anyio.Event()
        self._log = log.bind(controller=name)
        self._active = metrics.ACTIVE_WORKERS.labels(name)
        self._time = metrics.RECONCILE_TIME.labels(name)
        self._errors = metrics.RECONCILE_ERRORS.labels(name)
        self._panics = metrics.RECONCILE_PANICS.labels(name)  # exported at 0 from the start
        metrics.MAX_CONCURRENT_RECONCILES.labels(name).set(workers)
        self._outcomes = {
            result: metrics.RECONCILE_TOTAL.labels(name, result)
            for result in ("success", "error", "requeue", "requeue_after")
        }

    def __repr__(self) -> str:
        return f"Controller(name={self.name!r}, workers={self.workers}, running={self.running})"

    # -- wiring ---------------------------------------------------------------------------------

    def watch(
        self,
        informer: Informer,
        *,
        keys: KeyMapper = _own_key,
        update_filter: UpdateFilter | None = None,
        resync_period: float | None = None,
    ) -> None:
        """Enqueue ``keys(obj)`` for the informer's events while running.

        ``update_filter(old, new)`` returning False ignores an update (resyncs always pass);
        ``resync_period`` replays the informer's cache to this controller periodically.
        """

        def on_add(obj: Obj, initial: bool) -> None:
            self._enqueue_all(keys(obj), Priority.LOW if initial else Priority.NORMAL)

        def on_update(old: Obj, new: Obj) -> None:
            if old is new:  # a resync: background work
                self._enqueue_all(keys(new), Priority.LOW)
            elif update_filter is None or update_filter(old, new):
                self._enqueue_all(keys(new), Priority.NORMAL)

        def on_delete(obj: Obj | Tombstone) -> None:
            self._enqueue_all(keys(final_state(obj)), Priority.NORMAL)

        informer.add_handler(on_add, on_update, on_delete, resync_period=resync_period)
        self._informers.append((informer, keys))

    def enqueue(self, key: str, priority: int = Priority.NORMAL) -> None:
        """Queue ``key`` if running (otherwise the next run's initial pass covers it)."""
        if self._queue is not None:
            self._queue.add(key, priority)

    def enqueue_after(self, key: str, delay: float, priority: int = Priority.NORMAL) -> None:
        if self._queue is not None:
            self._queue.add_after(key, delay, priority)

    def _enqueue_all(self, keys: Iterable[str], priority: int) -> None:
        queue = self._queue
        if queue is not None:
            for key in keys:
                queue.add(key, priority)

    # -- running --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._queue is not None

    @property
    def queue(self) -> WorkQueue[str] | None:
        """The current run's queue (None when stopped)."""
        return self._queue

    def stop(self) -> None:
        """Ask :meth:`run` to stop gracefully (no effect when not running)."""
        self._stop_requested.set()

    async def run(self) -> None:
        """Serve until :meth:`stop` (graceful) or cancellation (immediate). Not re-entrant."""
        if self._queue is not None:
            raise RuntimeError(f"controller {self.name!r} is already running")
        queue: WorkQueue[str] = WorkQueue(
            self.name, rate_limiter=self.rate_limit.build(self._clock), clock=self._clock
        )
        self._stop_requested = anyio.Event()
        self._queue = queue
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._start_when_synced, queue, tg)
                await self._stop_requested.wait()
                self._log.info("Controller stopping", in_flight=len(queue.processing))
                with anyio.move_on_after(self.shutdown_grace) as grace:
                    await queue.shut_down_with_drain()
                if grace.cancelled_caught:
                    self._log.warning(
                        "Reconciles did not finish within the shutdown grace period; cancelling",
                        grace_seconds=self.shutdown_grace,
                        in_flight=sorted(queue.processing),
                    )
                tg.cancel_scope.cancel()
        finally:
            queue.shut_down()
            self._queue = None
            self._log.info("Controller stopped")

    async def _start_when_synced(self, queue: WorkQueue[str], tg: anyio.abc.TaskGroup) -> None:
        for informer, _ in self._informers:
            if not informer.has_synced:
                self._log.info("Waiting for informer to sync", informer=informer.name)
                await informer.wait_synced()
        initial = 0
        for informer, keys in self._informers:
            for obj in informer.list():
                for key in keys(obj):
                    queue.add(key, Priority.LOW)
                    initial += 1
        self._log.info("Controller started", workers=self.workers, initial_keys=initial)
        for index in range(self.workers):
            tg.start_soon(self._worker, queue, name=f"{self.name}-worker-{index}")

    async def _worker(self, queue: WorkQueue[str]) -> None:
        while True:
            try:
                key = await queue.get()
            except QueueShutDownError:
                return
            try:
                with structlog.contextvars.bound_contextvars(controller=self.name, key=key):
                    await self._process(queue, key)
            finally:
                queue.done(key)

    async def _process(self, queue: WorkQueue[str], key: str) -> None:
        started = time.perf_counter()
        self._active.inc()
        outcome = "success"
        try:
            result = await self._reconcile(key)
        except RetryAfterError as exc:
            outcome = "requeue_after"
            queue.retry_after(key, exc.seconds)
            self._log.info("Reconcile asked to retry later", key=key, retry_in=exc.seconds)
        except Exception as exc:
            outcome = "error"
            self._errors.inc()
            queue.add_rate_limited(key)
            panicked = isinstance(exc, PANICS)
            if panicked:
                self._panics.inc()
            self._log.log(
                logging.ERROR if panicked else logging.WARNING,
                "Reconcile failed; will retry with backoff",
                key=key,
                error=f"{type(exc).__name__}: {exc}",
                failures=queue.num_requeues(key),
                panic=panicked,
                exc_info=True,
            )
        else:
            if result is None or result == DONE:
                queue.forget(key)
            elif result.retry_after is not None:
                outcome = "requeue_after"
                queue.retry_after(key, result.retry_after)
            elif result.requeue_after is not None:
                outcome = "requeue_after"
                queue.forget(key)
                queue.add_after(key, result.requeue_after)
            else:
                outcome = "requeue"
                queue.add_rate_limited(key)
        finally:
            self._active.dec()
            self._time.observe(time.perf_counter() - started)
        self._outcomes[outcome].inc()
