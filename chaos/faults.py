"""Exoscale faults for the campaign: phases of a few moderate, probabilistic rules.

Every phase starts by clearing the simulator's rules, then (nine times in ten) injects two to
four rules drawn from the menu below, each firing on a few percent of matching calls (lies on
a listing: 10-50 %), plus, two times in five, a lie when the draw had none. Stuck
operations are stuck for a while (longer than exoccm's operation deadline, then they complete),
never for ever: a cloud operation that never ends would make convergence impossible by
definition, not because of exoccm.

Listings lie as an eventually consistent read replica would: empty, with some items left out,
or showing the zone as it was a few seconds ago (a real cloud's replicas lag seconds, not
minutes). Mostly ``list-load-balancers``, which the service controller reads; sometimes the
instance and Instance Pool listings its pool lookups read, or all of them at once.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from exoccm.testing.simprocess import SimProcess

Rule = dict[str, Any]

MALFORMED_TARGETS = ("get-load-balancer", "list-load-balancers", "get-operation", "*")
# Weighted towards the NLB listing; "*" reaches every list operation and nothing else.
LISTING_TARGETS = (
    "list-load-balancers",
    "list-load-balancers",
    "list-load-balancers",
    "list-instances",
    "list-instance-pools",
    "*",
)
LAG_SECONDS = (2.0, 8.0)
# Longer than exoccm's operation deadline in the campaign (EXOCCM_OPERATION_TIMEOUT=20s).
STUCK_SECONDS = (25.0, 40.0)
DETAILS = ("status", "seconds", "share", "variant")  # fault parameters worth a progress line


def _http(rng: random.Random) -> Rule:
    status = rng.choice((500, 502, 503))
    return {"fault": {"kind": "http", "status": status}, "probability": rng.uniform(0.05, 0.12)}


def _rate_limited(rng: random.Random) -> Rule:
    return {
        "fault": {"kind": "rate-limited", "retry_after": rng.choice((0.5, 1.0, 2.0))},
        "probability": rng.uniform(0.05, 0.1),
    }


def _hang(rng: random.Random) -> Rule:
    # Around exoccm's request timeout (EXOCCM_API_TIMEOUT=5s in the campaign): some hangs
    # are merely slow answers, some become timeouts; with applied=True the cloud did the work.
    fault = {
        "kind": "hang",
        "seconds": round(rng.uniform(2.0, 8.0), 1),
        "applied": rng.random() < 0.5,
    }
    return {"fault": fault, "probability": rng.uniform(0.02, 0.05)}


def _operation_failure(rng: random.Random) -> Rule:
    fault = {"kind": "operation-failure", "reason": "fault", "message": "injected by the campaign"}
    return {"fault": fault, "probability": rng.uniform(0.08, 0.15)}


def _operation_timeout(rng: random.Random) -> Rule:
    return {"fault": {"kind": "operation-timeout"}, "probability": rng.uniform(0.05, 0.1)}


def _operation_stuck(rng: random.Random, seconds: tuple[float, float] = STUCK_SECONDS) -> Rule:
    fault = {"kind": "operation-stuck", "seconds": round(rng.uniform(*seconds), 1)}
    return {"fault": fault, "probability": rng.uniform(0.04, 0.08)}


def _malformed(rng: random.Random) -> Rule:
    variant = rng.choice(("broken-json", "missing-field", "wrong-type"))
    return {
        "operation_id": rng.choice(MALFORMED_TARGETS),
        "fault": {"kind": "malformed", "variant": variant},
        "probability": rng.uniform(0.03, 0.08),
    }


def _listing_empty(rng: random.Random) -> Rule:
    return {
        "operation_id": rng.choice(LISTING_TARGETS),
        "fault": {"kind": "listing-empty"},
        "probability": rng.uniform(0.1, 0.25),
    }


def _listing_partial(rng: random.Random) -> Rule:
    return {
        "operation_id": rng.choice(LISTING_TARGETS),
        "fault": {"kind": "listing-partial", "share": round(rng.uniform(0.2, 0.6), 2)},
        "probability": rng.uniform(0.15, 0.4),
    }


def _listing_lagging(rng: random.Random) -> Rule:
    return {
        "operation_id": rng.choice(LISTING_TARGETS),
        "fault": {"kind": "listing-lagging", "seconds": round(rng.uniform(*LAG_SECONDS), 1)},
        "probability": rng.uniform(0.2, 0.5),
    }


LIES = ("listing-empty", "listing-partial", "listing-lagging")

MENU = {
    "http": _http,
    "rate-limited": _rate_limited,
    "hang": _hang,
    "operation-failure": _operation_failure,
    "operation-timeout": _operation_timeout,
    "operation-stuck": _operation_stuck,
    "malformed": _malformed,
    "listing-empty": _listing_empty,
    "listing-partial": _listing_partial,
    "listing-lagging": _listing_lagging,
}


@dataclass
class FaultPhases:
    sim: SimProcess
    rng: random.Random
    quiet_probability: float = 0.1
    stuck_seconds: tuple[float, float] = STUCK_SECONDS
    extra_lie_probability: float = 0.4  # a phase drawn without a lie gets one this often
    phases: int = 0
    rules: Counter[str] = field(default_factory=Counter)
    # (monotonic time it was injected, seconds) of each operation-stuck rule, oldest first
    stuck_rules: list[tuple[float, float]] = field(default_factory=list)

    def next_phase(self) -> str:
        """Clear the rules and inject a new set; a line for the progress log."""
        self.sim.call("clear_faults")
        self.phases += 1
        if self.rng.random() < self.quiet_probability:
            return "faults: quiet phase (none)"
        kinds = self.rng.sample(sorted(MENU), self.rng.randint(2, 4))
        if not set(kinds) & set(LIES) and self.rng.random() < self.extra_lie_probability:
            kinds.append(self.rng.choice(LIES))
        described = []
        for kind in kinds:
            if kind == "operation-stuck":
                rule = _operation_stuck(self.rng, self.stuck_seconds)
            else:
                rule = MENU[kind](self.rng)
            rule.setdefault("operation_id", "*")
            rule["probability"] = round(rule["probability"], 3)
            self.sim.call("inject", **rule)
            self.rules[kind] += 1
            if kind == "operation-stuck":
                self.stuck_rules.append((time.monotonic(), rule["fault"]["seconds"]))
            detail = "".join(f" {k}={v}" for k, v in rule["fault"].items() if k in DETAILS)
            described.append(f"{kind}@{rule['operation_id']}{detail} p={rule['probability']}")
        return "faults: " + ", ".join(described)

    def stuck_until(self, requests: list[dict[str, Any]]) -> float:
        """When the last operation a stuck rule held will have completed (monotonic time).

        A stuck operation completes after the storm and may then land stale values over newer
        ones (the simulator completes it as it was sent); exoccm repairing that is drift repair,
        not a write of a converged system, so the settle waits for it. The simulator's clock and
        the campaign's are the same host's monotonic clock.
        """
        due = 0.0
        for record in requests:
            if "operation-stuck" not in (record.get("fault") or ""):
                continue
            sent = float(record["at"])
            held = [seconds for at, seconds in self.stuck_rules if at <= sent]
            due = max(due, sent + (held[-1] if held else self.stuck_seconds[1]))
        return due

    def clear(self) -> None:
        self.sim.call("clear_faults")


def fired(requests: list[dict[str, Any]]) -> tuple[Counter[str], Counter[str]]:
    """Faults that shaped calls, from the simulator's request log: by kind and by name."""
    by_name: Counter[str] = Counter()
    for record in requests:
        for name in (record.get("fault") or "").split("+"):
            if name:
                by_name[name] += 1
    by_kind: Counter[str] = Counter()
    for name, count in by_name.items():
        by_kind[_kind(name)] += count
    return by_kind, by_name


def _kind(name: str) -> str:
    for prefix in ("http", "malformed"):
        if name.startswith(prefix + "-"):
            return prefix
    return name
