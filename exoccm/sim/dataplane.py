"""The simulator's data plane: NLBs that forward real traffic on loopback addresses.

With ``Simulator(data_plane=True)`` (``exoccm sim --data-plane``) every NLB service that carries
traffic (see :mod:`exoccm.sim.dataplane_spec`) listens on its NLB's IP and port, health-checks
the members of its Instance Pool as configured, and forwards each new TCP connection (or UDP
flow) to a healthy member's target port, chosen by its strategy. ``healthcheck-status`` in the
API answers reports what the probes measured.

The data plane is level-triggered: every :data:`SYNC_PERIOD_SECONDS` (and whenever
:meth:`DataPlane.sync` is called) it compares the cloud's state with its listeners and opens,
updates or closes listeners to match. Nothing listens before :meth:`DataPlane.running` is
entered, and everything is closed when it exits.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio.abc import TaskGroup, TaskStatus

from exoccm.sim.cloud import Cloud
from exoccm.sim.dataplane_addresses import LoopbackNetworks
from exoccm.sim.dataplane_listener import ServiceListener
from exoccm.sim.dataplane_spec import ListenerKey, ListenerSpec, desired_listeners

SYNC_PERIOD_SECONDS = 0.1

logger = logging.getLogger("exoccm.sim.dataplane")


class DataPlane:
    """The listeners of one simulator's NLB services."""

    def __init__(self, cloud: Cloud, networks: LoopbackNetworks) -> None:
        self.networks = networks
        self._cloud = cloud
        self._listeners: dict[ListenerKey, ServiceListener] = {}
        self._bind_errors: dict[ListenerKey, str] = {}
        self._group: TaskGroup | None = None
        self._sync_lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"DataPlane(listeners={len(self._listeners)}, networks={self.networks!r})"

    @property
    def listening(self) -> list[str]:
        """What is listening now, e.g. ``tcp 127.10.0.1:80 (NLB service <id>)``."""
        return sorted(listener.spec.describe() for listener in self._listeners.values())

    @asynccontextmanager
    async def running(self) -> AsyncIterator[DataPlane]:
        """Carry traffic inside the block (in this event loop); close everything on exit."""
        if self._group is not None:
            raise RuntimeError("this data plane is already running")
        async with anyio.create_task_group() as group:
            await group.start(self._run)
            try:
                yield self
            finally:
                group.cancel_scope.cancel()

    async def _run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with anyio.create_task_group() as group:
                self._group = group
                await self.sync()
                task_status.started()
                while True:
                    await anyio.sleep(SYNC_PERIOD_SECONDS)
                    await self.sync()
        finally:
            self._group = None
            self._listeners.clear()
            self._bind_errors.clear()

    async def sync(self) -> None:
        """Bring the listeners in line with the cloud's state now."""
        if self._group is None:
            raise RuntimeError("the data plane is not running; use `async with dp.running()`")
        async with self._sync_lock:
            with self._cloud.lock:
                self._cloud.operations.settle()
                wanted = desired_listeners(self._cloud)
            for key in [k for k in self._listeners if k not in wanted]:
                await self._listeners.pop(key).close()
            for key, spec in wanted.items():
                current = self._listeners.get(key)
                if current is not None and current.spec.binding != spec.binding:
                    await self._listeners.pop(key).close()
                    current = None
                if current is None:
                    await self._open(spec)
                elif current.spec != spec:
                    current.update(spec)
            for key in [k for k in self._bind_errors if k not in wanted]:
                del self._bind_errors[key]

    async def _open(self, spec: ListenerSpec) -> None:
        assert self._group is not None
        listener = ServiceListener(spec, self._publish)
        try:
            await listener.open()
        except OSError as error:
            message = f"cannot listen on {spec.describe()}: {error}"
            if self._bind_errors.get(spec.key) != message:  # once, not every sync
                logger.error("data plane: %s; retrying", message)
                self._bind_errors[spec.key] = message
            return
        self._bind_errors.pop(spec.key, None)
        self._listeners[spec.key] = listener
        await self._group.start(listener.run)

    def _publish(self, spec: ListenerSpec, instance_id: str, healthy: bool | None) -> None:
        with self._cloud.lock:
            zone = self._cloud.zones.get(spec.zone)
            if zone is None or zone.measured_health is None:
                return
            key = (spec.service_id, instance_id)
            if healthy is None:
                zone.measured_health.pop(key, None)
            else:
                zone.measured_health[key] = healthy
