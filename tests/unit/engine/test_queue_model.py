"""Model-based test: the work queue against a straightforward reference model (fake clock)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exoccm.engine.clock import FakeClock
from exoccm.engine.queue import Priority, QueueShutDownError, WorkQueue
from exoccm.engine.ratelimit import RateLimitProfile

KEYS = st.sampled_from(["a", "b", "c", "d", "e"])
PRIORITIES = st.sampled_from(list(Priority))
DELAYS = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 7.0])
BASE, CAP = 1.0, 8.0


@dataclass
class Model:
    """The queue's contract written as plainly as possible: dicts and sorting, no heaps."""

    now: float = 0.0
    seq: itertools.count[int] = field(default_factory=itertools.count)
    ready: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (priority, seq)
    dirty: dict[str, int] = field(default_factory=dict)
    processing: set[str] = field(default_factory=set)
    waiting: dict[str, tuple[float, int, int]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    shut: bool = False

    def add(self, key: str, priority: int) -> None:
        if self.shut:
            return
        if key in self.dirty:
            if priority > self.dirty[key]:
                self.dirty[key] = priority
                if key in self.ready:
                    self.ready[key] = (priority, next(self.seq))
            return
        self.dirty[key] = priority
        if key not in self.processing:
            self.ready[key] = (priority, next(self.seq))

    def add_after(self, key: str, delay: float, priority: int) -> None:
        if self.shut:
            return
        if delay <= 0:
            self.add(key, priority)
            return
        ready_at = self.now + delay
        if key in self.waiting:
            old_ready, old_seq, old_priority = self.waiting[key]
            if old_ready <= ready_at:
                self.waiting[key] = (old_ready, old_seq, max(priority, old_priority))
                return
            priority = max(priority, old_priority)
        self.waiting[key] = (ready_at, next(self.seq), priority)

    def add_rate_limited(self, key: str, priority: int) -> None:
        if self.shut:
            return
        failures = self.failures.get(key, 0)
        self.failures[key] = failures + 1
        self.add_after(key, min(BASE * 2**failures, CAP), priority)

    def get(self) -> str | None:
        due = sorted(
            (ready_at, seq, key, priority)
            for key, (ready_at, seq, priority) in self.waiting.items()
            if ready_at <= self.now
        )
        for _, _, key, priority in due:
            del self.waiting[key]
            self.add(key, priority)
        if not self.ready:
            return None
        key = min(self.ready, key=lambda k: (-self.ready[k][0], self.ready[k][1]))
        del self.ready[key]
        del self.dirty[key]
        self.processing.add(key)
        return key

    def done(self, key: str) -> None:
        if key not in self.processing:
            return
        self.processing.remove(key)
        if key in self.dirty and not self.shut:
            self.ready[key] = (self.dirty[key], next(self.seq))

    def shut_down(self) -> None:
        self.shut = True
        self.ready.clear()
        self.dirty.clear()
        self.waiting.clear()


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(start=0.0)
        limiter = RateLimitProfile(base_delay=BASE, max_delay=CAP, qps=None).build(self.clock)
        self.queue: WorkQueue[str] = WorkQueue(clock=self.clock, rate_limiter=limiter)
        self.model = Model()

    @rule(key=KEYS, priority=PRIORITIES)
    def add(self, key: str, priority: int) -> None:
        self.queue.add(key, priority)
        self.model.add(key, priority)

    @rule(key=KEYS, delay=DELAYS, priority=PRIORITIES)
    def add_after(self, key: str, delay: float, priority: int) -> None:
        self.queue.add_after(key, delay, priority)
        self.model.add_after(key, delay, priority)

    @rule(key=KEYS, priority=PRIORITIES)
    def add_rate_limited(self, key: str, priority: int) -> None:
        self.queue.add_rate_limited(key, priority)
        self.model.add_rate_limited(key, priority)

    @rule(key=KEYS)
    def forget(self, key: str) -> None:
        self.queue.forget(key)
        self.model.failures.pop(key, None)

    @rule()
    def get(self) -> None:
        if self.model.shut:
            try:
                self.queue.get_nowait()
            except QueueShutDownError:
                return
            raise AssertionError("get_nowait after shutdown must raise QueueShutDownError")
        expected = self.model.get()
        got = self.queue.get_nowait()
        assert got == expected

    @rule(data=st.data())
    def done(self, data: st.DataObject) -> None:
        candidates = sorted(self.model.processing) or ["a"]
        key = data.draw(st.sampled_from(candidates))
        self.queue.done(key)
        self.model.done(key)

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.5, 8.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.model.now += seconds

    @rule()
    def shut_down(self) -> None:
        self.queue.shut_down()
        self.model.shut_down()

    @invariant()
    def matches_the_model(self) -> None:
        assert len(self.queue) == len(self.model.ready)
        assert self.queue.depth == len(self.model.dirty)
        assert self.queue.processing == frozenset(self.model.processing)
        assert self.queue.waiting == len(self.model.waiting)
        for key in "abcde":
            assert self.queue.num_requeues(key) == self.model.failures.get(key, 0)

    @invariant()
    def ready_keys_are_not_in_processing(self) -> None:
        assert not set(self.model.ready) & self.model.processing


QueueMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)
TestQueueModel = QueueMachine.TestCase
