"""The node controllers in-process against the real apiserver and the simulator.

Nodes are cluster-scoped and the apiserver is shared by the whole session, so each test's Nodes
and CSRs carry a label with the test's ``namespace`` value, and the informers select only them:
the controllers under test never see, let alone delete, another test's Nodes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
import httpx
import pytest

from exoccm.config.cloudconfig import InstancesConfig
from exoccm.controllers.inventory import Inventories
from exoccm.controllers.node.csr import project_csr
from exoccm.controllers.node.runner import NodeControllerConfig, NodeControllers
from exoccm.controllers.projections import project_node
from exoccm.engine.clock import SYSTEM_CLOCK, Clock
from exoccm.engine.informer import Informer
from exoccm.exoscale import Credentials, ExoscaleClients
from exoccm.kube.client import KubeClient
from exoccm.kube.config import from_kubeconfig
from exoccm.kube.errors import KubeConflictError, KubeNotFoundError
from exoccm.kube.events import EventRecorder
from exoccm.kube.objects import Obj
from exoccm.kube.resources import (
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    CSRS,
    EVENTS,
    NODES,
)
from exoccm.sim import Simulator
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.nodes import node_manifest

ZONE = "de-muc-1"
OTHER_ZONE = "ch-gva-2"
SIM_ENDPOINT = "http://sim.invalid/{zone}/v2"
TEST_LABEL = "exoccm.test/owner"
CSR_REQUESTERS = "exoccm:test-csr-requesters"
# What the Go CCM's published IAM policy allows for nodes: the controllers need nothing else.
NODE_OPERATIONS = ("list-instances", "get-instance", "get-instance-type", "list-zones")


@pytest.fixture
def sim() -> Simulator:
    return Simulator(seed=7)


@pytest.fixture
def clock() -> Clock:
    """The clock of the zone inventories and the NotReady monitor (a module may override it
    with a FakeClock)."""
    return SYSTEM_CLOCK


@pytest.fixture
async def inventories(sim: Simulator, clock: Clock) -> AsyncIterator[Inventories]:
    key = sim.add_api_key(operations=NODE_OPERATIONS)
    async with ExoscaleClients(
        Credentials.of(*key),
        zone=ZONE,
        endpoint=SIM_ENDPOINT,
        transport=httpx.ASGITransport(app=sim.app),
    ) as clients:
        yield Inventories(clients.zone, clock=clock.monotonic)


async def until(
    condition: Callable[[], Awaitable[object]], timeout: float = 20.0, interval: float = 0.05
) -> None:
    """Poll the async ``condition`` until it is truthy; TimeoutError after ``timeout`` s."""
    with anyio.fail_after(timeout):
        while not await condition():  # noqa: ASYNC110 - polling the apiserver, not local state
            await anyio.sleep(interval)


class CountingKube(KubeClient):
    """The controllers' client: a real one that remembers every write it sent."""

    def __init__(self, plane: ControlPlane):
        super().__init__(from_kubeconfig(plane.kubeconfig))
        self.writes: list[tuple[str, str]] = []

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if method != "GET":
            self.writes.append((method, path))
        return await super().request(method, path, **kwargs)

    def node_writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.writes if p.startswith(NODES.path())]


@dataclass
class NodeWorld:
    """One test's Nodes, CSRs and controllers. ``kube`` is the test's own (admin) client,
    ``controller_kube`` the one the controllers use."""

    kube: KubeClient
    controller_kube: CountingKube
    plane: ControlPlane
    sim: Simulator
    inventories: Inventories
    tag: str
    clock: Clock = SYSTEM_CLOCK
    created: list[str] = field(default_factory=list)
    created_csrs: list[str] = field(default_factory=list)

    def name(self, suffix: str) -> str:
        return f"{self.tag}-{suffix}"

    async def create_node(self, suffix: str, **kwargs: Any) -> Obj:
        """A Node as the kubelet registers it (created, then its status written)."""
        manifest = node_manifest(self.name(suffix), **kwargs)
        manifest["metadata"]["labels"][TEST_LABEL] = self.tag
        status = manifest.pop("status")
        created = await self.kube.create(NODES.path(), manifest)
        self.created.append(self.name(suffix))
        return await self.kube.patch(
            NODES.path(name=created["metadata"]["name"], subresource="status"), {"status": status}
        )

    async def node(self, suffix: str) -> Obj | None:
        try:
            return await self.kube.get(NODES.path(name=self.name(suffix)))
        except KubeNotFoundError:
            return None

    async def set_ready(self, suffix: str, ready: bool) -> None:
        status = "True" if ready else "Unknown"
        await self.kube.patch(
            NODES.path(name=self.name(suffix), subresource="status"),
            {
                "status": {
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": status,
                            "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                            "message": "",
                            "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                            "lastTransitionTime": "2026-01-01T00:00:00Z",
                        }
                    ]
                }
            },
            patch_type="strategic",
        )

    async def events(self, suffix: str) -> list[Obj]:
        page = await self.kube.list(
            EVENTS.path("default"),
            params={"fieldSelector": f"involvedObject.name={self.name(suffix)}"},
        )
        return page.items

    async def event_reasons(self, suffix: str) -> set[str]:
        return {str(e.get("reason")) for e in await self.events(suffix)}

    async def cleanup(self) -> None:
        paths = [NODES.path(name=n) for n in self.created]
        paths += [CSRS.path(name=n) for n in self.created_csrs]
        for path in paths:
            with suppress(KubeNotFoundError):
                await self.kube.delete(path)


@pytest.fixture
async def world(
    kube: KubeClient,
    control_plane: ControlPlane,
    sim: Simulator,
    inventories: Inventories,
    namespace: str,
    clock: Clock,
) -> AsyncIterator[NodeWorld]:
    controller_kube = CountingKube(control_plane)
    world = NodeWorld(kube, controller_kube, control_plane, sim, inventories, namespace, clock)
    try:
        yield world
    finally:
        await world.cleanup()
        await controller_kube.aclose()


@dataclass
class Running:
    controllers: NodeControllers
    nodes: Informer
    csrs: Informer


def config_for(**changes: Any) -> NodeControllerConfig:
    base = NodeControllerConfig(
        default_zone=ZONE,
        instances=InstancesConfig(),
        enabled=frozenset({"node", "lifecycle"}),
        workers=4,
        refresh_period=3600.0,  # tests run passes themselves (``controllers.refresh()``)
        monitor_period=1.0,
        miss_refresh_age=0.5,
    )
    return replace(base, **changes)


@asynccontextmanager
async def running(world: NodeWorld, config: NodeControllerConfig) -> AsyncIterator[Running]:
    """Informers (selecting this test's objects) and the node controllers, while in the block."""
    selector = f"{TEST_LABEL}={world.tag}"
    kube = world.controller_kube
    nodes = Informer(
        kube,
        NODES,
        transform=project_node,
        label_selector=selector,
        name=f"nodes-{world.tag}",
    )
    csrs = Informer(
        kube, CSRS, transform=project_csr, label_selector=selector, name=f"csrs-{world.tag}"
    )
    controllers = NodeControllers(
        kube=kube,
        nodes=nodes,
        csrs=csrs,
        inventories=world.inventories,
        recorder=EventRecorder(kube, "exoccm-test"),
        config=config,
        clock=world.clock,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(nodes.run)
        tg.start_soon(csrs.run)
        with anyio.fail_after(30):
            await nodes.wait_synced()
            await csrs.wait_synced()
        tg.start_soon(controllers.run)
        try:
            yield Running(controllers, nodes, csrs)
        finally:
            controllers.stop()
            tg.cancel_scope.cancel()


async def settled(controllers: NodeControllers) -> bool:
    """Whether every running controller has worked through its queue (and the lifecycle
    controller's startup pass has happened)."""
    if controllers.lifecycle is not None and controllers.lifecycle.passes == 0:
        return False
    for controller in controllers.controllers:
        queue = controller.queue
        if queue is None or queue.depth or queue.processing or queue.waiting:
            return False
    return True


async def ensure_csr_rbac(kube: KubeClient) -> None:
    """Let the impersonated test kubelets create and read CSRs (no Node authorizer here)."""
    for path, obj in (
        (
            CLUSTER_ROLES.path(),
            {
                "metadata": {"name": CSR_REQUESTERS},
                "rules": [
                    {
                        "apiGroups": ["certificates.k8s.io"],
                        "resources": ["certificatesigningrequests"],
                        "verbs": ["create", "get"],
                    }
                ],
            },
        ),
        (
            CLUSTER_ROLE_BINDINGS.path(),
            {
                "metadata": {"name": CSR_REQUESTERS},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": CSR_REQUESTERS,
                },
                "subjects": [
                    {
                        "kind": "Group",
                        "apiGroup": "rbac.authorization.k8s.io",
                        "name": CSR_REQUESTERS,
                    }
                ],
            },
        ),
    ):
        with suppress(KubeConflictError):
            await kube.create(path, obj)


@asynccontextmanager
async def impersonating(
    plane: ControlPlane, user: str, groups: list[str]
) -> AsyncIterator[httpx.AsyncClient]:
    """The admin acting as ``user`` in ``groups`` (the apiserver records them in the CSR)."""
    config = from_kubeconfig(plane.kubeconfig)
    headers = [("Authorization", f"Bearer {plane.admin_token}"), ("Impersonate-User", user)]
    headers += [("Impersonate-Group", group) for group in [*groups, CSR_REQUESTERS]]
    async with httpx.AsyncClient(
        base_url=plane.url, verify=config.ssl_context(), headers=headers, timeout=30
    ) as client:
        yield client
