"""A rate-limited, deduplicating, prioritised work queue with client-go's semantics.

Guarantees (the same as ``k8s.io/client-go/util/workqueue``):

* A key waiting in the queue is never queued twice: adding it again is a no-op (except that a
  higher priority raises its priority).
* A key is never handed to two workers at once: a key re-added while a worker holds it is parked
  and queued again when that worker calls :meth:`WorkQueue.done`.
* :meth:`WorkQueue.add_after` keeps one waiting entry per key with the earliest deadline.
* Retries go through a :class:`~exoccm.engine.ratelimit.RateLimiter`
  (:meth:`~WorkQueue.add_rate_limited`); :meth:`~WorkQueue.retry_after` honours a server's
  "retry after N s" without counting a failure; :meth:`~WorkQueue.forget` clears the history.

Beyond client-go: keys carry a :class:`Priority`. Higher priorities are handed out first, FIFO
within one priority; controllers enqueue fresh watch events at ``NORMAL`` and initial-list and
resync work at ``LOW`` (as controller-runtime's priority queue does), so a user's change never
waits behind a startup backlog.

Shutdown (a deliberate difference from client-go): :meth:`~WorkQueue.shut_down` drops the backlog
(queued, parked and waiting keys) and makes idle :meth:`~WorkQueue.get` calls raise
:class:`QueueShutDownError` at once; keys being processed may still call ``done``.
:meth:`~WorkQueue.shut_down_with_drain` additionally waits for those in-flight keys, like
client-go's ``ShutDownWithDrain``. client-go keeps handing out the backlog during shutdown; we
don't, because exoccm shuts a queue down when it stops leading or exits, and the next leader
rebuilds the full backlog from its informers' caches anyway - working through it first would only
delay releasing the Lease.
"""

from __future__ import annotations

import heapq
import itertools
import weakref
from collections import deque
from collections.abc import Hashable
from enum import IntEnum
from typing import Generic, TypeVar

import anyio

from exoccm.engine import metrics
from exoccm.engine.clock import SYSTEM_CLOCK, Clock
from exoccm.engine.ratelimit import DEFAULT_PROFILE, RateLimiter

K = TypeVar("K", bound=Hashable)


class Priority(IntEnum):
    """Order of service: higher first."""

    LOW = -100  # initial list, periodic resync
    NORMAL = 0  # a change seen on a watch, a retry
    HIGH = 100  # explicit urgent work


class QueueShutDownError(Exception):
    """The queue was shut down: no more keys will be handed out."""


class WorkQueue(Generic[K]):
    """See the module documentation. Not thread-safe: use it from one event loop.

    ``name`` labels the ``workqueue_*`` metrics; unnamed queues report no metrics (as client-go).
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        rate_limiter: RateLimiter | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ):
        self.name = name
        self._clock = clock
        self._limiter = rate_limiter if rate_limiter is not None else DEFAULT_PROFILE.build(clock)
        self._seq = itertools.count()
        # Ready keys: a heap of (-priority, seq, key) with lazy deletion; ``_queued`` maps each
        # ready key to the seq of its live heap entry (superseded entries are skipped on pop).
        self._heap: list[tuple[int, int, K]] = []
        self._queued: dict[K, int] = {}
        # Keys that need processing (ready or parked behind their in-flight run) -> priority.
        self._dirty: dict[K, int] = {}
        # Keys handed out and not yet done -> time handed out.
        self._processing: dict[K, float] = {}
        # add_after: a heap of (ready_at, seq, key) with lazy deletion, one live entry per key.
        self._waiting_heap: list[tuple[float, int, K]] = []
        self._waiting: dict[K, tuple[float, int, int]] = {}  # key -> (ready_at, seq, priority)
        self._added_at: dict[K, float] = {}
        self._getters: deque[anyio.Event] = deque()
        self._idle: anyio.Event | None = None
        self._shutting_down = False
        self._metrics = _Metrics(name, self) if name else None

    # -- adding ---------------------------------------------------------------------------------

    def add(self, key: K, priority: int = Priority.NORMAL) -> None:
        """Queue ``key`` unless it is already queued (then only raise its priority)."""
        if self._shutting_down:
            return
        current = self._dirty.get(key)
        if current is not None:
            if priority > current:
                self._dirty[key] = priority
                if key in self._queued:
                    self._push(key, priority)
            return
        self._dirty[key] = priority
        self._added_at.setdefault(key, self._clock.monotonic())
        if self._metrics:
            self._metrics.adds.inc()
        if key in self._processing:
            return  # parked: queued again by done()
        self._push(key, priority)
        self._wake_one()

    def add_after(self, key: K, delay: float, priority: int = Priority.NORMAL) -> None:
        """Queue ``key`` after ``delay`` seconds; an earlier pending deadline for it wins."""
        if self._shutting_down:
            return
        if self._metrics:
            self._metrics.retries.inc()
        if delay <= 0:
            self.add(key, priority)
            return
        ready_at = self._clock.monotonic() + delay
        existing = self._waiting.get(key)
        if existing is not None:
            old_ready, old_seq, old_priority = existing
            if old_ready <= ready_at:
                if priority > old_priority:
                    self._waiting[key] = (old_ready, old_seq, priority)
                return
            priority = max(priority, old_priority)
        seq = next(self._seq)
        self._waiting[key] = (ready_at, seq, priority)
        heapq.heappush(self._waiting_heap, (ready_at, seq, key))
        # A sleeping getter may be waiting for a later deadline: let one re-compute it.
        self._wake_one()

    def add_rate_limited(self, key: K, priority: int = Priority.NORMAL) -> None:
        """Queue ``key`` after its rate limiter's delay (counts one more failure)."""
        if self._shutting_down:
            return
        self.add_after(key, self._limiter.when(key), priority)

    def retry_after(self, key: K, seconds: float, priority: int = Priority.NORMAL) -> None:
        """Queue ``key`` after ``seconds`` (e.g. a cloud's Retry-After) without counting a failure."""
        self.add_after(key, seconds, priority)

    def forget(self, key: K) -> None:
        """Clear ``key``'s failure history. Call after a success; ``done`` is still needed."""
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """Failures of ``key`` on record since the last :meth:`forget`."""
        return self._limiter.num_requeues(key)

    # -- taking ---------------------------------------------------------------------------------

    def get_nowait(self) -> K | None:
        """The next ready key (now in processing), ``None`` if none is ready.

        Raises :class:`QueueShutDownError` once the queue is shut down.
        """
        if self._shutting_down:
            raise QueueShutDownError(f"work queue {self.name or '(unnamed)'} is shut down")
        self._promote_due()
        while self._heap:
            _, seq, key = heapq.heappop(self._heap)
            if self._queued.get(key) != seq:
                continue  # superseded by a higher-priority entry
            del self._queued[key]
            del self._dirty[key]
            now = self._clock.monotonic()
            self._processing[key] = now
            added = self._added_at.pop(key, now)
            if self._metrics:
                self._metrics.queue_duration.observe(now - added)
            return key
        return None

    async def get(self) -> K:
        """Wait for the next ready key; raise :class:`QueueShutDownError` once shut down."""
        while True:
            key = self.get_nowait()
            if key is not None:
                return key
            event = anyio.Event()
            self._getters.append(event)
            try:
                await self._clock.wait(event, self._next_ready_at())
            except BaseException:
                # Woken for an item but cancelled before taking it: pass the wake-up on.
                if event in self._getters:
                    self._getters.remove(event)
                else:
                    self._wake_one()
                raise
            if event in self._getters:
                self._getters.remove(event)

    def done(self, key: K) -> None:
        """Mark ``key`` processed; if it was re-added meanwhile, queue it again now."""
        started = self._processing.pop(key, None)
        if started is None:
            return
        if self._metrics:
            self._metrics.work_duration.observe(self._clock.monotonic() - started)
        priority = self._dirty.get(key)
        if priority is not None and not self._shutting_down:
            self._push(key, priority)
            self._wake_one()
        if not self._processing and self._idle is not None:
            self._idle.set()

    # -- shutdown -------------------------------------------------------------------------------

    def shut_down(self) -> None:
        """Stop: drop the backlog, ignore adds, make idle getters raise :class:`QueueShutDownError`."""
        self._shutting_down = True
        self._heap.clear()
        self._queued.clear()
        self._dirty.clear()
        self._waiting.clear()
        self._waiting_heap.clear()
        self._added_at.clear()
        while self._getters:
            self._getters.popleft().set()

    async def shut_down_with_drain(self) -> None:
        """:meth:`shut_down`, then wait until every in-flight key is ``done``."""
        self.shut_down()
        while self._processing:
            self._idle = anyio.Event()
            await self._idle.wait()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    # -- introspection --------------------------------------------------------------------------

    def __len__(self) -> int:
        """Keys ready to be handed out (not counting parked or waiting ones)."""
        return len(self._queued)

    @property
    def depth(self) -> int:
        """Keys that need processing: ready plus parked behind an in-flight run (client-go depth)."""
        return len(self._dirty)

    @property
    def processing(self) -> frozenset[K]:
        return frozenset(self._processing)

    @property
    def waiting(self) -> int:
        """Keys scheduled by :meth:`add_after` whose time has not come."""
        return len(self._waiting)

    def unfinished_work_seconds(self) -> float:
        now = self._clock.monotonic()
        return sum(now - started for started in self._processing.values())

    def longest_running_seconds(self) -> float:
        if not self._processing:
            return 0.0
        return self._clock.monotonic() - min(self._processing.values())

    # -- internals ------------------------------------------------------------------------------

    def _push(self, key: K, priority: int) -> None:
        seq = next(self._seq)
        self._queued[key] = seq
        heapq.heappush(self._heap, (-priority, seq, key))

    def _wake_one(self) -> None:
        if self._getters:
            self._getters.popleft().set()

    def _promote_due(self) -> None:
        if not self._waiting_heap:
            return
        now = self._clock.monotonic()
        while self._waiting_heap and self._waiting_heap[0][0] <= now:
            _, seq, key = heapq.heappop(self._waiting_heap)
            entry = self._waiting.get(key)
            if entry is None or entry[1] != seq:
                continue  # superseded by an earlier deadline
            del self._waiting[key]
            self.add(key, entry[2])

    def _next_ready_at(self) -> float | None:
        while self._waiting_heap:
            ready_at, seq, key = self._waiting_heap[0]
            entry = self._waiting.get(key)
            if entry is not None and entry[1] == seq:
                return ready_at
            heapq.heappop(self._waiting_heap)
        return None


class _Metrics:
    """The labelled ``workqueue_*`` children of one named queue."""

    def __init__(self, name: str, queue: WorkQueue[K]):
        self.adds = metrics.WORKQUEUE_ADDS.labels(name)
        self.retries = metrics.WORKQUEUE_RETRIES.labels(name)
        self.queue_duration = metrics.WORKQUEUE_QUEUE_DURATION.labels(name)
        self.work_duration = metrics.WORKQUEUE_WORK_DURATION.labels(name)
        # Gauges are computed at scrape time (client-go refreshes them every 500 ms); a weak
        # reference lets a replaced queue be collected (a new queue of the same name takes over).
        ref = weakref.ref(queue)
        metrics.WORKQUEUE_DEPTH.labels(name).set_function(lambda: _read(ref, "depth"))
        metrics.WORKQUEUE_UNFINISHED_WORK.labels(name).set_function(
            lambda: _read(ref, "unfinished")
        )
        metrics.WORKQUEUE_LONGEST_RUNNING.labels(name).set_function(lambda: _read(ref, "longest"))


def _read(ref: weakref.ref[WorkQueue[K]], what: str) -> float:
    queue = ref()
    if queue is None:
        return 0.0
    if what == "depth":
        return float(queue.depth)
    if what == "unfinished":
        return queue.unfinished_work_seconds()
    return queue.longest_running_seconds()
