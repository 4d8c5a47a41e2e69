"""Operation polling on virtual time: polls per operation and how late the end is seen, for the
fixed schedule and for the learned one.

Usage::

    .venv/bin/python bench/poll_schedule.py --operations 300

Each case waits for ``--operations`` operations one after the other with exoccm's own waiting
code (``exoccm.exoscale.operations.wait_for_operation``) on a virtual clock: an operation is
done ``duration`` seconds after it started, and each poll is answered after ``--rtt`` seconds.
``fixed`` waits without history (0.2 s, then doubling, the schedule of a process that has not
seen an operation of that kind end yet); ``learned`` keeps one estimate across the operations,
as a zone's client does. The first 20 learned operations are reported apart (``learning``).
Durations: steady (1 s, 3 s), varying (uniform 0.8-1.6 s, log-normal around 1 s), and a change
(1 s, then 3 s, then 1 s again; ``after_change`` are the 60 operations after each change).
Prints one JSON document. No network, no real sleeping: it runs in a few seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import structlog

from exoccm.kube.objects import Obj

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exoccm.exoscale.estimates import DurationEstimate
from exoccm.exoscale.models import Operation
from exoccm.exoscale.operations import WaitPolicy, wait_for_operation

Durations = Callable[[random.Random, int], float]

CASES: dict[str, Durations] = {
    "steady_1s": lambda _rng, _i: 1.0,
    "steady_3s": lambda _rng, _i: 3.0,
    "uniform_0.8_1.6s": lambda rng, _i: rng.uniform(0.8, 1.6),
    "lognormal_1s_sigma_0.3": lambda rng, _i: rng.lognormvariate(0.0, 0.3),
}
LEARNING = 20


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def wait_once(
    time: VirtualClock, duration: float, rtt: float, estimate: DurationEstimate | None
) -> tuple[int, float]:
    """Polls and lateness of one operation of ``duration`` seconds."""
    started = time.now
    polls = 0

    async def poll(operation_id: str) -> Operation:
        nonlocal polls
        polls += 1
        time.now += rtt / 2
        done = time.now - started >= duration
        time.now += rtt / 2
        return Operation(id=operation_id, state="success" if done else "pending")

    async def run() -> None:
        await wait_for_operation(
            Operation(id="op", state="pending"),
            poll=poll,
            policy=WaitPolicy(),
            clock=time.clock,
            sleep=time.sleep,
            name="create-load-balancer",
            zone="bench",
            estimate=estimate,
        )

    anyio.run(run)
    return polls, time.now - started - duration


def summary(results: list[tuple[int, float]]) -> Obj:
    if not results:
        return {}
    return {
        "operations": len(results),
        "polls_per_operation": round(statistics.fmean(p for p, _ in results), 3),
        "first_poll_done_share": round(sum(1 for p, _ in results if p == 1) / len(results), 3),
        "lateness_seconds_mean": round(statistics.fmean(late for _, late in results), 3),
        "lateness_seconds_p90": round(
            sorted(late for _, late in results)[int(0.9 * (len(results) - 1))], 3
        ),
    }


def run_case(durations: Durations, count: int, rtt: float, seed: int) -> Obj:
    rng = random.Random(seed)
    time = VirtualClock()
    fixed = [wait_once(time, durations(rng, i), rtt, None) for i in range(count)]
    rng = random.Random(seed)
    estimate = DurationEstimate()
    learned = [wait_once(time, durations(rng, i), rtt, estimate) for i in range(count)]
    return {
        "fixed": summary(fixed),
        "learned": summary(learned[LEARNING:]),
        "learning": summary(learned[:LEARNING]),
        "learned_first_poll_seconds": round(estimate.first_poll or 0.0, 3),
    }


def run_change(count: int, rtt: float) -> Obj:
    phases = (1.0, 3.0, 1.0)
    time = VirtualClock()
    estimate = DurationEstimate()
    out: Obj = {}
    for index, duration in enumerate(phases):
        results = [wait_once(time, duration, rtt, estimate) for _ in range(count)]
        label = f"phase_{index + 1}_{duration:g}s"
        out[label] = {
            "after_change": summary(results[:60]) if index else summary(results[LEARNING:60]),
            "settled": summary(results[60:]),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=300)
    parser.add_argument("--rtt", type=float, default=0.005, help="poll round trip (s)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    result = {
        "benchmark": "poll_schedule",
        "operations_per_case": args.operations,
        "poll_round_trip_seconds": args.rtt,
        "cases": {
            name: run_case(durations, args.operations, args.rtt, args.seed)
            for name, durations in CASES.items()
        },
        "change_1s_3s_1s": run_change(args.operations, args.rtt),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
