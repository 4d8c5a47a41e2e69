"""Scale on Nodes that behave like Nodes: heartbeating KWOK Nodes, many Services, steady state.

Usage::

    .venv/bin/python bench/heartbeats.py      # 5,000 Nodes, 10,000 Services, a 10-minute window
    .venv/bin/python bench/heartbeats.py --quick                # a smoke run of about a minute

The fuller control plane starts (etcd, kube-apiserver, kube-controller-manager with
``--cloud-provider=external``, kube-scheduler, and KWOK playing the kubelets), with the
simulator. KWOK heartbeats as kubelets do by default: each Node's Lease renewed every 10 s, its
status reported again every 5 min to 5 min 10 s with new heartbeat times
(``kwok.KUBELET_REPORTS``). Then:

1. ``--nodes`` KWOK Nodes register on the instances of ``--pools`` Instance Pools, uninitialized,
   and ``--services`` Services are created, ``--load-balancers`` of them LoadBalancers
   (:mod:`kwok_fleet`);
2. exoccm starts as its own process (every default controller, leader election; rate limit
   100/s, burst 100 and 50 service workers, so that it converges quickly; drift and node refresh
   periods at their defaults). Converged: every Node initialized by exoccm and Ready, every
   load-balancer Service with an ingress IP;
3. after ``--settle`` seconds, the window of ``--window`` seconds. It opens and closes at moments
   when exoccm's work queues are empty, no reconcile runs and the simulator has seen no call for
   a second, so every reconcile counted in it was queued in it.

Measured over the window:

* exoccm's CPU seconds per minute (``utime + stime`` of ``/proc/<pid>/stat``): overall and for
  each whole minute;
* its memory: the peak RSS of the whole run, convergence included (``VmHWM``), and RSS at the
  window's ends;
* reconciles by controller (``controller_runtime_reconcile_total`` on exoccm's ``/metrics``) and
  the ones its periodic passes account for: each drift pass (one list-load-balancers per zone)
  queues every load-balancer Service, each node refresh (one list-instances per zone) every
  Node, and each resync (``EXOCCM_RESYNC_PERIOD`` after the controllers were built, and every
  period from then) every cached Service and Node to each controller watching them. Nothing else
  in exoccm is periodic, so a reconcile beyond these was caused by a change of a Node or a
  Service: a heartbeat, when the window saw no other change (both are reported). The counts are
  nominal: a key queued by two passes at once runs once, one queued while it runs runs again;
* Exoscale calls by operation (the simulator's log) and those other than these listings;
* the heartbeats, from the benchmark's own watches: Node status reports (updates that move only
  heartbeat times) and Lease renewals with their intervals, any other Node change, Service
  updates; and the Node watch events exoccm itself received;
* the CPU time of the other processes (apiserver, etcd, KWOK, ...): the load they put on the
  machine.

Targets (issue 15): peak RSS <= 150 MB; at most 3 CPU seconds per minute at steady state; no
reconcile and no Exoscale call caused by heartbeats, drift listings aside.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import promtext
from harness import (
    ZONE,
    Kube,
    World,
    calls_by_operation,
    log,
    machine,
    mib,
    run_and_print,
    wait_for_leader,
)
from kwok_fleet import fill
from procstat import ProcessSampler, children, cpu_seconds, memory
from watching import LeaseTracker, NodeTracker, ResourceWatch, ServiceTracker, Window

from exoccm.kube.resources import LEASES, NODES, SERVICES
from exoccm.testing import binaries, kwok
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.process import ExoccmProcess

Obj = dict[str, Any]
TARGET_MIB = 150 * 10**6 / 2**20  # 150 MB
TARGET_CPU_PER_MINUTE = 3.0
QUEUES = ("service", "node", "node-lifecycle")
FULL = {
    "nodes": 5000,
    "services": 10000,
    "load_balancers": 1000,
    "pools": 10,
    "window": 600.0,
    "settle": 30.0,
    "status_report": kwok.KUBELET_REPORTS.every_ms / 1000,
    "status_jitter": kwok.KUBELET_REPORTS.jitter_ms / 1000,
    "drift_period": 60.0,  # exoccm's defaults
    "node_refresh_period": 300.0,
    "resync_period": 600.0,
}
# Every path of the full run, in about a minute: reports and passes several times a window.
QUICK = {
    "nodes": 30,
    "services": 60,
    "load_balancers": 6,
    "pools": 2,
    "window": 24.0,
    "settle": 2.0,
    "status_report": 4.0,
    "status_jitter": 2.0,
    "drift_period": 6.0,
    "node_refresh_period": 12.0,
    "resync_period": 600.0,  # none in the window: the smoke test's counts stay exact
}


class Exoccm:
    """exoccm's process as the window sees it: its metrics page and its /proc entries."""

    def __init__(self, process: ExoccmProcess, http: httpx.AsyncClient):
        self.process = process
        self.http = http

    async def metrics(self) -> list[promtext.Metric]:
        response = await self.http.get(f"{self.process.url}/metrics", timeout=10)
        response.raise_for_status()
        return promtext.parse(response.text)


def idle(metrics: list[promtext.Metric]) -> bool:
    depth = promtext.by_label(metrics, "workqueue_depth", "name")
    active = promtext.by_label(metrics, "controller_runtime_active_workers", "controller")
    return not any(depth.values()) and not any(active.values())


async def quiet_moment(exoccm: Exoccm, world: World, timeout: float) -> list[promtext.Metric]:
    """Wait until exoccm's queues are empty, no reconcile runs and the simulator has seen no call
    for a second; exoccm's metrics at that moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls = await anyio.to_thread.run_sync(world.sim.count)
        before = await exoccm.metrics()
        await anyio.sleep(1.0)
        after = await exoccm.metrics()
        if (
            idle(before)
            and idle(after)
            and calls == await anyio.to_thread.run_sync(world.sim.count)
        ):
            return after
    raise RuntimeError(f"exoccm never idle for a second within {timeout:g}s")


def others_cpu(world: World, exoccm_pid: int) -> dict[str, float]:
    """CPU seconds so far of the benchmark's other child processes, by name."""
    names = {world.sim.proc.pid: "simulator"} if world.sim.proc else {}
    out: dict[str, float] = {}
    for pid, comm in children(os.getpid()).items():
        if pid == exoccm_pid:
            continue
        try:
            out[names.get(pid, comm)] = out.get(names.get(pid, comm), 0.0) + cpu_seconds(pid)
        except OSError:
            continue
    return out


async def wait_converged(
    nodes: NodeTracker,
    services: ServiceTracker,
    want_nodes: int,
    lb_keys: list[str],
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    last_report = 0.0
    while True:
        total, initialized, ready = nodes.counts()
        with_ip = services.with_ingress(lb_keys)
        if initialized == ready == want_nodes and with_ip == len(lb_keys):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"not converged after {timeout:g}s: {initialized} of {want_nodes} Nodes "
                f"initialized, {ready} Ready, {with_ip} of {len(lb_keys)} load balancers with an IP"
            )
        if time.monotonic() - last_report > 15:
            last_report = time.monotonic()
            log(
                f"Nodes: {total} registered, {initialized} initialized, {ready} Ready; "
                f"load balancers with an IP: {with_ip} of {len(lb_keys)}"
            )
        await anyio.sleep(1.0)


def resyncs_in(built: tuple[float, float], period: float, start: float, end: float) -> list[int]:
    """[certain, possible] numbers of resyncs inside [start, end], when the controllers were built
    at some moment in ``built`` (between exoccm's start and its readiness): resync ``k`` comes
    ``k * period`` after that moment."""
    certain = possible = 0
    k = 1
    while built[0] + k * period <= end:
        early, late = built[0] + k * period, built[1] + k * period
        certain += start <= early and late <= end
        possible += late >= start
        k += 1
    return [certain, possible]


def reconcile_accounting(
    by_controller: dict[str, int],
    calls: dict[str, int],
    resyncs: int,
    sizes: dict[str, int],
) -> Obj:
    """How many of each controller's reconciles the window's periodic passes account for.
    ``sizes``: load_balancers, services and nodes."""
    drift_passes = calls.get("list-load-balancers", 0)
    refresh_passes = calls.get("list-instances", 0)
    explained = {
        "service": drift_passes * sizes["load_balancers"] + resyncs * sizes["services"],
        "node": resyncs * sizes["nodes"],
        "node-lifecycle": (refresh_passes + resyncs) * sizes["nodes"],
    }
    return {
        "by_controller": {q: by_controller.get(q, 0) for q in QUEUES},
        "drift_passes": drift_passes,
        "node_refresh_passes": refresh_passes,
        "resyncs": resyncs,
        "queued_by_the_passes": explained,
        "beyond_the_passes": {q: max(0, by_controller.get(q, 0) - explained[q]) for q in QUEUES},
    }


def pass_sizes(metrics: list[promtext.Metric], load_balancers: int) -> dict[str, int]:
    """How many keys each periodic pass queues: a drift pass the load-balancer Services, a
    resync every object in exoccm's caches, counted by its own gauge. The cache holds every
    Service of the cluster, the apiserver's own ``default/kubernetes`` among them, not only
    the benchmark's."""
    cached = promtext.by_label(metrics, "exoccm_informer_objects", "informer")
    return {
        "load_balancers": load_balancers,
        "services": round(cached["services"]),
        "nodes": round(cached["nodes"]),
    }


def reconciles_between(
    before: list[promtext.Metric], after: list[promtext.Metric], label: str
) -> dict[str, int]:
    name = "controller_runtime_reconcile_total"
    return promtext.delta(
        promtext.by_label(after, name, label), promtext.by_label(before, name, label)
    )


async def measure(args: argparse.Namespace, world: World) -> Obj:
    nodes, leases, services = NodeTracker(), LeaseTracker(), ServiceTracker()
    async with (
        Kube(world.plane, concurrency=args.concurrency) as kube,
        httpx.AsyncClient() as http,
        anyio.create_task_group() as watches,
    ):
        for path, tracker in (
            (NODES.path(), nodes),
            (LEASES.path("kube-node-lease"), leases),
            (SERVICES.path(), services),
        ):
            watch = ResourceWatch(kube, path, tracker.handle)
            watches.start_soon(watch.run)
            await watch.synced.wait()
        started_fill = time.monotonic()
        filled = await fill(kube, args.nodes, args.services, args.load_balancers, args.pools)
        lb_keys: list[str] = filled.pop("load_balancer_keys")
        filled["seconds"] = round(time.monotonic() - started_fill, 1)

        env = {
            "EXOCCM_API_RATE_LIMIT": "100",
            "EXOCCM_API_BURST": "100",
            "EXOCCM_SERVICE_WORKERS": "50",
            "EXOCCM_DRIFT_PERIOD": f"{args.drift_period:g}s",
            "EXOCCM_NODE_REFRESH_PERIOD": f"{args.node_refresh_period:g}s",
            "EXOCCM_RESYNC_PERIOD": f"{args.resync_period:g}s",
        }
        if args.tracemalloc:
            env |= tracing_env(args.tracemalloc)
        log("starting exoccm")
        started = time.monotonic()
        process = world.exoccm(env, wait=False)
        exoccm = Exoccm(process, http)
        sampler = ProcessSampler(process.pid).start()
        try:
            await anyio.to_thread.run_sync(process.wait_ready, args.timeout)
            ready = time.monotonic()
            await wait_for_leader(kube)
            await wait_converged(nodes, services, args.nodes, lb_keys, args.timeout)
            converged = time.monotonic()
            log(f"converged {converged - started:.1f}s after exoccm started; settling")
            await anyio.sleep(args.settle)

            before = await quiet_moment(exoccm, world, args.timeout)
            start = time.monotonic()
            cpu_start, memory_start = cpu_seconds(process.pid), memory(process.pid)
            others_start, load_start = others_cpu(world, process.pid), os.getloadavg()[0]
            window = nodes.window = leases.window = services.window = Window()
            log(f"measuring for {args.window:g}s")
            await anyio.sleep(args.window)
            after = await quiet_moment(exoccm, world, args.timeout)
            end = time.monotonic()
            nodes.window = leases.window = services.window = None
            cpu_end, memory_end = cpu_seconds(process.pid), memory(process.pid)
            others_end, load_end = others_cpu(world, process.pid), os.getloadavg()[0]
        finally:
            sampler.stop()
        watches.cancel_scope.cancel()
    records = await anyio.to_thread.run_sync(world.request_log)
    in_window = calls_by_operation(r for r in records if start <= float(r["at"]) <= end)
    in_zone = calls_by_operation(
        r for r in records if start <= float(r["at"]) <= end and r.get("zone") == ZONE
    )
    converging = calls_by_operation(r for r in records if started <= float(r["at"]) <= converged)
    minutes = (end - start) / 60
    per_minute = [round(v, 2) for v in sampler.cpu_per_minute(start, end)]
    cpu_rate = (cpu_end - cpu_start) / minutes
    resyncs = resyncs_in((started, ready), args.resync_period, start, end)
    sizes = pass_sizes(after, len(lb_keys))
    reconciles = reconcile_accounting(
        reconciles_between(before, after, "controller"), in_zone, resyncs[0], sizes
    )
    reconciles["keys_per_pass"] = sizes
    reconciles["by_result"] = reconciles_between(before, after, "result")
    reconciles["resyncs_certain_possible"] = resyncs
    listings = ("list-load-balancers", "list-instances")
    other_calls = {op: n for op, n in in_window.items() if op not in listings}
    seen = window.summary(len(nodes.nodes))
    seen["exoccm_node_watch_events"] = promtext.delta(_node_events(after), _node_events(before))
    clean = not (
        seen["other_node_changes"]
        or seen["nodes_added"]
        or seen["nodes_deleted"]
        or seen["service_updates"]
    )
    heartbeat_reconciles = sum(reconciles["beyond_the_passes"].values())
    heartbeat_calls = sum(other_calls.values())
    peak = memory_end["VmHWM"]
    return {
        "benchmark": "scale_heartbeats",
        "machine": machine(),
        "nodes": args.nodes,
        "instance_pools": args.pools,
        "services": args.services,
        "load_balancer_services": len(lb_keys),
        "heartbeats": {
            "node_lease_duration_seconds": kwok.NODE_LEASE_SECONDS,
            "node_lease_renewed_every_seconds": kwok.NODE_LEASE_SECONDS / 4,
            "node_status_reported_every_seconds": [
                args.status_report,
                args.status_report + args.status_jitter,
            ],
        },
        "exoccm_settings": env,
        "cluster_fill": filled,
        "convergence": {
            "exoccm_ready_seconds": round(ready - started, 1),
            "converged_seconds": round(converged - started, 1),
            "exoscale_calls": converging,
        },
        "window_seconds": round(end - start, 1),
        "cpu": {
            "seconds_per_minute": round(cpu_rate, 3),
            "per_whole_minute": per_minute,
            "worst_minute": max(per_minute, default=None),
            "target_seconds_per_minute": TARGET_CPU_PER_MINUTE,
            "met": cpu_rate <= TARGET_CPU_PER_MINUTE,
        },
        "memory_mib": {
            "peak_rss_whole_run": mib(peak),
            "peak_rss_before_window": mib(memory_start["VmHWM"]),
            "rss_window_start": mib(memory_start["VmRSS"]),
            "rss_window_end": mib(memory_end["VmRSS"]),
            "target": round(TARGET_MIB, 1),
            "met": mib(peak) <= TARGET_MIB,
        },
        "reconciles": reconciles,
        "exoscale_calls": {"by_operation": in_window, "other_than_the_listings": other_calls},
        "seen_in_window": seen,
        "caused_by_heartbeats": {
            # Exact when nothing but heartbeats changed in the window, an upper bound otherwise.
            "exact": clean and resyncs[0] == resyncs[1],
            "reconciles": heartbeat_reconciles,
            "exoscale_calls": heartbeat_calls,
            "met": heartbeat_reconciles == 0 and heartbeat_calls == 0,
        },
        "other_processes_cpu_seconds_per_minute": {
            name: round((others_end.get(name, 0.0) - others_start.get(name, 0.0)) / minutes, 2)
            for name in sorted(others_end)
        },
        "load_average_1m": {"window_start": round(load_start, 2), "window_end": round(load_end, 2)},
        "exoccm_log": str(process.log_path),
    }


def tracing_env(directory: Path) -> dict[str, str]:
    """What makes exoccm write tracemalloc snapshots into ``directory`` (bench/tracemalloc_hook)."""
    hook = Path(__file__).resolve().parent / "tracemalloc_hook"
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    return {
        # Tracing slows exoccm down several times: a Lease that survives it.
        "EXOCCM_LEASE_DURATION": "90s",
        "EXOCCM_RENEW_DEADLINE": "60s",
        "PYTHONPATH": path,
        "PYTHONTRACEMALLOC": "1",
        "BENCH_TRACEMALLOC_DIR": str(directory.resolve()),
    }


def _node_events(metrics: list[promtext.Metric]) -> dict[str, float]:
    return {
        m.labels.get("type", ""): m.value
        for m in metrics
        if m.name == "exoccm_informer_events_total" and m.labels.get("informer") == "nodes"
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: " + repr(QUICK))
    for name, value in FULL.items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=type(value), default=None, help=f"(default {value:g})")
    parser.add_argument("--concurrency", type=int, default=48, help="requests in flight to fill")
    parser.add_argument("--timeout", type=float, default=1200.0, help="deadline per phase (s)")
    parser.add_argument(
        "--tracemalloc",
        type=Path,
        metavar="DIR",
        help="trace exoccm's allocations (slows it) and write snapshots into DIR: peak and latest",
    )
    args = parser.parse_args()
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    reports = kwok.StatusReports(
        every_ms=round(args.status_report * 1000), jitter_ms=round(args.status_jitter * 1000)
    )

    def full_plane(workdir: Path) -> ControlPlane:
        from exoccm.testing.fullplane import FullControlPlane

        assets = binaries.ensure(progress=log, needs=binaries.FULL_PLANE)
        return FullControlPlane(assets, workdir=workdir, status_reports=reports)

    world = World(
        latency=1.0, nodes=0, extra_instances=args.nodes, pools=args.pools, make_plane=full_plane
    )
    run_and_print(world, measure, args)


if __name__ == "__main__":
    main()
