"""A stand-in for kube-proxy on one Node: NodePorts and health-check ports on the Node's IP.

Each NodePort forwards a new TCP connection to one of its route's endpoints, in turn (as
kube-proxy's IPVS mode does), and relays bytes both ways. Each ``healthCheckNodePort`` answers
any HTTP request as kube-proxy does: 200 when the Node has local endpoints for the Service, 503
when it has none, with a JSON body giving the count (``localEndpoints``). A stopped proxy
listens nowhere, as on a Node whose kube-proxy is down.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import SocketStream, TaskGroup

from exoccm.sim.dataplane_net import relay
from exoccm.testing.cluster_state import HealthRoute, NodePlan, is_loopback
from exoccm.testing.httpserve import read_request, response

logger = logging.getLogger("exoccm.testing.kubeproxy")

Resolve = Callable[[str, int], "tuple[str, int] | None"]
"""Where an endpoint ``ip:port`` really listens (see :meth:`PodSites.address_of`); None when
it cannot be reached from here."""


@dataclass(eq=False)
class _Listener:
    scope: anyio.CancelScope
    stopped: anyio.Event


class NodeProxy:
    """kube-proxy for Node :attr:`name`; :meth:`apply` gives it its current plan."""

    def __init__(self, name: str, group: TaskGroup, resolve: Resolve) -> None:
        self.name = name
        self.stopped = False
        #: Connections forwarded to an endpoint that carried data from the client (so a load
        #: balancer's bare TCP health check, which sends nothing, is not counted), once they end.
        self.connections = 0
        #: Requests answered on health-check ports.
        self.health_requests = 0
        self._group = group
        self._resolve = resolve
        self._plan = NodePlan(name, None)
        self._address: str | None = None
        self._listeners: dict[int, _Listener] = {}
        self._turns: Counter[int] = Counter()

    @property
    def address(self) -> str | None:
        return self._address

    @property
    def ports(self) -> list[int]:
        """The ports listening now."""
        return sorted(self._listeners)

    async def apply(self, plan: NodePlan) -> None:
        self._plan = plan
        wanted = set() if self.stopped or plan.address is None else {*plan.ports, *plan.health}
        if plan.address != self._address:
            await self._close(list(self._listeners))
            self._address = plan.address
        await self._close([port for port in self._listeners if port not in wanted])
        for port in sorted(wanted - set(self._listeners)):
            await self._open(port)

    async def stop(self) -> None:
        """Close every port until :meth:`start`: the Node's kube-proxy is down."""
        self.stopped = True
        await self.apply(self._plan)

    async def start(self) -> None:
        self.stopped = False
        await self.apply(self._plan)

    async def _open(self, port: int) -> None:
        assert self._address is not None
        try:
            listener = await anyio.create_tcp_listener(local_host=self._address, local_port=port)
        except OSError as error:
            logger.error(
                "kube-proxy on %s: cannot listen on %s:%d: %s",
                self.name,
                self._address,
                port,
                error,
            )
            return
        running = self._listeners[port] = _Listener(anyio.CancelScope(), anyio.Event())
        self._group.start_soon(self._serve, running, listener, port)

    async def _serve(self, running: _Listener, listener: Any, port: int) -> None:
        try:
            with running.scope:
                await listener.serve(lambda stream: self._handle(port, stream))
        finally:
            await listener.aclose()
            running.stopped.set()

    async def _close(self, ports: list[int]) -> None:
        for port in ports:
            running = self._listeners.pop(port)
            running.scope.cancel()
            await running.stopped.wait()

    async def _handle(self, port: int, stream: SocketStream) -> None:
        async with stream:
            health = self._plan.health.get(port)
            if health is not None:
                await self._answer_health(health, stream)
            else:
                await self._forward(port, stream)

    async def _forward(self, port: int, client: SocketStream) -> None:
        route = self._plan.ports.get(port)
        if route is None or not route.endpoints:
            return  # no (local) endpoint: dropped, as kube-proxy does
        endpoint = route.endpoints[self._turns[port] % len(route.endpoints)]
        self._turns[port] += 1
        target = self._resolve(endpoint.ip, endpoint.port)
        if target is None or not is_loopback(target[0]):
            logger.warning(
                "kube-proxy on %s: refusing to forward to %s:%d, which is served nowhere on "
                "127.0.0.0/8",
                self.name,
                endpoint.ip,
                endpoint.port,
            )
            return
        ip, target_port = target
        try:
            upstream = await anyio.connect_tcp(ip, target_port)
        except OSError as error:
            logger.debug("kube-proxy on %s: %s:%d: %s", self.name, ip, target_port, error)
            return
        async with upstream:
            sent, _ = await relay(client, upstream)
        if sent:
            self.connections += 1

    async def _answer_health(self, route: HealthRoute, stream: SocketStream) -> None:
        request = await read_request(stream)
        if request is None:
            return
        self.health_requests += 1
        body = json.dumps(
            {
                "service": {"namespace": route.namespace, "name": route.name},
                "localEndpoints": route.local_endpoints,
                "serviceProxyHealthy": True,
            },
            indent="\t",
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Content-Type-Options": "nosniff",
            "X-Load-Balancing-Endpoint-Weight": str(route.local_endpoints),
        }
        status = 200 if route.local_endpoints else 503
        try:
            await stream.send(response(status, body, headers, head_only=request[0] == "HEAD"))
        except (anyio.BrokenResourceError, OSError):
            return
