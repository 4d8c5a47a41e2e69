"""How long operations of one kind take in one zone, learned from the polls that watched them.

An operation's duration is never reported: the only evidence is which polls found it pending
and which one found it done. What the waiting code needs is not the mean duration but *when to
poll first*: the moment by which most operations of that kind are done, a high quantile of their
duration. :class:`DurationEstimate` tracks that quantile as a stochastic approximation (the
classic quantile-tracking update, in log space so that it works alike for 1 s and 1 min): each
operation that its first poll found done lowers the estimate by a small step, each one it found
pending raises it by a step ``hit_rate / (1 - hit_rate)`` times
larger, so the estimate settles where that share of first polls finds the operation done. A
first poll sent late (held back by the rate limiter) says nothing, whatever it found.
Operations waited for at once were planned on the same estimate and end alike: each version of
the estimate moves it at most once in each direction, so fifty Services created together count as one
observation, not as fifty. The step adapts: it shrinks whenever the direction changes (fine
steps around the right value) and grows while evidence keeps pointing the same way (a quick
walk to a new value after the API got slower or faster). A raise never goes past the time a
later poll saw the operation done, so one slow outlier cannot throw the estimate far off.

The first operation of a kind is waited for on the fixed schedule; the middle of its bracket
(last poll that found it pending, first that found it done) seeds the estimate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import anyio

_ROUNDS_KEPT = 256


@dataclass(frozen=True)
class Poll:
    """One poll of an operation, in seconds since the write that started it was answered."""

    sent: float
    answered: float
    done: bool


@dataclass(frozen=True)
class EstimateTuning:
    """Parameters of the learning; the defaults suit operations of a fraction of a second to
    minutes."""

    hit_rate: float = 0.95
    """The share of operations the first poll should find done."""
    initial_step: float = 0.4
    min_step: float = 0.02
    max_step: float = 0.8
    """Bounds of the log-space step (0.02: ±2% moves at most, once settled)."""
    grow_after_misses: int = 2
    grow_after_hits: int = 12
    """Consecutive updates in one direction after which the step doubles."""
    min_estimate: float = 0.05
    max_estimate: float = 60.0
    """Bounds of the first-poll delay, in seconds."""
    lateness_slack: float = 0.05
    """A first poll sent later than its plan by more than this share (plus 5 ms) does not
    count."""

    def __post_init__(self) -> None:
        if not 0.5 <= self.hit_rate < 1.0:
            raise ValueError(f"hit_rate must be in [0.5, 1), got {self.hit_rate}")
        if not 0 < self.min_step <= self.initial_step <= self.max_step:
            raise ValueError("steps must satisfy 0 < min_step <= initial_step <= max_step")
        if not 0 < self.min_estimate < self.max_estimate:
            raise ValueError("estimates must satisfy 0 < min_estimate < max_estimate")


class DurationEstimate:
    """The first-poll delay for one kind of operation in one zone, learned as operations end."""

    def __init__(self, tuning: EstimateTuning | None = None):
        self.tuning = tuning or EstimateTuning()
        self._log: float | None = None
        self._step = self.tuning.initial_step
        self._direction = 0  # +1 raising, -1 lowering, 0 none yet
        self._streak = 0
        self.learned = 0
        """Operations that changed the estimate."""
        self._rounds: dict[tuple[int, bool], None] = {}  # versions that moved it, oldest first
        self.version = 0
        """Counts the changes of the estimate: waits planned on one version are one round."""
        self.probe: anyio.Event | None = None
        """Set while, with nothing learned yet, one operation of the kind is being watched on
        the fixed schedule; others wait for it (see :mod:`.operations`)."""

    def __repr__(self) -> str:
        return f"DurationEstimate(first_poll={self.first_poll!r}, learned={self.learned})"

    @property
    def first_poll(self) -> float | None:
        """Seconds after an operation starts when it is most likely done; None before any
        operation of the kind ended."""
        return None if self._log is None else math.exp(self._log)

    def _set(self, seconds: float) -> None:
        t = self.tuning
        self._log = math.log(min(t.max_estimate, max(t.min_estimate, seconds)))
        self.version += 1

    def learn(self, polls: Sequence[Poll], planned: float | None = None, version: int = -1) -> None:
        """Learn from the polls of one operation that ended (the last poll found it done),
        whose first poll was planned ``planned`` seconds after its start on :attr:`version`
        ``version`` of the estimate (None: the fixed schedule, which only seeds an estimate).

        A first poll sent as planned that found the operation done lowers the estimate; one
        that found it pending raises it. A first poll the rate limiter held back says nothing,
        whatever it found. Operations waited for at once share a plan and their outcomes are
        alike: the waits planned on one version of the estimate move it at most once in each
        direction, so a burst of them counts as one round, not as a trend.
        """
        if not polls or not polls[-1].done:
            return
        if self._log is None:
            self._seed(polls)
            return
        if planned is None or planned <= 0:
            return
        first, done = polls[0], polls[-1]
        if first.sent > planned * (1 + self.tuning.lateness_slack) + 0.005:
            return
        round_ = (version, first.done)
        if round_ in self._rounds:
            return
        self._rounds[round_] = None
        if len(self._rounds) > _ROUNDS_KEPT:
            self._rounds.pop(next(iter(self._rounds)))
        if first.done:
            self._move(-1, cap=None)
        else:
            # Pending when the estimate said done: raise it, but not beyond the poll that saw
            # the operation done (the middle of its round trip: a slow answer is no slow
            # operation).
            current = math.exp(self._log)
            self._move(+1, cap=math.log(max((done.sent + done.answered) / 2, current)))

    def _seed(self, polls: Sequence[Poll]) -> None:
        # Waited for on the fixed schedule: the middle of the bracket its polls put around its
        # duration (last poll that found it pending, first that found it done).
        pending = [p.sent for p in polls if not p.done]
        low = max(pending, default=0.0)
        self._set((low + polls[-1].answered) / 2)
        self.learned += 1

    def _move(self, direction: int, cap: float | None) -> None:
        assert self._log is not None
        t = self.tuning
        if direction == self._direction:
            self._streak += 1
            limit = t.grow_after_misses if direction > 0 else t.grow_after_hits
            if self._streak >= limit:
                self._step = min(t.max_step, self._step * 2)
                self._streak = 0
        else:
            if self._direction != 0:
                self._step = max(t.min_step, self._step / 2)
            self._direction = direction
            self._streak = 1
        if direction > 0:
            target = self._log + self._step * t.hit_rate
            if cap is not None:
                target = max(self._log, min(target, cap))
        else:
            target = self._log - self._step * (1 - t.hit_rate)
        self._set(math.exp(target))
        self.learned += 1


class DurationEstimates:
    """One :class:`DurationEstimate` per operation kind (``create-load-balancer``, ...)."""

    def __init__(self, tuning: EstimateTuning | None = None):
        self.tuning = tuning or EstimateTuning()
        self._by_kind: dict[str, DurationEstimate] = {}

    def __getitem__(self, kind: str) -> DurationEstimate:
        estimate = self._by_kind.get(kind)
        if estimate is None:
            estimate = self._by_kind[kind] = DurationEstimate(self.tuning)
        return estimate

    def kinds(self) -> dict[str, DurationEstimate]:
        return dict(self._by_kind)
