"""Node churn: Nodes joining and leaving the Instance Pool behind converged NLBs.

Usage::

    .venv/bin/python bench/node_churn.py --services 200 --nodes 100

Converges ``--services`` LoadBalancer Services on 3 Nodes of one Instance Pool, waits for quiet,
then plays a scale-up and a scale-down of the same pool:

1. ``--nodes`` instances join the pool in the simulator and register as Nodes the way kubelets
   with ``--cloud-provider=external`` do (tainted uninitialized); the benchmark waits until
   exoccm's node controller has initialized every one (providerID set, taint gone);
2. the instances are deleted and their Nodes removed (``--nodes`` deletions).

The drift-repair period is set to one hour so that no periodic pass lands in the window: every
call counted is caused by the churn. Prints one JSON document with the Exoscale calls of each
phase by operation.

Target: no NLB call, because NLBs target the pool, which did not change. Instance
listings (to match new Nodes with their instances) are expected and reported.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    POOL_ID,
    ZONE,
    Kube,
    World,
    apiserver_writes,
    calls_by_operation,
    counter_delta,
    create_and_wait,
    exoccm_writes,
    instance_id,
    instance_ip,
    lb_service,
    log,
    machine,
    nlb_calls,
    node_for_instance,
    run_and_print,
    wait_for_leader,
    wait_quiet,
)

from exoccm.kube.resources import NODES

Obj = dict[str, Any]
FIRST = 1000  # churned instances are numbered from here (the base Nodes are 0, 1, 2)
UNINITIALIZED = "node.cloudprovider.kubernetes.io/uninitialized"


def _initialized(node: Obj) -> bool:
    spec = node.get("spec") or {}
    taints = spec.get("taints") or []
    return bool(spec.get("providerID")) and not any(t.get("key") == UNINITIALIZED for t in taints)


async def wait_initialized(kube: Kube, names: set[str], timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        nodes = await kube.list_all(NODES.path())
        done = {n["metadata"]["name"] for n in nodes if _initialized(n)}
        if names <= done:
            return time.monotonic() - started
        await anyio.sleep(0.5)
    raise RuntimeError("the new Nodes were not initialized in time")


def add_instances(world: World, indexes: range) -> None:
    for i in indexes:
        world.sim.call(
            "add_instance",
            zone=ZONE,
            name=f"worker-{i}",
            pool_id=POOL_ID,
            public_ip=instance_ip(i),
            id=instance_id(i),
        )


def delete_instances(world: World, indexes: range) -> None:
    for i in indexes:
        world.sim.call("delete_instance", zone=ZONE, instance_id=instance_id(i))


async def measure(args: argparse.Namespace, world: World) -> Obj:
    world.exoccm(
        {
            "EXOCCM_API_RATE_LIMIT": "100",
            "EXOCCM_API_BURST": "100",
            "EXOCCM_SERVICE_WORKERS": "50",
            "EXOCCM_DRIFT_PERIOD": "1h",
        }
    )
    churned = range(FIRST, FIRST + args.nodes)
    names = {f"worker-{i}" for i in churned}
    async with Kube(world.plane) as kube:
        await wait_for_leader(kube)
        log(f"converging {args.services} Services")
        services = [lb_service(f"web-{i:04d}") for i in range(args.services)]
        outcome = await create_and_wait(kube, services, args.timeout)
        if not outcome.converged:
            raise RuntimeError(f"only {len(outcome.seen)} of {args.services} Services converged")
        start = await wait_quiet(world, quiet=3.0, timeout=120)
        writes_start = apiserver_writes(await kube.metrics())

        log(f"scale-up: {args.nodes} instances join the pool and register as Nodes")
        up_started = time.monotonic()
        await anyio.to_thread.run_sync(add_instances, world, churned)
        await kube.create_nodes(
            [node_for_instance(i, f"worker-{i}", uninitialized=True) for i in churned]
        )
        init_seconds = await wait_initialized(kube, names, args.timeout)
        middle = await wait_quiet(world, quiet=3.0, timeout=120)
        up_seconds = time.monotonic() - up_started
        writes_middle = apiserver_writes(await kube.metrics())

        log(f"scale-down: {args.nodes} instances deleted, their Nodes removed")
        await anyio.to_thread.run_sync(delete_instances, world, churned)
        await kube.delete_paths([NODES.path(name=name) for name in sorted(names)])
        end = await wait_quiet(world, quiet=3.0, timeout=120)
        writes_end = apiserver_writes(await kube.metrics())
        records = world.request_log()
    up = records[start:middle]
    down = records[middle:end]
    up_nlb = nlb_calls(up)
    down_nlb = nlb_calls(down)
    bench_writes = ("POST nodes", "DELETE nodes")
    return {
        "benchmark": "node_churn",
        "machine": machine(),
        "services": args.services,
        "nodes_added_and_removed": args.nodes,
        "drift_period": "1h (no periodic pass in the window)",
        "scale_up": {
            "exoscale_calls": calls_by_operation(up),
            "nlb_calls": up_nlb,
            "seconds_until_all_nodes_initialized": round(init_seconds, 1),
            "seconds_until_quiet": round(up_seconds, 1),
            "kube_writes_by_exoccm": exoccm_writes(
                counter_delta(writes_middle, writes_start), bench_writes
            ),
        },
        "scale_down": {
            "exoscale_calls": calls_by_operation(down),
            "nlb_calls": down_nlb,
            "kube_writes_by_exoccm": exoccm_writes(
                counter_delta(writes_end, writes_middle), bench_writes
            ),
        },
        "target_nlb_calls": 0,
        "target_met": not up_nlb and not down_nlb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--latency", type=float, default=1.0, help="operation latency (s)")
    parser.add_argument("--timeout", type=float, default=600.0, help="deadline per phase (s)")
    args = parser.parse_args()
    run_and_print(World(latency=args.latency, nodes=3), measure, args)


if __name__ == "__main__":
    main()
