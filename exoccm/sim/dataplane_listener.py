"""One NLB service carrying traffic: its listening socket, its members' health checks, and the
choice of a member for each new connection (or, for UDP, each new client address)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import SocketAttribute, SocketStream, TaskGroup, TaskStatus

from exoccm.sim.dataplane_balance import Picker, picker
from exoccm.sim.dataplane_health import monitor
from exoccm.sim.dataplane_net import connect, relay
from exoccm.sim.dataplane_probe import Healthcheck, probe
from exoccm.sim.dataplane_spec import ListenerSpec, Member
from exoccm.sim.dataplane_udp import serve_udp

logger = logging.getLogger("exoccm.sim.dataplane")

Publish = Callable[[ListenerSpec, str, "bool | None"], None]
"""Record a member's measured health (None: forget it) where the API reads it."""


@dataclass(frozen=True, slots=True)
class _MonitorKey:
    instance_id: str
    ip: str
    healthcheck: Healthcheck


class ServiceListener:
    """Open with :meth:`open` (binds, may raise OSError), then run :meth:`run` in a task group;
    :meth:`update` applies changes that keep the binding, :meth:`close` ends it all."""

    def __init__(self, spec: ListenerSpec, publish: Publish) -> None:
        self.spec = spec
        self._publish = publish
        self._socket: Any = None
        self._group: TaskGroup | None = None
        self._scope: anyio.CancelScope | None = None
        self._closed = anyio.Event()
        self._monitors: dict[_MonitorKey, anyio.CancelScope] = {}
        self._healthy: dict[str, bool] = {}
        self._picker_members: tuple[str, ...] | None = None
        self._picker_strategy = ""
        self._picker: Picker | None = None
        self._by_name: dict[str, Member] = {}

    async def open(self) -> None:
        if self.spec.protocol == "udp":
            self._socket = await anyio.create_udp_socket(
                local_host=self.spec.address, local_port=self.spec.port
            )
        else:
            self._socket = await anyio.create_tcp_listener(
                local_host=self.spec.address, local_port=self.spec.port
            )

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            with anyio.CancelScope() as self._scope:
                async with anyio.create_task_group() as group:
                    self._group = group
                    self._sync_monitors()
                    task_status.started()
                    logger.info("data plane: listening on %s", self.spec.describe())
                    if self.spec.protocol == "udp":
                        await serve_udp(
                            self._socket, self._udp_destination, self.spec.address, group
                        )
                    else:
                        await self._socket.serve(self._forward, group)
        finally:
            with anyio.CancelScope(shield=True):
                await self._socket.aclose()
                for member in self.spec.members:
                    self._publish(self.spec, member.instance_id, None)
            logger.info("data plane: closed %s", self.spec.describe())
            self._closed.set()

    def update(self, spec: ListenerSpec) -> None:
        """New members, strategy, target port or health check, on the same address and port."""
        gone = {m.instance_id for m in self.spec.members} - {m.instance_id for m in spec.members}
        self.spec = spec
        for instance_id in gone:
            self._healthy.pop(instance_id, None)
            self._publish(spec, instance_id, None)
        self._sync_monitors()

    async def close(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            await self._closed.wait()
        elif self._socket is not None:
            await self._socket.aclose()

    def choose(self, client_ip: str) -> Member | None:
        """The healthy member a new flow from ``client_ip`` goes to, by the strategy."""
        names = tuple(
            f"{m.ip}:{self.spec.target_port}"
            for m in self.spec.members
            if self._healthy.get(m.instance_id) and not m.marked_unhealthy
        )
        if names != self._picker_members or self.spec.strategy != self._picker_strategy:
            self._picker = picker(self.spec.strategy, names)
            self._picker_members, self._picker_strategy = names, self.spec.strategy
            self._by_name = {
                f"{m.ip}:{self.spec.target_port}": m
                for m in self.spec.members
                if f"{m.ip}:{self.spec.target_port}" in names
            }
        assert self._picker is not None
        chosen = self._picker.pick(client_ip)
        return None if chosen is None else self._by_name[chosen]

    # -- traffic ----------------------------------------------------------------------------

    def _udp_destination(self, client_ip: str) -> tuple[str, int] | None:
        member = self.choose(client_ip)
        return None if member is None else (member.ip, self.spec.target_port)

    async def _forward(self, client: SocketStream) -> None:
        async with client:
            client_ip = str(client.extra(SocketAttribute.remote_address)[0])  # noqa: S610
            member = self.choose(client_ip)
            if member is None:
                logger.debug("data plane: %s has no healthy member", self.spec.describe())
                return  # nothing healthy: the connection is dropped, as on a real NLB
            try:
                upstream = await connect(
                    member.ip, self.spec.target_port, source=self.spec.address, purpose="traffic"
                )
            except OSError as error:
                logger.debug("data plane: %s:%d: %s", member.ip, self.spec.target_port, error)
                return
            async with upstream:
                await relay(client, upstream)

    # -- health checks ----------------------------------------------------------------------

    def _sync_monitors(self) -> None:
        assert self._group is not None
        wanted = {
            _MonitorKey(m.instance_id, m.ip, self.spec.healthcheck): m for m in self.spec.members
        }
        for key in set(self._monitors) - set(wanted):
            self._monitors.pop(key).cancel()
        for key in set(wanted) - set(self._monitors):
            scope = self._monitors[key] = anyio.CancelScope()
            self._group.start_soon(self._monitor, key, scope)

    async def _monitor(self, key: _MonitorKey, scope: anyio.CancelScope) -> None:
        def report(healthy: bool) -> None:
            if self._monitors.get(key) is scope:  # a replaced monitor's late word is ignored
                self._healthy[key.instance_id] = healthy
                self._publish(self.spec, key.instance_id, healthy)

        with scope:
            await monitor(
                lambda: probe(key.ip, key.healthcheck, source=self.spec.address),
                report,
                interval=key.healthcheck.interval,
                retries=key.healthcheck.retries,
            )
