"""Steady state: converged Services, no change; Exoscale calls and Kubernetes writes per hour.

Usage::

    .venv/bin/python bench/steady_state.py --services 1000 --drift-period 20 --periods 3

Converges ``--services`` LoadBalancer Services first (rate limit 100/s, burst 100, 50 workers, so
that it is quick), waits until the simulator has seen no call for a few seconds, then lines a
measuring window up with the drift-repair passes: it starts just after a pass's
list-load-balancers call and lasts ``--periods`` drift periods, so it holds exactly ``--periods``
passes. Prints one JSON document with every Exoscale call of the window by operation, the
apiserver writes exoccm made (Lease renewals aside), exoccm's CPU time, and the extrapolation to
one hour at the default periods (drift repair 60 s, node refresh 5 min).

Target: only the drift-repair lists, one
list-load-balancers per zone per drift period; nothing else. The node lifecycle controller's
refresh (one list-instances per zone per ``EXOCCM_NODE_REFRESH_PERIOD``) is shortened to the
same length here so that it is measured too, and reported separately.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import psutil

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
    run_and_print,
    wait_for_leader,
    wait_quiet,
)

Obj = dict[str, Any]
DEFAULT_DRIFT_PERIOD = 60.0
DEFAULT_NODE_REFRESH_PERIOD = 300.0
ZONES_IN_USE = 1


async def next_pass(world: World, after_index: int, timeout: float) -> tuple[int, float]:
    """Wait for a list-load-balancers call made from now on; (its log index, its time)."""
    deadline = time.monotonic() + timeout
    lists = world.sim.count("list-load-balancers")
    not_before = time.monotonic()
    while time.monotonic() < deadline:
        if world.sim.count("list-load-balancers") > lists:
            log_now = world.request_log()
            for index in range(after_index, len(log_now)):
                record = log_now[index]
                at = float(record["at"])
                if record.get("operation_id") == "list-load-balancers" and at >= not_before:
                    return index, at
        await anyio.sleep(0.2)
    raise RuntimeError("no drift pass seen")


async def measure(args: argparse.Namespace, world: World) -> Obj:
    drift = args.drift_period
    exoccm = world.exoccm(
        {
            "EXOCCM_API_RATE_LIMIT": "100",
            "EXOCCM_API_BURST": "100",
            "EXOCCM_SERVICE_WORKERS": "50",
            "EXOCCM_DRIFT_PERIOD": f"{drift:g}s",
            "EXOCCM_NODE_REFRESH_PERIOD": f"{args.node_refresh_period:g}s",
        }
    )
    process = psutil.Process(exoccm.pid)
    async with Kube(world.plane) as kube:
        await wait_for_leader(kube)
        log(f"converging {args.services} Services")
        services = [lb_service(f"web-{i:04d}") for i in range(args.services)]
        outcome = await create_and_wait(kube, services, args.timeout)
        if not outcome.converged:
            raise RuntimeError(f"only {len(outcome.seen)} of {args.services} Services converged")
        log(f"converged in {outcome.seconds_to_all_ips:.1f}s; waiting for quiet")
        quiet_index = await wait_quiet(world, quiet=3.0, timeout=drift * 3)
        pass_index, pass_at = await next_pass(world, quiet_index, timeout=drift * 2)
        # The window opens just after this pass and holds the next ``periods`` passes.
        window_start = pass_at + min(2.0, drift / 4)
        window_end = window_start + args.periods * drift
        await anyio.sleep(max(0.0, window_start - time.monotonic()))
        writes_before = apiserver_writes(await kube.metrics())
        cpu_before = sum(process.cpu_times()[:2])
        rss_before = process.memory_info().rss
        log(f"measuring {args.periods} drift periods ({args.periods * drift:g}s)")
        await anyio.sleep(max(0.0, window_end - time.monotonic()))
        cpu_seconds = sum(process.cpu_times()[:2]) - cpu_before
        writes = exoccm_writes(counter_delta(apiserver_writes(await kube.metrics()), writes_before))
        records = [
            r
            for r in world.request_log()[pass_index:]
            if window_start <= float(r["at"]) < window_end
        ]
    window = window_end - window_start
    by_op = calls_by_operation(records)
    lists = by_op.get("list-load-balancers", 0)
    refreshes = by_op.get("list-instances", 0)
    expected = ("list-load-balancers", "list-instances")
    others = {op: n for op, n in by_op.items() if op not in expected}
    per_pass = lists / args.periods
    refresh_scale = DEFAULT_NODE_REFRESH_PERIOD / args.node_refresh_period
    hour = 3600.0
    result: Obj = {
        "benchmark": "steady_state",
        "machine": machine(),
        "services": args.services,
        "converge_seconds": round(outcome.seconds_to_all_ips or 0.0, 1),
        "drift_period_seconds": drift,
        "window_seconds": round(window, 1),
        "drift_passes_in_window": args.periods,
        "exoscale_calls_in_window": by_op,
        "list_load_balancers_per_pass_per_zone": round(per_pass / ZONES_IN_USE, 2),
        "node_refresh_period_seconds": args.node_refresh_period,
        "list_instances_per_node_refresh": round(
            refreshes / (window / args.node_refresh_period), 2
        ),
        "other_exoscale_calls_in_window": others,
        "calls_per_hour_at_default_periods": {
            "list-load-balancers (drift repair, 60 s)": round(
                per_pass * hour / DEFAULT_DRIFT_PERIOD, 1
            ),
            "list-instances (node lifecycle refresh, 5 min)": round(
                refreshes / window * hour / refresh_scale, 1
            ),
            **{op: round(n / window * hour, 1) for op, n in others.items()},
        },
        "target_calls_per_hour": {
            "list-load-balancers": ZONES_IN_USE * hour / DEFAULT_DRIFT_PERIOD,
            "list-instances": ZONES_IN_USE * hour / DEFAULT_NODE_REFRESH_PERIOD,
            "anything else": 0,
        },
        "target_met": per_pass == ZONES_IN_USE
        and refreshes / (window / args.node_refresh_period) <= ZONES_IN_USE
        and not others,
        "kube_writes_in_window": writes,
        "exoccm_cpu_seconds_in_window": round(cpu_seconds, 2),
        "exoccm_cpu_percent_of_one_core": round(100 * cpu_seconds / window, 1),
        "exoccm_rss_mib": round(rss_before / 2**20, 1),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--drift-period", type=float, default=20.0, help="seconds")
    parser.add_argument("--periods", type=int, default=3, help="drift periods measured")
    parser.add_argument(
        "--node-refresh-period",
        type=float,
        default=20.0,
        help="EXOCCM_NODE_REFRESH_PERIOD (s); its list-instances are scaled to the 5 min default",
    )
    parser.add_argument("--latency", type=float, default=1.0, help="operation latency (s)")
    parser.add_argument("--timeout", type=float, default=900.0, help="convergence deadline (s)")
    args = parser.parse_args()
    run_and_print(World(latency=args.latency, nodes=3), measure, args)


if __name__ == "__main__":
    main()
