"""Wiring of the node controllers: initialization, lifecycle and CSR approval.

The app owns the informers (they stay warm on standby replicas) and passes them in; this class
registers its handlers on them, and :meth:`NodeControllers.run` serves only while leading::

    nodes = Informer(kube, NODES, transform=project_node, name="nodes")
    csrs = Informer(kube, CSRS, transform=project_csr, name="csrs")   # only if csr is enabled
    node_controllers = NodeControllers(
        kube=kube, nodes=nodes, csrs=csrs, inventories=inventories, recorder=recorder,
        config=NodeControllerConfig.from_settings(settings),
    )
    ...
    await node_controllers.run()        # while leading; returns after stop()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import structlog

from exoccm.config.cloudconfig import InstancesConfig
from exoccm.controllers.inventory import Inventories
from exoccm.controllers.node.csr import CSR_PROFILE, CsrApprover
from exoccm.controllers.node.initializer import NodeInitializer
from exoccm.controllers.node.lifecycle import NodeLifecycle, lifecycle_view
from exoccm.controllers.node.monitor import NotReadyMonitor
from exoccm.controllers.node.resolve import InstanceLocator
from exoccm.controllers.node.state import (
    addresses_of,
    node_annotations,
    node_labels,
    provider_id_of,
    system_uuid_of,
    taints_of,
)
from exoccm.engine.clock import SYSTEM_CLOCK, Clock
from exoccm.engine.controller import Controller
from exoccm.engine.informer import Informer
from exoccm.engine.queue import Priority
from exoccm.engine.ratelimit import RateLimitProfile
from exoccm.kube.client import KubeClient
from exoccm.kube.events import EventRecorder
from exoccm.kube.objects import Obj

if TYPE_CHECKING:
    from exoccm.config.settings import Settings

log = structlog.get_logger(__name__)

NODE_CONTROLLERS = frozenset({"node", "lifecycle", "csr"})
#: Node reconciles: 1 s, 2 s, ... up to 5 min between attempts on one Node.
NODE_PROFILE = RateLimitProfile(base_delay=1.0, max_delay=300.0, qps=None)


@dataclass(frozen=True)
class NodeControllerConfig:
    default_zone: str
    instances: InstancesConfig = field(default_factory=InstancesConfig)
    #: Which of ``node``, ``lifecycle``, ``csr`` run (``Settings.enabled_controllers``).
    enabled: frozenset[str] = frozenset({"node", "lifecycle"})
    workers: int = 4
    csr_workers: int = 2
    refresh_period: float = 300.0
    #: While a zone has NotReady Nodes, its instances are listed this often (seconds).
    monitor_period: float = 5.0
    #: Replay of the cached Nodes (and CSRs) to the controllers, at low priority (seconds).
    resync_period: float | None = None
    #: A lookup miss re-lists a zone only if its listing is older than this (seconds); so does
    #: a Node turning NotReady.
    miss_refresh_age: float = 2.0

    @classmethod
    def from_settings(cls, settings: Settings) -> NodeControllerConfig:
        if settings.zone is None:
            raise ValueError("settings have no zone (EXOSCALE_API_ZONE)")
        return cls(
            default_zone=settings.zone,
            instances=settings.instances,
            enabled=settings.enabled_controllers & NODE_CONTROLLERS,
            workers=settings.node_workers,
            refresh_period=settings.node_refresh_period,
            monitor_period=settings.node_monitor_period,
            resync_period=settings.resync_period,
        )


def initializer_view(node: Obj) -> tuple[object, ...]:
    """The parts of a Node the node controller reads (heartbeats do not re-queue it)."""
    return (
        tuple(sorted(node_labels(node).items())),
        tuple(sorted(node_annotations(node).items())),
        tuple(str(t) for t in taints_of(node)),
        provider_id_of(node),
        system_uuid_of(node),
        addresses_of(node),
    )


class NodeControllers:
    """The node, lifecycle and CSR controllers that ``config.enabled`` asks for."""

    def __init__(
        self,
        *,
        kube: KubeClient,
        nodes: Informer,
        csrs: Informer | None,
        inventories: Inventories,
        recorder: EventRecorder,
        config: NodeControllerConfig,
        clock: Clock = SYSTEM_CLOCK,
    ):
        """``clock`` times the NotReady monitor; it must be the inventories' clock."""
        unknown = set(config.enabled) - NODE_CONTROLLERS
        if unknown:
            raise ValueError(
                f"unknown node controller(s) {sorted(unknown)}; use node, lifecycle, csr"
            )
        self.config = config
        self.nodes = nodes
        self.locator = InstanceLocator(
            inventories, config.default_zone, miss_refresh_age=config.miss_refresh_age
        )
        enabled = set(config.enabled)
        if config.instances.disabled:
            # The Go CCM's words, so existing log alerts keep matching.
            log.info(
                "Cloud provider does not support instances",
                reason="instances.disabled is set in the cloud-config",
                not_running=["node", "lifecycle"],
            )
            enabled -= {"node", "lifecycle"}
        self.enabled = frozenset(enabled)
        self._controllers: list[Controller] = []
        self._stop_requested = anyio.Event()
        self.initializer: NodeInitializer | None = None
        self.lifecycle: NodeLifecycle | None = None
        self.csr: CsrApprover | None = None
        self.monitor: NotReadyMonitor | None = None
        self._lifecycle_controller: Controller | None = None

        if "node" in enabled:
            self.initializer = NodeInitializer(
                kube=kube,
                nodes=nodes,
                locator=self.locator,
                recorder=recorder,
                instances=config.instances,
            )
            controller = Controller(
                "node", self.initializer.reconcile, workers=config.workers, rate_limit=NODE_PROFILE
            )
            controller.watch(
                nodes,
                update_filter=_changed(initializer_view),
                resync_period=config.resync_period,
            )
            self._controllers.append(controller)
        if "lifecycle" in enabled:
            self.lifecycle = NodeLifecycle(
                kube=kube,
                nodes=nodes,
                locator=self.locator,
                recorder=recorder,
                instances=config.instances,
                refresh_period=config.refresh_period,
            )
            controller = Controller(
                "node-lifecycle",
                self.lifecycle.reconcile,
                workers=config.workers,
                rate_limit=NODE_PROFILE,
            )
            controller.watch(
                nodes,
                update_filter=_changed(lifecycle_view),
                resync_period=config.resync_period,
            )
            self._controllers.append(controller)
            self._lifecycle_controller = controller
            if not config.instances.external_only:  # then NotReady Nodes need no listing
                self.monitor = NotReadyMonitor(
                    nodes=nodes,
                    locator=self.locator,
                    judged=self.lifecycle.judges,
                    enqueue=self._enqueue_lifecycle_now,
                    period=config.monitor_period,
                    min_gap=config.miss_refresh_age,
                    clock=clock,
                )
        if "csr" in enabled:
            if csrs is None:
                raise ValueError(
                    "the csr controller needs a CSR informer: "
                    "Informer(kube, CSRS, transform=project_csr)"
                )
            self.csr = CsrApprover(kube=kube, csrs=csrs, nodes=nodes, locator=self.locator)
            controller = Controller(
                "node-csr", self.csr.reconcile, workers=config.csr_workers, rate_limit=CSR_PROFILE
            )
            controller.watch(csrs, resync_period=config.resync_period)
            self._controllers.append(controller)

    def __repr__(self) -> str:
        return f"NodeControllers(enabled={sorted(self.enabled)}, zone={self.config.default_zone!r})"

    @property
    def controllers(self) -> list[Controller]:
        return list(self._controllers)

    def _enqueue_lifecycle(self, keys: Iterable[str]) -> None:
        if self._lifecycle_controller is not None:
            for key in keys:
                self._lifecycle_controller.enqueue(key, Priority.LOW)

    def _enqueue_lifecycle_now(self, keys: Iterable[str]) -> None:
        if self._lifecycle_controller is not None:
            for key in keys:
                self._lifecycle_controller.enqueue(key, Priority.NORMAL)

    async def refresh(self) -> None:
        """One lifecycle pass now (the loop in :meth:`run` does one every refresh period)."""
        if self.lifecycle is not None:
            await self.lifecycle.refresh(self._enqueue_lifecycle)

    async def _lifecycle_passes(self) -> None:
        """The refresh passes and, once the first pass has listed every zone, the monitor."""
        assert self.lifecycle is not None
        await self.nodes.wait_synced()
        first_pass = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.lifecycle.run_refresh, self._enqueue_lifecycle, first_pass)
            if self.monitor is not None:
                await first_pass.wait()
                tg.start_soon(self.monitor.run, name="node-not-ready-monitor")

    async def _stop_when_asked(self) -> None:
        await self._stop_requested.wait()
        for controller in self._controllers:
            controller.stop()

    async def run(self) -> None:
        """Serve while leading: returns after :meth:`stop` (graceful), or is cancelled."""
        log.info("Starting node controllers", enabled=sorted(self.enabled))
        try:
            async with anyio.create_task_group() as background:
                async with anyio.create_task_group() as controllers:
                    for controller in self._controllers:
                        controllers.start_soon(controller.run, name=f"controller-{controller.name}")
                    if self.lifecycle is not None:
                        background.start_soon(self._lifecycle_passes, name="node-lifecycle-passes")
                    controllers.start_soon(self._stop_when_asked)
                background.cancel_scope.cancel()
        finally:
            self._stop_requested = anyio.Event()  # the next run (next leadership) starts afresh

    def stop(self) -> None:
        self._stop_requested.set()


def _changed(view: Callable[[Obj], tuple[object, ...]]) -> Callable[[Obj, Obj], bool]:
    def update_filter(old: Obj, new: Obj) -> bool:
        return view(old) != view(new)

    return update_filter
