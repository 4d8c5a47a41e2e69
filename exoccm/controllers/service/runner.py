"""Wiring of the service controller: the work queue and workers, node-change coalescing, drift.

A Node event can change the target pool of any Service whose pool is inferred, but re-queueing
every Service on every Node event would be N*M work; instead Node changes that matter to load
balancing set one "node set changed" flag, and a single task re-queues the load-balancer
Services at low priority at most once per ``node_coalesce`` seconds.
"""

from __future__ import annotations

from collections.abc import Iterable

import anyio

from exoccm.controllers.matching import eligible_for_load_balancing, node_ips
from exoccm.controllers.service import kubeside
from exoccm.controllers.service.controller import ServiceReconciler
from exoccm.controllers.service.drift import CollectorLimits, DriftRepair
from exoccm.engine.controller import Controller
from exoccm.engine.informer import Tombstone
from exoccm.engine.queue import Priority
from exoccm.engine.ratelimit import SERVICE_PROFILE
from exoccm.kube.objects import Obj, key_of


def _lb_view(node: Obj) -> tuple[object, ...]:
    """The parts of a Node that can change which pool a Service targets."""
    return (
        eligible_for_load_balancing(node),
        (node.get("spec") or {}).get("providerID"),
        tuple(node_ips(node)),
        ((node.get("status") or {}).get("nodeInfo") or {}).get("systemUUID"),
    )


class ServiceController:
    def __init__(
        self,
        reconciler: ServiceReconciler,
        *,
        workers: int,
        drift_period: float,
        resync_period: float | None = None,
        node_coalesce: float = 1.0,
    ):
        self.reconciler = reconciler
        self.controller = Controller(
            "service", reconciler.reconcile, workers=workers, rate_limit=SERVICE_PROFILE
        )
        self.controller.watch(reconciler.services, resync_period=resync_period)
        config = reconciler.config
        self.drift = DriftRepair(
            reconciler,
            self._enqueue_low,
            drift_period,
            CollectorLimits(config.orphan_delete_limit, config.orphan_max_share),
            warn=self._warn_cluster,
        )
        reconciler.on_released = self._enqueue
        self.node_coalesce = node_coalesce
        self._nodes_changed = anyio.Event()
        reconciler.nodes.add_handler(self._on_node_add, self._on_node_update, self._on_node_delete)

    def _enqueue(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.controller.enqueue(key)

    async def _warn_cluster(self, message: str) -> None:
        """A Warning about exoccm as a whole, recorded on the object the config names."""
        target = self.reconciler.config.event_object
        if target is not None:
            await self.reconciler.recorder.event(
                dict(target), "Warning", "OrphanCollectionBlocked", message
            )

    def _enqueue_low(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.controller.enqueue(key, Priority.LOW)

    def _on_node_add(self, _: Obj, initial: bool) -> None:
        if not initial:  # the initial list is covered by every Service's initial reconcile
            self._nodes_changed.set()

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        if old is not new and _lb_view(old) != _lb_view(new):
            self._nodes_changed.set()

    def _on_node_delete(self, _: Obj | Tombstone) -> None:
        self._nodes_changed.set()

    async def _requeue_on_node_changes(self) -> None:
        while True:
            await self._nodes_changed.wait()
            self._nodes_changed = anyio.Event()
            self._enqueue_low(
                key_of(s)
                for s in self.reconciler.services.list()
                if kubeside.wants_load_balancer(s)
            )
            await anyio.sleep(self.node_coalesce)

    async def run(self) -> None:
        """Serve while leading; returns when the controller is stopped."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.drift.run)
            tg.start_soon(self._requeue_on_node_changes)
            await self.controller.run()
            tg.cancel_scope.cancel()

    def stop(self) -> None:
        self.controller.stop()
