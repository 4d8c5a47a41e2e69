"""Single-Service latency: create → ingress IP for one Service, minus the cloud's own latency.

Usage::

    .venv/bin/python bench/single_service.py --runs 5 --latency 1.0

exoccm at its default settings, the simulator completing every operation ``--latency`` seconds
after its write. Each run creates one LoadBalancer Service on an otherwise idle system and
watches it until it shows an IP. An NLB needs two operations one after the other (create the
NLB, then add its service), so ``2 * latency`` of each run belongs to the cloud; the rest is
exoccm's overhead: reacting to the watch event, requests, the operation-polling granularity,
and writing the status. From the simulator's request log each run is split into

* ``react``: Service created → create-load-balancer received;
* ``first_operation``: create-load-balancer → add-service-to-load-balancer received;
* ``second_operation``: add-service → the last get-load-balancer (the NLB as it is afterwards);
* ``status``: that get → the IP seen in a watch of the Service.

Prints one JSON document with the median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    NAMESPACE,
    Kube,
    World,
    lb_service,
    log,
    machine,
    run_and_print,
    wait_for_leader,
    wait_quiet,
)

from exoccm.exoscale.operations import poll_delay
from exoccm.kube.resources import SERVICES

Obj = dict[str, Any]


def detection_time(latency: float) -> float:
    """When exoccm's poll schedule first sees an operation of ``latency`` seconds done."""
    elapsed, attempt = 0.0, 0
    while elapsed < latency:
        elapsed += poll_delay(attempt, elapsed)
        attempt += 1
    return elapsed


def _first_at(records: list[Obj], operation: str, *, last: bool = False) -> float:
    times = [float(r["at"]) for r in records if r.get("operation_id") == operation]
    if not times:
        raise RuntimeError(f"no {operation} call in the run")
    return max(times) if last else min(times)


async def one_run(kube: Kube, world: World, name: str, timeout: float) -> Obj:
    start_index = len(world.request_log())
    async with kube.ingress_watch() as ingress:
        sent = time.monotonic()
        await kube.create(SERVICES.path(NAMESPACE), lb_service(name))
        key = f"{NAMESPACE}/{name}"
        if not await ingress.wait_for([key], sent + timeout):
            raise RuntimeError(f"{name} got no IP within {timeout}s")
        seen = ingress.seen[key]
    records = world.request_log()[start_index:]
    create_at = _first_at(records, "create-load-balancer")
    add_at = _first_at(records, "add-service-to-load-balancer")
    last_get = _first_at(records, "get-load-balancer", last=True)
    return {
        "create_to_ip": seen - sent,
        "react": create_at - sent,
        "first_operation": add_at - create_at,
        "second_operation": last_get - add_at,
        "status": seen - last_get,
        "calls": len(records),
    }


async def measure(args: argparse.Namespace, world: World) -> Obj:
    world.exoccm()
    runs: list[Obj] = []
    async with Kube(world.plane) as kube:
        await wait_for_leader(kube)
        for i in range(args.runs):
            await wait_quiet(world, quiet=1.0, timeout=30)
            run = await one_run(kube, world, f"single-{i}", args.timeout)
            log(f"run {i}: {run['create_to_ip']:.2f}s")
            runs.append(run)

    def median(field: str) -> float:
        return round(statistics.median(float(r[field]) for r in runs), 3)

    cloud = 2 * args.latency
    total = median("create_to_ip")
    polling = 2 * (detection_time(args.latency) - args.latency)
    return {
        "benchmark": "single_service",
        "machine": machine(),
        "runs": args.runs,
        "settings": "exoccm defaults",
        "operation_latency_seconds": args.latency,
        "create_to_ip_seconds": {
            "median": total,
            "min": round(min(r["create_to_ip"] for r in runs), 3),
            "max": round(max(r["create_to_ip"] for r in runs), 3),
        },
        "cloud_latency_seconds": cloud,
        "exoccm_overhead_seconds_median": round(total - cloud, 3),
        "of_which_poll_granularity_seconds": round(polling, 3),
        "breakdown_median_seconds": {
            f: median(f) for f in ("react", "first_operation", "second_operation", "status")
        },
        "calls_per_run_median": statistics.median(r["calls"] for r in runs),
        "upstream_baseline_computed": {
            "computed_not_measured": True,
            "create_to_ip_seconds": 2 * max(5.0, args.latency),
            "why": "the first operation poll comes after 5 s, twice",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=1.0, help="operation latency (s)")
    parser.add_argument("--timeout", type=float, default=60.0, help="per run (s)")
    args = parser.parse_args()
    run_and_print(World(latency=args.latency, nodes=3), measure, args)


if __name__ == "__main__":
    main()
