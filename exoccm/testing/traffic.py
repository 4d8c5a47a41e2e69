"""Nodes and Pods that carry traffic in the test ground: kube-proxy and website stand-ins.

:class:`ClusterTraffic` polls the real apiserver for Nodes, Services, EndpointSlices and Pods
every :data:`POLL_PERIOD_SECONDS` and keeps one :class:`~exoccm.testing.kubeproxy.NodeProxy`
per Node and one web server per website Pod (:mod:`exoccm.testing.website`) in line with them.
Everything listens on loopback addresses only: Nodes without a loopback address are skipped,
and Pods are served on the loopback addresses carrying their IPs (a
:class:`~exoccm.testing.podnet.PodNetwork`).

Synchronous tests and the demo use :func:`cluster_traffic`, which runs it all in a background
thread and hands back a :class:`TrafficControl`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskGroup
from anyio.from_thread import BlockingPortal, start_blocking_portal

from exoccm.kube.client import KubeClient
from exoccm.kube.config import from_kubeconfig
from exoccm.kube.errors import KubeError
from exoccm.kube.resources import NODES, SERVICES, Resource
from exoccm.testing.cluster_state import NodePlan, Site, node_plans, website_sites
from exoccm.testing.kubeproxy import NodeProxy
from exoccm.testing.podnet import PodNetwork
from exoccm.testing.website import PodSites

PODS = Resource("", "v1", "pods", "Pod", namespaced=True)
ENDPOINT_SLICES = Resource(
    "discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", namespaced=True
)
POLL_PERIOD_SECONDS = 0.25

logger = logging.getLogger("exoccm.testing.traffic")
T = TypeVar("T")


class ClusterTraffic:
    """The stand-ins of one cluster whose Pod IPs come from ``pod_network`` (each Pod is served
    on the loopback address carrying its IP). ``namespaces`` limits the Services and Pods served
    (default: all; Nodes are always all of them);
    ``low_ports=False`` moves Pod ports below 1024 up (default: only where they are out of
    reach, see :mod:`exoccm.testing.website`)."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        pod_network: PodNetwork,
        namespaces: Collection[str] | None = None,
        low_ports: bool | None = None,
    ) -> None:
        self._kube = kube
        self._pod_network = pod_network
        self._namespaces = None if namespaces is None else sorted(namespaces)
        self._low_ports = low_ports
        self._group: TaskGroup | None = None
        self._sites: PodSites | None = None
        self._lock = anyio.Lock()
        self._reported: set[str] = set()
        self.proxies: dict[str, NodeProxy] = {}

    @property
    def sites(self) -> PodSites:
        if self._sites is None:
            raise RuntimeError("not running: use `async with traffic.running()`")
        return self._sites

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ClusterTraffic]:
        """Serve inside the block; close every socket on exit."""
        polling = anyio.CancelScope()
        async with anyio.create_task_group() as group:
            self._group = group
            self._sites = PodSites(group, self._pod_network, low_ports=self._low_ports)
            try:
                await self.sync()
                group.start_soon(self._poll, polling)
                yield self
            finally:
                polling.cancel()
                with anyio.CancelScope(shield=True):
                    async with self._lock:  # after any sync in progress
                        for proxy in self.proxies.values():
                            await proxy.apply(NodePlan(proxy.name, None))
                        await self._sites.close()
                group.cancel_scope.cancel()
        self._group = self._sites = None

    async def _poll(self, scope: anyio.CancelScope) -> None:
        with scope:
            while True:
                await anyio.sleep(POLL_PERIOD_SECONDS)
                await self.sync()

    async def sync(self) -> None:
        """Read the cluster now and bring the stand-ins in line."""
        async with self._lock:
            try:
                nodes = await self._list(NODES, cluster_wide=True)
                services = await self._list(SERVICES)
                slices = await self._list(ENDPOINT_SLICES)
                pods = await self._list(PODS)
            except KubeError as error:
                if str(error) not in self._reported:  # once per distinct trouble
                    logger.warning("traffic stand-ins: cannot read the cluster: %s", error)
                    self._reported.add(str(error))
                return
            await self.sites.apply(website_sites(pods))
            plans = node_plans(nodes, services, slices)
            for name, plan in plans.items():
                await self._proxy(name).apply(plan)
            for name, proxy in self.proxies.items():
                if name not in plans:
                    await proxy.apply(NodePlan(name, None))  # the Node is gone

    async def stop_proxy(self, node: str) -> None:
        async with self._lock:
            await self._proxy(node).stop()

    async def start_proxy(self, node: str) -> None:
        async with self._lock:
            await self._proxy(node).start()

    def _proxy(self, node: str) -> NodeProxy:
        if node not in self.proxies:
            assert self._group is not None
            self.proxies[node] = NodeProxy(node, self._group, self.sites.address_of)
        return self.proxies[node]

    async def _list(self, resource: Resource, *, cluster_wide: bool = False) -> list[Any]:
        if cluster_wide or self._namespaces is None:
            return (await self._kube.list(resource.path())).items
        items: list[Any] = []
        for namespace in self._namespaces:
            items += (await self._kube.list(resource.path(namespace))).items
        return items


class TrafficControl:
    """A synchronous handle on a :class:`ClusterTraffic` running in a background thread."""

    def __init__(self, portal: BlockingPortal, traffic: ClusterTraffic) -> None:
        self._portal = portal
        self._traffic = traffic

    def _read(self, read: Callable[[], T]) -> T:
        return self._portal.call(read)

    def sync(self) -> None:
        """Bring the stand-ins in line with the cluster now (instead of at the next poll)."""
        self._portal.call(self._traffic.sync)

    def stop_proxy(self, node: str) -> None:
        """Stop Node ``node``'s kube-proxy: its NodePorts and health-check ports close."""
        self._portal.call(self._traffic.stop_proxy, node)

    def start_proxy(self, node: str) -> None:
        self._portal.call(self._traffic.start_proxy, node)

    def connections(self, node: str) -> int:
        """Connections Node ``node``'s kube-proxy has forwarded to an endpoint so far (those
        on which the client sent something, counted when they end)."""
        return self._read(lambda: self._traffic._proxy(node).connections)

    def health_requests(self, node: str) -> int:
        return self._read(lambda: self._traffic._proxy(node).health_requests)

    def proxy_ports(self, node: str) -> list[int]:
        """The ports Node ``node``'s kube-proxy listens on now."""
        return self._read(lambda: self._traffic._proxy(node).ports)

    def sites(self) -> list[Site]:
        """The website Pods being served."""
        return self._read(lambda: self._traffic.sites.sites)

    def requests(self) -> dict[str, int]:
        """Website requests answered so far, by ``X-Served-By`` value."""
        return self._read(lambda: dict(self._traffic.sites.requests))


@contextmanager
def cluster_traffic(
    kubeconfig: Path,
    *,
    pod_network: PodNetwork,
    namespaces: Collection[str] | None = None,
    low_ports: bool | None = None,
) -> Iterator[TrafficControl]:
    """Run the stand-ins for the cluster of ``kubeconfig`` in a background thread (arguments
    as for :class:`ClusterTraffic`)."""
    with start_blocking_portal(backend="asyncio") as portal:
        kube = KubeClient(from_kubeconfig(kubeconfig), user_agent="exoccm-test-traffic")
        try:
            traffic = ClusterTraffic(
                kube, namespaces=namespaces, pod_network=pod_network, low_ports=low_ports
            )
            serving = portal.wrap_async_context_manager(traffic.running())
            serving.__enter__()
            try:
                yield TrafficControl(portal, traffic)
            finally:
                # The block's exception (Ctrl-C, say) is the caller's: the stand-ins just stop,
                # rather than meet it inside their task group.
                serving.__exit__(None, None, None)
        finally:
            portal.call(kube.aclose)
