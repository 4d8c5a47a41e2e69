"""Shared ground of the system benchmarks: a real apiserver, the simulator, exoccm as a process.

Nothing here is timed by itself. It provides

* :class:`World`: etcd + kube-apiserver (:class:`ControlPlane`) and the Exoscale simulator
  (:class:`SimProcess`) in one temporary directory, with a namespace, an Instance Pool, its
  instances and the matching Nodes; :meth:`World.exoccm` starts exoccm against both;
* :class:`Kube`: an async, pooled httpx client to the apiserver (admin) for bulk creation with a
  bounded number of requests in flight, and an ingress watch that records when each Service first
  shows an IP;
* call accounting from the simulator's request log (:func:`calls_by_operation`) and write counts
  from the apiserver's own ``apiserver_request_total`` (:func:`apiserver_writes`);
* :class:`RssSampler`: RSS of a process sampled from outside with psutil;
* :func:`machine`: CPU model, cores, RAM and versions, for the results.

All traffic goes to loopback addresses. Every wait has a deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson

from exoccm.kube.objects import Obj

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exoccm.kube.resources import NAMESPACES, NODES, SERVICES
from exoccm.testing import binaries
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.nodes import node_manifest
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.services import NLB_OPERATIONS
from exoccm.testing.simprocess import SimProcess

ZONE = "de-muc-1"
NAMESPACE = "bench"
POOL_ID = "5b1c6a8e-0d3f-4b6e-9a41-0c2f7d9e8a10"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def log(message: str) -> None:
    """Progress on stderr (stdout carries the JSON result)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> Obj:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "kubernetes": binaries.KUBERNETES_VERSION,
    }


def instance_id(index: int) -> str:
    """A stable instance UUID for instance ``index`` of the benchmark pool."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"exoccm-bench-instance-{index}"))


def instance_ip(index: int) -> str:
    """Public IPv4 of instance ``index``: inside the simulator's instance range 159.100.224.0/19."""
    return f"159.100.{224 + index // 250}.{index % 250 + 2}"


def pool_id(pool: int) -> str:
    """Instance Pool ``pool`` of the benchmark (pool 0 is :data:`POOL_ID`)."""
    if pool == 0:
        return POOL_ID
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"exoccm-bench-pool-{pool}"))


def pool_name(pool: int) -> str:
    return "workers" if pool == 0 else f"workers-{pool}"


def instance_seed(index: int, name: str, pool: int = 0) -> Obj:
    return {
        "name": name,
        "id": instance_id(index),
        "pool": pool_name(pool),
        "public_ip": instance_ip(index),
    }


def simulator_seed(instances: Iterable[Obj], pools: int = 1) -> Obj:
    return {
        "resources": {
            ZONE: {
                "instance_pools": [{"name": pool_name(k), "id": pool_id(k)} for k in range(pools)],
                "instances": list(instances),
            }
        }
    }


def node_for_instance(index: int, name: str, *, uninitialized: bool = False) -> Obj:
    """A Node as a kubelet registers it on instance ``index`` (initialized unless asked)."""
    return node_manifest(
        name,
        system_uuid=instance_id(index),
        addresses=[("InternalIP", instance_ip(index)), ("Hostname", name)],
        provider_id=None if uninitialized else f"exoscale://{instance_id(index)}",
        uninitialized=uninitialized,
    )


def lb_service(name: str, port: int = 80) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": name},
            "ports": [{"name": "http", "port": port, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


# -- the world ------------------------------------------------------------------------------------


def bare_plane(workdir: Path) -> ControlPlane:
    """etcd and kube-apiserver, nothing else."""
    return ControlPlane(binaries.ensure(), workdir=workdir)


@dataclass(eq=False)
class World:
    """Control plane + simulator; ``nodes`` initialized Nodes on instances 0..nodes-1; instance
    ``i`` (of ``nodes + extra_instances``) belongs to Instance Pool ``i % pools``.
    ``make_plane(workdir)`` builds the control plane (default: :func:`bare_plane`)."""

    latency: float = 1.0
    nodes: int = 3
    extra_instances: int = 0
    pools: int = 1
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="exoccm-bench-")))
    make_plane: Callable[[Path], ControlPlane] = bare_plane
    plane: ControlPlane = field(init=False)
    sim: SimProcess = field(init=False)
    processes: list[ExoccmProcess] = field(default_factory=list)

    def __enter__(self) -> World:
        log(f"starting etcd + kube-apiserver and the simulator in {self.workdir}")
        self.plane = self.make_plane(self.workdir / "plane").start()
        instances = [
            instance_seed(i, f"worker-{i}", i % self.pools)
            for i in range(self.nodes + self.extra_instances)
        ]
        self.sim = SimProcess(
            self.workdir / "sim",
            seed=simulator_seed(instances, self.pools),
            latency=self.latency,
        ).start()
        with self.plane.http() as client:
            client.post(NAMESPACES.path(), json={"metadata": {"name": NAMESPACE}})
            for i in range(self.nodes):
                response = client.post(NODES.path(), json=node_for_instance(i, f"worker-{i}"))
                response.raise_for_status()
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            process.stop()
        self.sim.stop()
        self.plane.stop()

    def exoccm(
        self, env: Mapping[str, str] | None = None, *, ready_timeout: float = 300, wait: bool = True
    ) -> ExoccmProcess:
        """exoccm as a process, leader election on (Lease in ``bench``), JSON logs at info;
        waits until it is ready unless ``wait`` is false."""
        environment = {
            **self.sim.env(ZONE),
            "EXOCCM_LEADER_ELECTION_NAMESPACE": NAMESPACE,
            "EXOCCM_LOG_LEVEL": "info",
            **(env or {}),
        }
        log_path = self.workdir / f"exoccm-{len(self.processes)}.log"
        process = ExoccmProcess(self.plane.kubeconfig, environment, log_path).start()
        self.processes.append(process)
        if wait:
            process.wait_ready(ready_timeout)
        return process

    def request_log(self) -> list[Obj]:
        return self.sim.requests()


def calls_by_operation(records: Iterable[Obj]) -> dict[str, int]:
    counts = Counter(str(r.get("operation_id")) for r in records)
    return dict(sorted(counts.items()))


def nlb_calls(records: Iterable[Obj]) -> dict[str, int]:
    """Calls about NLBs: their own endpoints plus the operation polls of NLB writes."""
    out = {op: n for op, n in calls_by_operation(records).items() if op in NLB_OPERATIONS}
    return out


# -- async access to the apiserver -----------------------------------------------------------------


class Kube:
    """Admin access to the apiserver for bulk work: pooled connections, bounded concurrency."""

    def __init__(self, plane: ControlPlane, concurrency: int = 32):
        context = ssl.create_default_context()
        context.load_verify_locations(cadata=plane.pki.ca_pem.decode())
        self.concurrency = concurrency
        self.http = httpx.AsyncClient(
            base_url=plane.url,
            verify=context,
            headers={"Authorization": f"Bearer {plane.admin_token}"},
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            timeout=httpx.Timeout(60.0),
        )

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def _check(self, response: httpx.Response, what: str, ok: Iterable[int] = ()) -> Any:
        if response.status_code >= 400 and response.status_code not in set(ok):
            raise RuntimeError(f"{what}: {response.status_code} {response.text[:500]}")
        return orjson.loads(response.content) if response.content else None

    async def map_bounded(
        self,
        func: Callable[[Any], Awaitable[object]],
        items: Iterable[Any],
        concurrency: int | None = None,
    ) -> float:
        """``func(item)`` for each item, at most ``concurrency`` in flight; the wall time."""
        limit = anyio.Semaphore(concurrency or self.concurrency)
        started = time.monotonic()

        async def one(item: Any) -> None:
            async with limit:
                await func(item)

        async with anyio.create_task_group() as tg:
            for item in items:
                tg.start_soon(one, item)
        return time.monotonic() - started

    async def create(self, path: str, obj: Obj, params: Mapping[str, str] | None = None) -> Obj:
        response = await self.http.post(
            path,
            content=orjson.dumps(obj),
            params=params,
            headers={"Content-Type": "application/json"},
        )
        result: Obj = await self._check(response, f"POST {path}")
        return result

    async def apply(self, path: str, obj: Obj, manager: str) -> Obj:
        """Server-side apply (creates or updates; records ``manager`` in managedFields)."""
        response = await self.http.patch(
            path,
            content=orjson.dumps(obj),
            params={"fieldManager": manager, "force": "true"},
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        result: Obj = await self._check(response, f"APPLY {path}")
        return result

    async def patch(self, path: str, patch: Obj) -> Obj:
        response = await self.http.patch(path, content=orjson.dumps(patch), headers=MERGE_PATCH)
        result: Obj = await self._check(response, f"PATCH {path}")
        return result

    async def delete(self, path: str) -> None:
        response = await self.http.delete(path)
        await self._check(response, f"DELETE {path}", ok=(404,))

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Obj:
        response = await self.http.get(path, params=params)
        result: Obj = await self._check(response, f"GET {path}")
        return result

    async def list_all(self, path: str, page: int = 500) -> list[Obj]:
        items: list[Obj] = []
        params = {"limit": str(page)}
        while True:
            body = await self.get(path, params)
            items.extend(body.get("items") or [])
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return items
            params = {"limit": str(page), "continue": token}

    async def create_nodes(self, nodes: list[Obj]) -> float:
        """POST each Node with its status (Nodes accept status on create, as kubelets do)."""
        return await self.map_bounded(lambda node: self.create(NODES.path(), node), nodes)

    async def delete_paths(self, paths: list[str]) -> float:
        return await self.map_bounded(self.delete, paths)

    async def metrics(self) -> str:
        response = await self.http.get("/metrics")
        response.raise_for_status()
        return response.text

    @contextlib.asynccontextmanager
    async def ingress_watch(self, namespace: str | None = NAMESPACE) -> AsyncIterator[IngressTimes]:
        """Record, from now on, when each Service of ``namespace`` (None: all) first shows an
        ingress IP, by ``namespace/name``."""
        times = IngressTimes()
        listing = await self.get(SERVICES.path(namespace))
        for svc in listing.get("items") or []:
            times.observe(svc, time.monotonic())
        rv = listing["metadata"]["resourceVersion"]
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_ingress, namespace, rv, times)
            try:
                yield times
            finally:
                tg.cancel_scope.cancel()

    async def _watch_ingress(self, namespace: str | None, rv: str, times: IngressTimes) -> None:
        while True:
            params = {
                "watch": "true",
                "resourceVersion": rv,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "600",
            }
            try:
                async with self.http.stream(
                    "GET",
                    SERVICES.path(namespace),
                    params=params,
                    timeout=httpx.Timeout(60.0, read=None),
                ) as response:
                    buffer = b""
                    async for chunk in response.aiter_bytes():
                        buffer += chunk
                        *lines, buffer = buffer.split(b"\n")
                        now = time.monotonic()
                        for line in lines:
                            if not line.strip():
                                continue
                            event = orjson.loads(line)
                            obj = event.get("object") or {}
                            rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                            if event.get("type") in ("ADDED", "MODIFIED"):
                                times.observe(obj, now)
            except httpx.HTTPError as exc:
                log(f"ingress watch restarted: {exc!r}")
                await anyio.sleep(0.5)


@dataclass
class IngressTimes:
    """First time (monotonic) each Service name was seen with an ingress IP."""

    seen: dict[str, float] = field(default_factory=dict)
    ips: dict[str, str] = field(default_factory=dict)
    changed: anyio.Event = field(default_factory=anyio.Event)

    def observe(self, svc: Obj, now: float) -> None:
        name = service_key(svc)
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if ingress and name not in self.seen:
            self.seen[name] = now
            self.ips[name] = ingress[0].get("ip", "")
            self.changed.set()

    async def wait_for(self, names: Iterable[str], deadline: float) -> bool:
        """Until every name has an IP (True) or ``deadline`` (monotonic) passes (False)."""
        wanted = set(names)
        while not wanted <= self.seen.keys():
            self.changed = anyio.Event()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with anyio.move_on_after(min(remaining, 5.0)):
                await self.changed.wait()
        return True


_APISERVER_REQUESTS = re.compile(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="([^"]*)"')
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE"})


def apiserver_writes(metrics_text: str) -> Counter[str]:
    """Write requests served so far by the apiserver, as ``VERB resource[/subresource]``."""
    out: Counter[str] = Counter()
    for labels_text, value in _APISERVER_REQUESTS.findall(metrics_text):
        labels = dict(_LABEL.findall(labels_text))
        verb = labels.get("verb", "")
        if verb not in WRITE_VERBS:
            continue
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        out[f"{verb} {resource}"] += int(float(value))
    return out


def counter_delta(after: Counter[str], before: Counter[str]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in sorted(after) if after[k] - before.get(k, 0)}


# -- memory ------------------------------------------------------------------------------------------


class RssSampler:
    """Samples a process's RSS every ``interval`` seconds in a thread; tracks the peak."""

    def __init__(self, pid: int, interval: float = 0.1):
        import psutil  # the bench dependency group's: benchmarks that the tests run do without

        self._process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.last = 0
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = int(self._process.memory_info().rss)
            except Exception:  # psutil.Error: the process is gone
                return
            self.last = rss
            self.peak = max(self.peak, rss)
            self.samples.append((time.monotonic(), rss))
            self._stop.wait(self.interval)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def peak_between(self, start: float, end: float) -> int:
        return max((rss for at, rss in self.samples if start <= at <= end), default=0)


def mib(value: float) -> float:
    return round(value / 2**20, 1)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def wait_for_leader(kube: Kube, namespace: str = NAMESPACE, timeout: float = 60.0) -> str:
    """Until exoccm holds its Lease; the holder's identity."""
    deadline = time.monotonic() + timeout
    path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/exoccm"
    while time.monotonic() < deadline:
        response = await kube.http.get(path)
        if response.status_code == 200:
            holder = (orjson.loads(response.content).get("spec") or {}).get("holderIdentity")
            if holder:
                return str(holder)
        await anyio.sleep(0.2)
    raise RuntimeError(f"no leader after {timeout}s")


def records_since(world: World, start_index: int) -> list[Obj]:
    return world.request_log()[start_index:]


@dataclass
class Convergence:
    """The outcome of creating Services and waiting for their IPs."""

    started: float
    create_seconds: float
    created: dict[str, float]
    seen: dict[str, float]
    converged: bool

    @property
    def seconds_to_all_ips(self) -> float | None:
        return max(self.seen.values()) - self.started if self.converged else None

    def latencies(self) -> list[float]:
        return [self.seen[n] - self.created[n] for n in self.created if n in self.seen]


def service_key(svc: Obj) -> str:
    meta = svc["metadata"]
    return f"{meta.get('namespace') or NAMESPACE}/{meta['name']}"


async def create_and_wait(
    kube: Kube, services: list[Obj], timeout: float, namespace: str | None = NAMESPACE
) -> Convergence:
    """Create ``services`` (bounded concurrency; in ``metadata.namespace``, else ``bench``)
    and wait until each shows an ingress IP. Keys are ``namespace/name``."""
    created: dict[str, float] = {}

    async def create(service: Obj) -> None:
        await kube.create(SERVICES.path(service["metadata"].get("namespace") or NAMESPACE), service)
        created[service_key(service)] = time.monotonic()

    names = [service_key(s) for s in services]
    async with kube.ingress_watch(namespace) as ingress:
        started = time.monotonic()
        create_seconds = await kube.map_bounded(create, services)
        converged = await ingress.wait_for(names, started + timeout)
        seen = {n: ingress.seen[n] for n in names if n in ingress.seen}
    return Convergence(started, create_seconds, created, seen, converged)


async def wait_quiet(world: World, quiet: float, timeout: float) -> int:
    """Until the simulator has seen no call for ``quiet`` seconds; the request-log length."""
    deadline = time.monotonic() + timeout
    last_len = -1
    last_change = time.monotonic()
    while time.monotonic() < deadline:
        length = world.sim.count()
        if length != last_len:
            last_len, last_change = length, time.monotonic()
        elif time.monotonic() - last_change >= quiet:
            return length
        await anyio.sleep(0.5)
    return last_len


EXOCCM_WRITE_EXCLUDES = ("POST services", "POST ipaddresses", "PUT leases", "POST namespaces")


def exoccm_writes(writes: Mapping[str, int], bench_writes: Iterable[str] = ()) -> dict[str, int]:
    """Apiserver writes without the benchmark's own and the Lease renewals."""
    skip = set(EXOCCM_WRITE_EXCLUDES) | set(bench_writes)
    return {k: v for k, v in writes.items() if k not in skip}


Measure = Callable[[argparse.Namespace, World], Awaitable[Obj]]


def run_and_print(world: World, measure: Measure, args: argparse.Namespace) -> None:
    """Run ``measure`` inside ``world`` (started here, torn down after) and print its JSON."""
    with world:
        result = anyio.run(measure, args, world)
    print(json.dumps(result, indent=2))
