"""Node lifecycle: how fast exoccm reacts to a Node's readiness, and the Exoscale calls it costs.

Usage::

    .venv/bin/python bench/node_lifecycle.py --nodes 30 --runs 6

``--nodes`` initialized, Ready Nodes on instances of one zone; exoccm runs as a process with its
node controllers only (``EXOCCM_CONTROLLERS=node,lifecycle``) at their default timing (NotReady
monitor every 5 s; a Node turning NotReady gets its zone listed at once, or 2 s after the zone's
previous listing). The benchmark plays the kubelets and kube-controller-manager: it writes the
Nodes' Ready condition itself, and a watch of the Nodes records when exoccm's change shows. Each
figure runs from just before the benchmark's write to the watch event. ``--runs`` times, on
Nodes of its own, after ``--spacing`` quiet seconds:

* *stopped*: an instance is stopped, then its Node turns Ready=Unknown → until the taint
  ``node.cloudprovider.kubernetes.io/shutdown`` shows;
* *deleted*: another instance is deleted, then its Node turns Ready=Unknown → until the Node
  is deleted;
* the two back to back, alternating which goes first: the first finds the zone listed more than
  2 s before and is checked at once, the second finds it listed just before and waits for the
  2 s gap (the worst case);
* *ready*: the stopped instance's Node turns Ready=True again, its instance still stopped (so
  no listing can be what removes the taint) → until the taint is gone.

Then two windows of ``--window`` seconds count the calls of the steady states: every Node
Ready, and one Node NotReady on a running instance.

Targets (issue "Node lifecycle at watch speed"): taint removed within 1 s of Ready, with no
Exoscale call; taint added, and a deleted instance's Node deleted, within 10 s of
Ready=Unknown; no Exoscale call while every Node is Ready; one list-instances per zone per
monitor period while a Node is NotReady.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import orjson

from exoccm.kube.objects import Obj

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    ZONE,
    Kube,
    World,
    calls_by_operation,
    instance_id,
    log,
    machine,
    percentile,
    run_and_print,
    wait_for_leader,
    wait_quiet,
)

from exoccm.kube.resources import NODES

SHUTDOWN_TAINT = "node.cloudprovider.kubernetes.io/shutdown"
MONITOR_PERIOD = 5.0  # exoccm's default EXOCCM_NODE_MONITOR_PERIOD


@dataclass
class NodeWatch:
    """The Nodes as a watch shows them, and when each was last changed."""

    nodes: dict[str, Obj] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    changed: anyio.Event = field(default_factory=anyio.Event)

    def observe(self, event_type: str, node: Obj) -> None:
        name = node["metadata"]["name"]
        if event_type == "DELETED":
            self.nodes.pop(name, None)
            self.deleted.add(name)
        else:
            self.nodes[name] = node
        self.changed.set()

    async def until(self, condition: Callable[[], bool], timeout: float) -> float:
        """Wait until ``condition()``; the monotonic time it was first seen true."""
        deadline = time.monotonic() + timeout
        while not condition():
            self.changed = anyio.Event()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"not seen within {timeout} s")
            with anyio.move_on_after(remaining):
                await self.changed.wait()
        return time.monotonic()

    def tainted(self, name: str) -> bool:
        node = self.nodes.get(name) or {}
        taints = (node.get("spec") or {}).get("taints") or []
        return any(t.get("key") == SHUTDOWN_TAINT for t in taints)


async def watch_nodes(kube: Kube, watch: NodeWatch, started: anyio.Event) -> None:
    listing = await kube.get(NODES.path())
    for node in listing.get("items") or []:
        watch.observe("ADDED", node)
    rv = listing["metadata"]["resourceVersion"]
    started.set()
    while True:
        params = {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true"}
        try:
            async with kube.http.stream(
                "GET", NODES.path(), params=params, timeout=httpx.Timeout(60.0, read=None)
            ) as response:
                buffer = b""
                async for chunk in response.aiter_bytes():
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if not line.strip():
                            continue
                        event = orjson.loads(line)
                        obj = event.get("object") or {}
                        rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                        if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                            watch.observe(event["type"], obj)
        except httpx.HTTPError as exc:
            log(f"node watch restarted: {exc!r}")
            await anyio.sleep(0.5)


async def set_ready(kube: Kube, name: str, ready: bool) -> float:
    """Write the Node's Ready condition as the kubelet (True) or the node lifecycle controller
    of kube-controller-manager (Unknown) would; the monotonic time just before the write (so
    the figures include the write itself)."""
    sent = time.monotonic()
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    condition = {
        "type": "Ready",
        "status": "True" if ready else "Unknown",
        "reason": "KubeletReady" if ready else "NodeStatusUnknown",
        "message": "" if ready else "Kubelet stopped posting node status.",
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }
    response = await kube.http.patch(
        NODES.path(name=name, subresource="status"),
        content=orjson.dumps({"status": {"conditions": [condition]}}),
        headers={"Content-Type": "application/strategic-merge-patch+json"},
    )
    response.raise_for_status()
    return sent


def calls(world: World, start: int) -> dict[str, int]:
    return calls_by_operation(world.request_log()[start:])


def mean_calls(runs: list[dict[str, int]]) -> dict[str, float]:
    """Calls by operation, averaged over the runs."""
    operations = sorted({op for run in runs for op in run})
    return {op: round(sum(run.get(op, 0) for run in runs) / len(runs), 2) for op in operations}


def summary(values: list[float]) -> Obj:
    return {
        "median": round(percentile(values, 0.5), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "all": [round(v, 3) for v in values],
    }


def listing_age(world: World, at: float) -> float | None:
    """Seconds since the zone's last list-instances call was answered, at monotonic ``at``
    (the simulator's request log is timed on the same clock)."""
    times = [
        float(r["at"])
        for r in world.request_log()
        if r.get("operation_id") == "list-instances" and float(r["at"]) <= at
    ]
    return round(at - max(times), 3) if times else None


async def one_run(
    world: World, kube: Kube, watch: NodeWatch, run: int, args: argparse.Namespace
) -> list[Obj]:
    """One run on Nodes of its own: the two NotReady events back to back (the first on a zone
    listed ``--spacing`` seconds ago, the second right after the first's listing; the order
    alternates between runs), then the stopped instance's Node turning Ready again."""
    napper, doomed = 2 * run, 2 * run + 1
    name, doomed_name = f"worker-{napper}", f"worker-{doomed}"

    async def stopped() -> float:
        world.sim.call(
            "set_instance_state", zone=ZONE, instance_id=instance_id(napper), state="stopped"
        )
        at = await set_ready(kube, name, False)
        return await watch.until(lambda: watch.tainted(name), args.timeout) - at

    async def deleted() -> float:
        world.sim.call("delete_instance", zone=ZONE, instance_id=instance_id(doomed))
        at = await set_ready(kube, doomed_name, False)
        return await watch.until(lambda: doomed_name in watch.deleted, args.timeout) - at

    async def ready() -> float:
        at = await set_ready(kube, name, True)
        return await watch.until(lambda: not watch.tainted(name), args.timeout) - at

    events = [("stopped", stopped), ("deleted", deleted)]
    if run % 2:
        events.reverse()
    log(f"run {run + 1}/{args.runs}: {' then '.join(e for e, _ in events)}, then Ready")
    await anyio.sleep(args.spacing)
    results: list[Obj] = []
    start = world.sim.count()
    for event, play in events:
        age = listing_age(world, time.monotonic())
        results.append({"event": event, "seconds": await play(), "listing_age": age})
    await wait_quiet(world, quiet=1.0, timeout=60)
    not_ready_calls = calls(world, start)
    start = world.sim.count()
    results.append({"event": "ready", "seconds": await ready(), "listing_age": None})
    results[-1]["calls"] = calls(world, start)
    results[0]["calls"] = not_ready_calls  # the calls of both NotReady events
    return results


async def measure(args: argparse.Namespace, world: World) -> Obj:
    world.exoccm({"EXOCCM_CONTROLLERS": "node,lifecycle"})
    watch = NodeWatch()
    results: list[Obj] = []
    async with Kube(world.plane) as kube, anyio.create_task_group() as tg:
        await wait_for_leader(kube)
        started = anyio.Event()
        tg.start_soon(watch_nodes, kube, watch, started)
        await started.wait()
        await wait_quiet(world, quiet=3.0, timeout=120)

        for run in range(args.runs):
            results.extend(await one_run(world, kube, watch, run, args))

        log(f"steady state, every Node Ready: {args.window} s")
        await wait_quiet(world, quiet=1.0, timeout=60)
        start = world.sim.count()
        await anyio.sleep(args.window)
        all_ready = calls(world, start)

        silent = f"worker-{2 * args.runs}"
        log(f"steady state, {silent} NotReady on a running instance: {args.window} s")
        await set_ready(kube, silent, False)
        await anyio.sleep(MONITOR_PERIOD / 2)  # past the first, prompt check
        start = world.sim.count()
        await anyio.sleep(args.window)
        one_not_ready = calls(world, start)
        await set_ready(kube, silent, True)
        tg.cancel_scope.cancel()

    lists_per_period = one_not_ready.get("list-instances", 0) / (args.window / MONITOR_PERIOD)
    first = [r for r in results if r["event"] != "ready" and "calls" in r]
    second = [r for r in results if r["event"] != "ready" and "calls" not in r]
    readies = [r for r in results if r["event"] == "ready"]

    def seconds(rows: list[Obj], event: str) -> Obj:
        return summary([r["seconds"] for r in rows if r["event"] == event])

    worst = max(r["seconds"] for r in results if r["event"] != "ready")
    ready_worst = max(r["seconds"] for r in readies)
    return {
        "benchmark": "node_lifecycle",
        "machine": machine(),
        "nodes": args.nodes,
        "runs": args.runs,
        "seconds": {
            "ready_to_shutdown_taint_removed": summary([r["seconds"] for r in readies]),
            "zone_listed_over_2s_before": {
                "unknown_to_shutdown_taint_added": seconds(first, "stopped"),
                "unknown_to_node_deleted": seconds(first, "deleted"),
            },
            "zone_listed_just_before": {
                "unknown_to_shutdown_taint_added": seconds(second, "stopped"),
                "unknown_to_node_deleted": seconds(second, "deleted"),
            },
        },
        "listing_age_at_event_seconds": [
            {"event": r["event"], "age": r["listing_age"], "seconds": round(r["seconds"], 3)}
            for r in results
            if r["event"] != "ready"
        ],
        "exoscale_calls_per_run": {
            "both_not_ready_events": mean_calls([r["calls"] for r in first]),
            "ready": mean_calls([r["calls"] for r in readies]),
        },
        "window_seconds": args.window,
        "exoscale_calls_all_ready": all_ready,
        "exoscale_calls_one_not_ready": one_not_ready,
        "list_instances_per_monitor_period_one_not_ready": round(lists_per_period, 2),
        "targets": {
            "ready_to_taint_removed_seconds": 1.0,
            "unknown_to_taint_added_or_node_deleted_seconds": 10.0,
            "calls_ready": 0,
            "calls_all_ready": 0,
            "list_instances_per_monitor_period_with_a_not_ready_node": 1,
        },
        "target_met": ready_worst <= 1.0
        and worst <= 10.0
        and not any(r["calls"] for r in readies)
        and not all_ready
        and set(one_not_ready) <= {"list-instances"}
        and lists_per_period <= 1.0 + MONITOR_PERIOD / args.window,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=30)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--spacing", type=float, default=3.0, help="seconds between events")
    parser.add_argument("--window", type=float, default=60.0, help="steady-state windows (s)")
    parser.add_argument("--timeout", type=float, default=60.0, help="deadline per event (s)")
    args = parser.parse_args()
    if args.nodes < 2 * args.runs + 1:
        parser.error(f"--nodes must be at least 2 * --runs + 1 = {2 * args.runs + 1}")
    run_and_print(World(latency=0.2, nodes=args.nodes), measure, args)


if __name__ == "__main__":
    main()
