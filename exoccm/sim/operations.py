"""Asynchronous Operations: every write answers ``pending`` and completes after a latency.

Completion is lazy: nothing runs in the background. Before serving a call (and before the
control surface reads state) the simulator calls :meth:`OperationScheduler.settle`, which
finishes every operation whose deadline has passed on the simulator's clock, oldest first.
With a latency of 0 an operation is therefore complete for every call after the write.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from exoccm.sim.clock import Clock
from exoccm.sim.faults import Fault
from exoccm.sim.identity import IdSource
from exoccm.sim.render import operation as render_operation
from exoccm.sim.state import Fields, Zone

Latency = float | tuple[float, float]
"""Seconds until an operation completes: fixed, or drawn uniformly from ``(low, high)``."""


def check_latency(latency: object) -> Latency:
    """Return ``latency`` if it is usable, else raise ValueError naming the problem.

    Takes any object: latencies also come from seed files and the admin API.
    """
    bounds = latency if isinstance(latency, tuple) else (latency, latency)
    if len(bounds) != 2 or not all(
        isinstance(b, int | float) and not isinstance(b, bool) and math.isfinite(b) and b >= 0
        for b in bounds
    ):
        raise ValueError(
            f"an operation latency is seconds >= 0 or a (low, high) pair, not {latency!r}"
        )
    low, high = float(bounds[0]), float(bounds[1])
    if low > high:
        raise ValueError(f"latency range {latency!r} has low > high")
    return (low, high) if isinstance(latency, tuple) else low


@dataclass(order=True, slots=True)
class _Pending:
    due: float
    sequence: int
    finish: Callable[[], None] = field(compare=False)


class OperationScheduler:
    """Creates Operations, decides their outcome from the injected fault, completes them."""

    def __init__(self, clock: Clock, ids: IdSource, rng: random.Random, latency: Latency) -> None:
        self._clock = clock
        self._ids = ids
        self._rng = rng
        self._default_latency = check_latency(latency)
        self._latencies: dict[str, Latency] = {}
        self._queue: list[_Pending] = []
        self._sequence = itertools.count()
        # The due time of the operation settle() is completing, if any: when its change happened.
        self.completing: float | None = None

    def set_latency(self, latency: Latency, operation_id: str | None = None) -> None:
        """Set the default latency, or the one of ``operation_id`` (e.g. create-load-balancer)."""
        checked = check_latency(latency)
        if operation_id is None:
            self._default_latency = checked
        else:
            self._latencies[operation_id] = checked

    def _latency(self, operation_id: str) -> float:
        latency = self._latencies.get(operation_id, self._default_latency)
        if isinstance(latency, tuple):
            return self._rng.uniform(*latency)
        return float(latency)

    def start(
        self,
        zone: Zone,
        *,
        operation_id: str,
        load_balancer_id: str,
        fault: Fault | None,
        on_success: Callable[[], None],
        on_failure: Callable[[], None],
    ) -> Fields:
        """Record a pending Operation and schedule its end; return its API representation.

        ``on_success`` makes the requested change (it also runs on ``timeout``: the work was
        done, only the operation says otherwise); ``on_failure`` marks the target failed.
        Both must cope with the target having vanished meanwhile.
        """
        op: Fields = {
            "id": self._ids.uuid(),
            "state": "pending",
            "reference": {
                "id": load_balancer_id,
                "link": f"/v2/load-balancer/{load_balancer_id}",
                "command": "get-load-balancer",
            },
        }
        zone.operations[op["id"]] = op
        rendered = render_operation(op)
        if fault is not None and fault.kind == "operation-stuck":
            if not fault.seconds:
                return rendered  # pending for ever
            # Stuck for a while, then it ends as if nothing had happened.
            delay = fault.seconds
            fault = None
        else:
            delay = self._latency(operation_id)

        def finish() -> None:
            if fault is None:
                on_success()
                op["state"] = "success"
            elif fault.kind == "operation-timeout":
                on_success()
                op.update(state="timeout", reason=fault.reason, message=fault.message)
            else:
                on_failure()
                op.update(state="failure", reason=fault.reason, message=fault.message)

        due = self._clock.monotonic() + delay
        heapq.heappush(self._queue, _Pending(due, next(self._sequence), finish))
        return rendered

    def settle(self) -> None:
        """Complete every operation whose deadline has passed, in deadline order."""
        now = self._clock.monotonic()
        while self._queue and self._queue[0].due <= now:
            pending = heapq.heappop(self._queue)
            self.completing = pending.due
            try:
                pending.finish()
            finally:
                self.completing = None
