"""The service controller in-process: the real apiserver for Kubernetes, the simulator app over
``httpx.ASGITransport`` for Exoscale, on virtual time (see :mod:`tests.unit.service.cloud`).

Tests call ``reconcile`` and the drift pass themselves, one at a time, once the informer shows
the Service as the apiserver has it: each step's outcome can be asserted on its own. The
reconciler's Kubernetes client remembers each write with the Exoscale calls made before it, so
tests can check the order of the two (the finalizer before the first NLB write, the status
before an old NLB is deleted).

Each test's Services live in its own namespace, and its Nodes carry a label with the namespace
name that the Node informer selects, so no test sees another's objects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
import pytest

from exoccm.controllers.inventory import Inventories
from exoccm.controllers.projections import project_node, project_service
from exoccm.controllers.service.annotations import PREFIX
from exoccm.controllers.service.controller import ServiceControllerConfig, ServiceReconciler
from exoccm.controllers.service.desired import ownership_labels
from exoccm.controllers.service.drift import CollectorLimits, DriftRepair
from exoccm.engine.controller import Result
from exoccm.engine.informer import Informer
from exoccm.exoscale import ExoscaleClients, LoadBalancer
from exoccm.kube.client import KubeClient
from exoccm.kube.config import from_kubeconfig
from exoccm.kube.errors import NotFoundError
from exoccm.kube.events import EventRecorder
from exoccm.kube.resources import EVENTS, NODES, SERVICES
from exoccm.sim import Simulator
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.nodes import node_manifest
from exoccm.testing.services import NLB_WRITE_OPERATIONS, service_port
from tests.unit.service.cloud import (
    OTHER_ZONE,
    ZONE,
    Fence,
    VirtualTime,
    inventories_of,
    sim_clients,
)

Obj = dict[str, Any]
CLUSTER = "test-cluster"
TEST_LABEL = "exoccm.test/owner"
POOL_ANNOTATION = PREFIX + "service-instancepool-id"
ID_ANNOTATION = PREFIX + "id"
ZONE_ANNOTATION = PREFIX + "zone"


@dataclass(frozen=True)
class KubeWrite:
    method: str
    path: str
    body: Any
    exoscale_before: tuple[str, ...]  # the Exoscale operations called before this write

    @property
    def nlb_writes_before(self) -> list[str]:
        return [op for op in self.exoscale_before if op in NLB_WRITE_OPERATIONS]


class RecordingKube(KubeClient):
    """The reconciler's client: a real one that remembers its writes."""

    def __init__(self, plane: ControlPlane, sim: Simulator):
        super().__init__(from_kubeconfig(plane.kubeconfig))
        self.sim = sim
        self.writes: list[KubeWrite] = []

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if method != "GET":
            done = tuple(str(r.operation_id) for r in self.sim.requests)
            self.writes.append(KubeWrite(method, path, kwargs.get("body"), done))
        return await super().request(method, path, **kwargs)

    def to_service(self, namespace: str, name: str) -> list[KubeWrite]:
        """Writes to the Service (events aside)."""
        prefix = SERVICES.path(namespace, name)
        return [w for w in self.writes if w.path == prefix or w.path.startswith(prefix + "/")]


@dataclass
class ServiceWorld:
    """One test's Kubernetes namespace, Nodes and simulated cloud."""

    kube: KubeClient  # the test's own (admin) client
    controller_kube: RecordingKube
    sim: Simulator
    time: VirtualTime
    fence: Fence
    clients: ExoscaleClients
    inventories: Inventories
    namespace: str
    pools: dict[str, str]  # zone -> the ID of its Instance Pool "workers"
    nodes: list[str] = field(default_factory=list)

    # -- Kubernetes -----------------------------------------------------------------------------

    async def create_service(
        self, name: str, *ports: int, pool: bool = True, **annotations: str
    ) -> Obj:
        """A LoadBalancer Service (TCP ``ports``); ``pool``: annotated with the zone's pool."""
        values = {PREFIX + k.replace("_", "-"): v for k, v in annotations.items()}
        if pool:
            zone = values.get(ZONE_ANNOTATION, ZONE)
            values.setdefault(POOL_ANNOTATION, self.pools[zone])
        return await self.kube.create(
            SERVICES.path(self.namespace),
            {
                "metadata": {"name": name, "annotations": values},
                "spec": {
                    "type": "LoadBalancer",
                    "selector": {"app": name},
                    "ports": [service_port(p) for p in ports or (80,)],
                },
            },
        )

    async def annotate(self, name: str, **annotations: str | None) -> Obj:
        changes = {PREFIX + k.replace("_", "-"): v for k, v in annotations.items()}
        return await self.kube.patch(
            SERVICES.path(self.namespace, name), {"metadata": {"annotations": changes}}
        )

    async def service(self, name: str) -> Obj | None:
        try:
            return await self.kube.get(SERVICES.path(self.namespace, name))
        except NotFoundError:
            return None

    async def events(self, name: str) -> list[tuple[str, str, str]]:
        """``(type, reason, message)`` of the Events about Service ``name``, in no particular
        order (their timestamps have whole seconds)."""
        page = await self.kube.list(
            EVENTS.path(self.namespace),
            params={"fieldSelector": f"involvedObject.name={name}"},
        )
        return [(str(e["type"]), str(e["reason"]), str(e["message"])) for e in page.items]

    async def reasons(self, name: str) -> list[str]:
        return sorted(reason for _, reason, _ in await self.events(name))

    async def create_node(self, name: str, instance_id: str) -> None:
        manifest = node_manifest(
            f"{self.namespace}-{name}",
            provider_id=f"exoscale://{instance_id}",
            labels={TEST_LABEL: self.namespace},
        )
        manifest.pop("status")
        await self.kube.create(NODES.path(), manifest)
        self.nodes.append(str(manifest["metadata"]["name"]))

    # -- Exoscale -------------------------------------------------------------------------------

    def nlbs(self, zone: str = ZONE) -> list[dict[str, Any]]:
        return self.sim.load_balancers(zone)

    def nlb(self, lb_id: str, zone: str = ZONE) -> dict[str, Any] | None:
        return next((lb for lb in self.nlbs(zone) if lb["id"] == lb_id), None)

    async def create_nlb(
        self, zone: str = ZONE, *, labels: dict[str, str] | None = None, name: str = "hand-made"
    ) -> LoadBalancer:
        """An NLB made outside exoccm's reconciles (by hand, or by an earlier exoccm)."""
        return await self.clients.zone(zone).create_load_balancer(name, None, labels)

    async def orphan_nlb(self, zone: str = ZONE, *, uid: str = "") -> LoadBalancer:
        """An NLB labelled as this cluster's for a Service that does not exist."""
        uid = uid or f"gone-{len(self.nlbs(zone))}"
        labels = ownership_labels(CLUSTER, self.namespace, f"gone-{uid}", uid)
        return await self.create_nlb(zone, labels=labels, name=f"k8s-{uid}")

    def calls(self, operation: str | None = None, **criteria: Any) -> int:
        return self.sim.count(operation, **criteria)

    def nlb_writes(self) -> int:
        return sum(1 for r in self.sim.requests if r.operation_id in NLB_WRITE_OPERATIONS)

    async def cleanup(self) -> None:
        for name in self.nodes:
            with suppress(NotFoundError):
                await self.kube.delete(NODES.path(name=name))


@pytest.fixture
async def world(
    kube: KubeClient, control_plane: ControlPlane, namespace: str
) -> AsyncIterator[ServiceWorld]:
    sim = Simulator(seed=5)
    pools = {z: str(sim.add_instance_pool(z, "workers")["id"]) for z in (ZONE, OTHER_ZONE)}
    time = VirtualTime()
    fence = Fence()
    controller_kube = RecordingKube(control_plane, sim)
    async with sim_clients(sim, time, guard=fence) as clients:
        world = ServiceWorld(
            kube,
            controller_kube,
            sim,
            time,
            fence,
            clients,
            inventories_of(clients, time),
            namespace,
            pools,
        )
        try:
            yield world
        finally:
            await world.cleanup()
            await controller_kube.aclose()


BASE_CONFIG = ServiceControllerConfig(
    default_zone=ZONE,
    known_zones=frozenset({ZONE, OTHER_ZONE}),
    cluster_id=CLUSTER,
)


@dataclass
class Running:
    """The reconciler and its informers, while a ``running`` block lasts."""

    world: ServiceWorld
    reconciler: ServiceReconciler
    services: Informer
    nodes: Informer
    released: list[str] = field(default_factory=list)
    watching: anyio.CancelScope = field(default_factory=anyio.CancelScope)

    def freeze(self) -> None:
        """Stop the Service informer: its cache stays as it is, however the Services change."""
        self.watching.cancel()

    def key(self, name: str) -> str:
        return f"{self.world.namespace}/{name}"

    async def caught_up(self, name: str) -> Obj | None:
        """Wait until the informer shows Service ``name`` as the apiserver has it now."""
        current = await self.world.service(name)
        version = None if current is None else current["metadata"]["resourceVersion"]
        with anyio.fail_after(10):
            while True:
                cached = self.services.get(self.key(name))
                if (cached or {}).get("metadata", {}).get("resourceVersion") == version:
                    return cached
                await anyio.sleep(0.02)

    async def nodes_caught_up(self, count: int) -> None:
        with anyio.fail_after(10):
            while len(self.nodes.list()) != count:  # noqa: ASYNC110 - the informer's cache
                await anyio.sleep(0.02)

    async def reconcile(self, name: str) -> Result:
        """One reconcile of Service ``name``, on a cache that shows its latest version."""
        await self.caught_up(name)
        return await self.reconciler.reconcile(self.key(name))

    def drift(
        self,
        limits: CollectorLimits | None = None,
        *,
        enqueued: list[list[str]] | None = None,
        warn: Callable[[str], Any] | None = None,
        period: float = 60.0,
    ) -> DriftRepair:
        """A drift pass over this reconciler; the keys it queues are appended to ``enqueued``."""
        calls = enqueued if enqueued is not None else []

        def enqueue_low(keys: Iterable[str]) -> None:
            calls.append(list(keys))

        return DriftRepair(self.reconciler, enqueue_low, period, limits, warn)


@asynccontextmanager
async def running(world: ServiceWorld, **config: Any) -> AsyncIterator[Running]:
    """The reconciler (``config`` changes :data:`BASE_CONFIG`) with synced informers."""
    kube = world.controller_kube
    services = Informer(
        kube,
        SERVICES,
        namespace=world.namespace,
        transform=project_service,
        name=f"services-{world.namespace}",
    )
    nodes = Informer(
        kube,
        NODES,
        transform=project_node,
        label_selector=f"{TEST_LABEL}={world.namespace}",
        name=f"nodes-{world.namespace}",
    )
    reconciler = ServiceReconciler(
        kube=kube,
        services=services,
        nodes=nodes,
        inventories=world.inventories,
        recorder=EventRecorder(kube, "service-controller"),
        config=replace(BASE_CONFIG, **config),
    )
    state = Running(world, reconciler, services, nodes)
    reconciler.on_released = state.released.extend

    async def watch_services() -> None:
        with state.watching:
            await services.run()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_services)
        tg.start_soon(nodes.run)
        with anyio.fail_after(30):
            await services.wait_synced()
            await nodes.wait_synced()
        try:
            yield state
        finally:
            tg.cancel_scope.cancel()
