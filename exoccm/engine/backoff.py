"""Exponential backoff with jitter for reconnect loops (client-go's reflector backoff manager)."""

from __future__ import annotations

import random

from exoccm.engine.clock import SYSTEM_CLOCK, Clock


class Backoff:
    """Delays growing ``initial · factor^n`` with up to ``jitter`` times extra, capped at ``cap``.

    The sequence starts over when ``reset_after`` seconds have passed since the previous failure,
    so a component that has been healthy for a while retries quickly again. client-go's reflector
    uses 0.8 s → 30 s, x2, jitter 1.0, reset after 2 min (about 0.22 QPS against a sick
    apiserver); unlike client-go we apply the cap after the jitter, so no delay exceeds ``cap``.
    """

    def __init__(
        self,
        initial: float = 0.8,
        cap: float = 30.0,
        *,
        factor: float = 2.0,
        jitter: float = 1.0,
        reset_after: float = 120.0,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ):
        if initial <= 0 or cap < initial or factor < 1 or jitter < 0:
            raise ValueError(
                f"backoff needs 0 < initial <= cap, factor >= 1, jitter >= 0 "
                f"(got initial={initial}, cap={cap}, factor={factor}, jitter={jitter})"
            )
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self.reset_after = reset_after
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._current = initial
        self._last_failure: float | None = None

    def next_delay(self) -> float:
        """Record a failure and return how long to wait before the next attempt."""
        now = self._clock.monotonic()
        if self._last_failure is not None and now - self._last_failure > self.reset_after:
            self._current = self.initial
        self._last_failure = now
        base = self._current
        self._current = min(self.cap, self._current * self.factor)
        return min(self.cap, base * (1.0 + self._rng.random() * self.jitter))

    def reset(self) -> None:
        """Start the sequence over (e.g. after a clearly successful attempt)."""
        self._current = self.initial
        self._last_failure = None
