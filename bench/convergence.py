"""Convergence: N LoadBalancer Services created at once → time until all have an IP, calls each.

Usage::

    .venv/bin/python bench/convergence.py --services 1000 --rate-limit 100 --burst 100 --workers 50
    .venv/bin/python bench/convergence.py --services 100          # exoccm's default settings

A real etcd + kube-apiserver, the Exoscale simulator as a process (every operation completes
``--latency`` seconds after its write) and exoccm as a process. After exoccm holds its Lease, the
benchmark creates ``--services`` Services of type LoadBalancer (32 requests in flight) and watches
them until each shows an ingress IP. Prints one JSON document:

* ``seconds_to_all_ips``: from the first create request to the last IP; per-Service
  create → IP percentiles;
* ``calls_per_service``: Exoscale calls by operation (from the simulator's request log) divided
  by N, next to the API's minimum (create, one poll, add-service, one poll; lists amortized);
* ``floor_seconds``: max(the two sequential operations, minimum calls / rate limit after the
  burst), and the same with exoccm's actual call count;
* ``upstream_baseline_computed``: the upstream design (1 worker, no client rate limit, first
  operation poll after 5 s) computed from the same calls and latency: N * 2 * max(5 s, latency).
  It is computed, not measured;
* ``kube_writes_per_service``: apiserver write requests (from its ``apiserver_request_total``),
  in all and without the Events;
* ``polls_per_operation``: get-operation calls per NLB write;
* ``targets``: calls per Service <= 4.5, all IPs within 1.2x the floor, Kubernetes writes per
  Service (Events aside) <= 3, each with whether it was met.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import anyio

from exoccm.kube.objects import Obj

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    Kube,
    World,
    apiserver_writes,
    calls_by_operation,
    counter_delta,
    create_and_wait,
    exoccm_writes,
    lb_service,
    log,
    machine,
    percentile,
    run_and_print,
    wait_for_leader,
)

#: The API's minimum per Service: create, one poll of its operation, add-service, one poll.
MIN_CALLS_PER_SERVICE = {
    "create-load-balancer": 1,
    "get-operation": 2,
    "add-service-to-load-balancer": 1,
}
#: Amortized lists a controller needs once per zone (NLBs, instances to infer the pool).
MIN_LISTS = {"list-load-balancers": 1, "list-instances": 1}
UPSTREAM_FIRST_POLL = 5.0
DEFAULTS = {"rate_limit": 10.0, "burst": 20, "workers": 10}
NLB_WRITES = ("create-load-balancer", "add-service-to-load-balancer")
TARGET_CALLS_PER_SERVICE = 4.5
TARGET_FLOOR_RATIO = 1.2
TARGET_KUBE_WRITES_PER_SERVICE = 3.0


def targets(calls_per_service: float, seconds: float | None, floor: float, writes: float) -> Obj:
    ratio = round(seconds / floor, 2) if seconds is not None and floor > 0 else None
    return {
        "calls_per_service": {
            "value": calls_per_service,
            "target": TARGET_CALLS_PER_SERVICE,
            "met": calls_per_service <= TARGET_CALLS_PER_SERVICE,
        },
        "seconds_over_floor": {
            "value": ratio,
            "target": TARGET_FLOOR_RATIO,
            "met": ratio is not None and ratio <= TARGET_FLOOR_RATIO,
        },
        "kube_writes_per_service_without_events": {
            "value": writes,
            "target": TARGET_KUBE_WRITES_PER_SERVICE,
            "met": writes <= TARGET_KUBE_WRITES_PER_SERVICE,
        },
    }


def floors(n: int, latency: float, rate: float, burst: int, actual_calls: int) -> dict[str, float]:
    minimum = n * sum(MIN_CALLS_PER_SERVICE.values()) + sum(MIN_LISTS.values())
    chain = 2 * latency

    def by_rate(calls: int) -> float:
        return max(0.0, calls - burst) / rate

    return {
        "operation_chain": round(chain, 2),
        "min_calls_over_rate_limit": round(by_rate(minimum), 2),
        "floor": round(max(chain, by_rate(minimum)), 2),
        "floor_with_exoccm_calls": round(max(chain, by_rate(actual_calls)), 2),
    }


def upstream_baseline(n: int, latency: float, per_service: dict[str, float]) -> Obj:
    wait = max(UPSTREAM_FIRST_POLL, latency)
    polls_each = 1 if latency <= UPSTREAM_FIRST_POLL else 2
    calls = {k: v for k, v in per_service.items() if k != "get-operation"}
    calls["get-operation"] = 2 * polls_each
    return {
        "computed_not_measured": True,
        "assumptions": "1 service worker, no client-side rate limit, first operation poll "
        f"after {UPSTREAM_FIRST_POLL:g} s; the same calls per Service but one poll per operation",
        "seconds_to_all_ips": round(n * 2 * wait, 1),
        "seconds_per_service": round(2 * wait, 1),
        "calls_per_service": {k: round(v, 2) for k, v in sorted(calls.items())},
    }


async def measure(args: argparse.Namespace, world: World) -> Obj:
    env = {
        "EXOCCM_API_RATE_LIMIT": str(args.rate_limit),
        "EXOCCM_API_BURST": str(args.burst),
        "EXOCCM_SERVICE_WORKERS": str(args.workers),
    }
    exoccm = world.exoccm(env)
    async with Kube(world.plane) as kube:
        await wait_for_leader(kube)
        start_index = len(world.request_log())
        writes_before = apiserver_writes(await kube.metrics())
        names = [f"web-{i:04d}" for i in range(args.services)]
        log(f"creating {args.services} LoadBalancer Services")
        outcome = await create_and_wait(kube, [lb_service(n) for n in names], args.timeout)
        await anyio.sleep(1.0)  # let trailing requests land in the log
        records = world.request_log()[start_index:]
        writes = exoccm_writes(counter_delta(apiserver_writes(await kube.metrics()), writes_before))
    exoccm_alive = exoccm.running()
    n = args.services
    converged = outcome.converged
    per_service_latency = outcome.latencies()
    elapsed = outcome.seconds_to_all_ips
    by_op = calls_by_operation(records)
    total = sum(by_op.values())
    per_service = {op: count / n for op, count in by_op.items()}
    nlb_ops = {k: round(v, 3) for k, v in per_service.items()}
    nlb_writes = sum(by_op.get(op, 0) for op in NLB_WRITES)
    # Writes to the Services themselves (finalizer, annotations, status); Events and the Node
    # controller's own writes aside.
    service_writes = sum(
        v for k, v in writes.items() if k.split(" ", 1)[-1].split("/")[0] == "services"
    )
    writes_without_events = round(service_writes / n, 2)
    floor = floors(n, args.latency, args.rate_limit, args.burst, total)
    result: Obj = {
        "benchmark": "convergence",
        "machine": machine(),
        "services": n,
        "operation_latency_seconds": args.latency,
        "settings": {
            "EXOCCM_API_RATE_LIMIT": args.rate_limit,
            "EXOCCM_API_BURST": args.burst,
            "EXOCCM_SERVICE_WORKERS": args.workers,
            "exoccm_defaults": (args.rate_limit, args.burst, args.workers)
            == tuple(DEFAULTS.values()),
        },
        "converged": converged,
        "services_with_ip": len(outcome.seen),
        "exoccm_alive": exoccm_alive,
        "create_requests_seconds": round(outcome.create_seconds, 2),
        "seconds_to_all_ips": round(elapsed, 2) if elapsed is not None else None,
        "per_service_create_to_ip_seconds": {
            "p50": round(percentile(per_service_latency, 0.5), 2),
            "p90": round(percentile(per_service_latency, 0.9), 2),
            "max": round(max(per_service_latency, default=float("nan")), 2),
            "mean": round(statistics.fmean(per_service_latency), 2)
            if per_service_latency
            else None,
        },
        "exoscale_calls_total": total,
        "calls_per_service": nlb_ops,
        "calls_per_service_total": round(total / n, 2),
        "min_calls_per_service": {
            **{k: float(v) for k, v in MIN_CALLS_PER_SERVICE.items()},
            **{k: round(v / n, 3) for k, v in MIN_LISTS.items()},
        },
        "min_calls_per_service_total": round(
            sum(MIN_CALLS_PER_SERVICE.values()) + sum(MIN_LISTS.values()) / n, 3
        ),
        "floor_seconds": floor,
        "polls_per_operation": round(by_op.get("get-operation", 0) / nlb_writes, 2)
        if nlb_writes
        else None,
        "achieved_call_rate_per_second": round(total / elapsed, 1) if elapsed else None,
        "kube_writes": writes,
        "kube_writes_per_service": round(sum(writes.values()) / n, 2),
        "kube_writes_per_service_without_events": writes_without_events,
        "targets": targets(
            round(total / n, 2),
            round(elapsed, 2) if elapsed is not None else None,
            floor["floor"],
            writes_without_events,
        ),
        "upstream_baseline_computed": upstream_baseline(n, args.latency, per_service),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--latency", type=float, default=1.0, help="operation latency (s)")
    parser.add_argument("--rate-limit", type=float, default=DEFAULTS["rate_limit"])
    parser.add_argument("--burst", type=int, default=DEFAULTS["burst"])
    parser.add_argument("--workers", type=int, default=DEFAULTS["workers"])
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after (s)")
    args = parser.parse_args()
    run_and_print(World(latency=args.latency, nodes=3), measure, args)


if __name__ == "__main__":
    main()
