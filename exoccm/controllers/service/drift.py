"""Drift repair and the orphan collector, once per drift period.

Each pass re-lists the NLBs of every zone in use (one call per zone), then re-queues every
load-balancer Service at low priority: a reconcile compares the fresh listing with the desired
state and reverts out-of-band edits. NLBs labelled as exoccm's for this cluster whose Service is
gone, no longer a load balancer, moved to another zone or to an external NLB, or duplicated by
an earlier crash are deleted, but only after two consecutive passes agree, so a Service created
a moment ago or a cache still syncing never costs an NLB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import structlog

from exoccm.controllers.inventory import ZoneInventory
from exoccm.controllers.service import kubeside
from exoccm.controllers.service.annotations import PREFIX
from exoccm.controllers.service.apply import apply_plan
from exoccm.controllers.service.controller import ServiceReconciler
from exoccm.controllers.service.decide import ID_ANNOTATION
from exoccm.controllers.service.desired import (
    LABEL_CLUSTER,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_UID,
    MANAGED_BY,
)
from exoccm.controllers.service.diff import DeleteLoadBalancer, Plan
from exoccm.exoscale.errors import ExoscaleError
from exoccm.exoscale.models import LoadBalancer
from exoccm.kube.objects import annotations_of, key_of, uid_of

log = structlog.get_logger(__name__)

EXTERNAL_ANNOTATION = PREFIX + "external"

Obj = dict[str, Any]


@dataclass(frozen=True)
class Orphan:
    zone: str
    load_balancer: LoadBalancer
    reason: str


def find_orphans(
    inventory: ZoneInventory,
    services_by_uid: Mapping[str, Obj],
    zone_of: Callable[[Obj], str],
    cluster_id: str,
) -> list[Orphan]:
    """Owned NLBs of this zone that no Service accounts for. Pure over the listings."""
    ours = inventory.find_by_labels(owned_by_cluster(cluster_id))
    by_uid: dict[str, list[LoadBalancer]] = {}
    orphans = []
    for lb in ours:
        uid = lb.labels.get(LABEL_SERVICE_UID, "")
        service = services_by_uid.get(uid)
        if service is None:
            orphans.append(Orphan(inventory.zone, lb, "its Service no longer exists"))
        elif not kubeside.wants_load_balancer(service):
            if not kubeside.has_finalizer(service):  # with it, the Service's cleanup runs
                orphans.append(
                    Orphan(inventory.zone, lb, "its Service is no longer a load balancer")
                )
        elif zone_of(service) != inventory.zone:
            orphans.append(
                Orphan(inventory.zone, lb, f"its Service moved to zone {zone_of(service)}")
            )
        elif _moved_to_external(service, lb):
            orphans.append(Orphan(inventory.zone, lb, "its Service now uses an external NLB"))
        else:
            by_uid.setdefault(uid, []).append(lb)
    for uid, lbs in by_uid.items():
        if len(lbs) < 2:
            continue
        pinned = annotations_of(services_by_uid[uid]).get(ID_ANNOTATION)
        keep = next((lb for lb in lbs if lb.id == pinned), lbs[0])  # lbs: oldest first
        orphans.extend(
            Orphan(inventory.zone, lb, f"it duplicates NLB {keep.id} of the same Service")
            for lb in lbs
            if lb.id != keep.id
        )
    return orphans


def _moved_to_external(service: Obj, lb: LoadBalancer) -> bool:
    """The Service now names another, external NLB and already serves from it, not from ``lb``."""
    annotations = annotations_of(service)
    if str(annotations.get(EXTERNAL_ANNOTATION, "")).strip().lower() != "true":
        return False
    if annotations.get(ID_ANNOTATION) == lb.id:
        return False  # the user declared this very NLB external: it is theirs now
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    serving = {entry.get("ip") for entry in ingress}
    return bool(serving) and lb.ip not in serving


def owned_by_cluster(cluster_id: str) -> dict[str, str]:
    return {LABEL_MANAGED_BY: MANAGED_BY, LABEL_CLUSTER: cluster_id}


class DriftRepair:
    """The periodic pass; runs only while leading."""

    def __init__(
        self,
        reconciler: ServiceReconciler,
        enqueue_low: Callable[[Iterable[str]], None],
        period: float,
    ):
        self.reconciler = reconciler
        self.enqueue_low = enqueue_low
        self.period = period
        self._suspects: set[tuple[str, str]] = set()
        self._surveyed = False
        self._zones_with_ours: set[str] = set()
        self.passes = 0

    async def run(self) -> None:
        while True:
            await anyio.sleep(self.period)
            try:
                await self.pass_once()
            except Exception:  # the next pass tries again; leader work must go on
                log.exception("drift pass failed")

    def _load_balancer_services(self) -> list[Obj]:
        return [s for s in self.reconciler.services.list() if kubeside.wants_load_balancer(s)]

    def _zones(self, services: list[Obj]) -> set[str]:
        """Zones to list: those in use, those holding exoccm's NLBs, and, until one pass has
        listed them all, every zone the client can reach (an NLB left in a zone no Service uses
        any more, say after a restart, is found once and then watched until collected)."""
        zones = self._zones_in_use(services)
        if not self._surveyed:
            zones |= set(self.reconciler.config.known_zones)
        return zones

    def _zones_in_use(self, services: list[Obj]) -> set[str]:
        config = self.reconciler.config
        return {self._zone(s) for s in services} | self._zones_with_ours | {config.default_zone}

    async def pass_once(self) -> None:
        services = self._load_balancer_services()
        in_use = self._zones_in_use(services)
        inventories = self.reconciler.inventories
        for zone in sorted(self._zones(services)):
            # A zone only surveyed gets a throwaway inventory, kept only if ours are found there.
            inventory = inventories.zone(zone) if zone in in_use else inventories.survey(zone)
            try:
                await inventory.refresh_load_balancers(max_age=self.period / 2)
                if inventory.sks_clusters.fetched_at is not None:
                    await inventory.sks_clusters.get(max_age=self.period / 2)
            except ExoscaleError as exc:
                log.warning("drift_refresh_failed", zone=zone, error=str(exc))
                continue
            ours = inventory.find_by_labels(owned_by_cluster(self.reconciler.config.cluster_id))
            if ours:
                self._zones_with_ours.add(zone)
                inventories.adopt(inventory)
            else:
                self._zones_with_ours.discard(zone)
            if self.reconciler.services.has_synced:
                await self._collect(inventory)
        self._surveyed = True  # failed zones were warned about; their NLBs show up when used
        self.enqueue_low(key_of(s) for s in services)
        self.passes += 1

    def _zone(self, service: Obj) -> str:
        settings, _ = self.reconciler.settings_of(service)
        return self.reconciler.zone_of(settings)

    async def _collect(self, inventory: ZoneInventory) -> None:
        by_uid = {uid_of(s): s for s in self.reconciler.services.list()}
        orphans = find_orphans(inventory, by_uid, self._zone, self.reconciler.config.cluster_id)
        current = {(o.zone, o.load_balancer.id) for o in orphans}
        # Forget suspects of this zone that are no longer orphans.
        self._suspects = {s for s in self._suspects if s[0] != inventory.zone} | {
            s for s in self._suspects if s in current
        }
        for orphan in orphans:
            ident = (orphan.zone, orphan.load_balancer.id)
            if ident not in self._suspects:
                self._suspects.add(ident)
                log.info(
                    "orphan_nlb_suspected",
                    zone=orphan.zone,
                    nlb=orphan.load_balancer.id,
                    reason=orphan.reason,
                )
                continue
            lb = orphan.load_balancer
            log.info("orphan_nlb_deleting", zone=orphan.zone, nlb=lb.id, reason=orphan.reason)
            try:
                await apply_plan(Plan((DeleteLoadBalancer(lb.id, lb.name),)), lb, inventory)
            except ExoscaleError as exc:
                log.warning("orphan_nlb_delete_failed", nlb=lb.id, error=str(exc))
            else:
                self._suspects.discard(ident)
