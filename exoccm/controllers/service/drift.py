"""Drift repair and the orphan collector, once per drift period.

Each pass re-lists the NLBs of every zone in use (one call per zone), then re-queues every
load-balancer Service at low priority: a reconcile compares the fresh listing with the desired
state and reverts out-of-band edits. NLBs a listing left out twice in a row are read by ID: only
a 404 removes them from the cache (and re-queues the Services naming them).

The collector deletes NLBs labelled as exoccm's for this cluster that no Service accounts for:
their Service is gone, no longer a load balancer, moved to another zone or to an external NLB,
or an earlier crash made a duplicate. Deleting a user's NLB cannot be undone, so it is guarded
four times: an NLB that any Service names (``id`` annotation) or serves (status IP) is never an
orphan; two consecutive passes must agree; a ``get-load-balancer`` answer must still show this
cluster's labels and an orphan; and a pass deletes at most ``delete_limit`` NLBs, or none at all
when it would delete more than ``max_share`` of exoccm's NLBs (a Service cache or a listing that
went wrong, a cluster restored under the same cluster ID), which it reports instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import anyio
import structlog

from exoccm.controllers.inventory import ZoneInventory
from exoccm.controllers.metrics import ORPHAN_COLLECTION_BLOCKED, ORPHANS_DELETED
from exoccm.controllers.service import kubeside
from exoccm.controllers.service.apply import apply_plan
from exoccm.controllers.service.authority import Authority
from exoccm.controllers.service.controller import ServiceReconciler
from exoccm.controllers.service.desired import (
    LABEL_CLUSTER,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_UID,
    MANAGED_BY,
)
from exoccm.controllers.service.diff import DeleteLoadBalancer, Plan
from exoccm.controllers.service.ownership import declares_external, named_id
from exoccm.exoscale.errors import ExoscaleError
from exoccm.exoscale.models import LoadBalancer
from exoccm.kube.objects import Obj, key_of, uid_of

log = structlog.get_logger(__name__)


# A listing that left an NLB out this many times in a row gets it read by ID.
MISSES_BEFORE_READ = 2


@dataclass(frozen=True)
class Orphan:
    zone: str
    load_balancer: LoadBalancer
    reason: str


@dataclass(frozen=True)
class CollectorLimits:
    delete_limit: int = 10  # NLBs deleted per pass at most
    max_share: float = 0.5  # a pass that would delete more than this share deletes nothing


def _ingress_ips(service: Obj) -> set[str]:
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return {str(entry.get("ip")) for entry in ingress if entry.get("ip")}


def find_orphans(
    zone: str,
    load_balancers: Iterable[LoadBalancer],
    services: Iterable[Obj],
    zone_of: Callable[[Obj], str],
    cluster_id: str,
) -> list[Orphan]:
    """Owned NLBs of ``zone`` that no Service accounts for. Pure over its inputs."""
    services = list(services)
    load_balancers = list(load_balancers)
    by_uid = {uid_of(s): s for s in services}
    pinned = {named_id(s) for s in services if kubeside.wants_load_balancer(s)} - {""}
    serving = set().union(*(_ingress_ips(s) for s in services))
    here = {lb.id for lb in load_balancers} | {lb.ip for lb in load_balancers if lb.ip}
    ours = [
        lb
        for lb in load_balancers
        if lb.labels.get(LABEL_MANAGED_BY) == MANAGED_BY
        and lb.labels.get(LABEL_CLUSTER) == cluster_id
        and lb.id not in pinned
        and lb.ip not in serving
    ]
    ours.sort(key=lambda lb: (lb.created_at is None, lb.created_at, lb.id))
    orphans = []
    kept: dict[str, LoadBalancer] = {}
    for lb in ours:
        uid = lb.labels.get(LABEL_SERVICE_UID, "")
        service = by_uid.get(uid)
        if service is None:
            orphans.append(Orphan(zone, lb, "its Service no longer exists"))
        elif not kubeside.wants_load_balancer(service):
            if not kubeside.has_finalizer(service):  # with it, the Service's cleanup runs
                orphans.append(Orphan(zone, lb, "its Service is no longer a load balancer"))
        elif zone_of(service) != zone:
            orphans.append(Orphan(zone, lb, f"its Service moved to zone {zone_of(service)}"))
        elif declares_external(service) and _ingress_ips(service):
            orphans.append(Orphan(zone, lb, "its Service now uses an external NLB"))
        elif uid in kept:
            # Neither this one nor the first is named or serving: keep the oldest.
            orphans.append(Orphan(zone, lb, f"it duplicates NLB {kept[uid].id} of its Service"))
        elif named_id(service) in here or _ingress_ips(service) & here:
            # The Service has its NLB in this zone (named or serving): this one is a leftover.
            # (One whose NLB is still in another zone is moving here: this is its new NLB.)
            orphans.append(Orphan(zone, lb, "its Service is served by another NLB"))
        else:
            kept[uid] = lb
    return orphans


def owned_by_cluster(cluster_id: str) -> dict[str, str]:
    return {LABEL_MANAGED_BY: MANAGED_BY, LABEL_CLUSTER: cluster_id}


class DriftRepair:
    """The periodic pass; runs only while leading."""

    def __init__(
        self,
        reconciler: ServiceReconciler,
        enqueue_low: Callable[[Iterable[str]], None],
        period: float,
        limits: CollectorLimits | None = None,
        warn: Callable[[str], Any] | None = None,
    ):
        self.reconciler = reconciler
        self.enqueue_low = enqueue_low
        self.period = period
        self.limits = limits or CollectorLimits()
        self.warn = warn  # async callable recording a cluster-level Warning Event
        self._suspects: set[tuple[str, str]] = set()
        self._surveyed = False
        self._zones_with_ours: set[str] = set()
        self.passes = 0
        self.blocked = False

    async def run(self) -> None:
        while True:
            await anyio.sleep(self.period)
            try:
                await self.pass_once()
            except Exception:  # the next pass tries again; leader work must go on
                log.exception("Drift pass failed")

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
        authority = Authority(inventories)
        listed: list[ZoneInventory] = []
        for zone in sorted(self._zones(services)):
            # A zone only surveyed gets a throwaway inventory, kept only if ours are found there.
            inventory = inventories.zone(zone) if zone in in_use else inventories.survey(zone)
            try:
                await inventory.refresh_load_balancers(max_age=self.period / 2)
                if inventory.sks_clusters.fetched_at is not None:
                    await inventory.sks_clusters.get(max_age=self.period / 2)
                await self._read_missed(inventory, authority)
            except ExoscaleError as exc:
                log.warning("Drift refresh failed", zone=zone, error=str(exc))
                continue
            ours = inventory.find_by_labels(owned_by_cluster(self.reconciler.config.cluster_id))
            if ours:
                self._zones_with_ours.add(zone)
                inventories.adopt(inventory)
            else:
                self._zones_with_ours.discard(zone)
            listed.append(inventory)
        self._surveyed = True  # failed zones were warned about; their NLBs show up when used
        if self.reconciler.services.has_synced:
            await self._collect(listed, authority)
        self.enqueue_low(key_of(s) for s in services)
        self.passes += 1

    async def _read_missed(self, inventory: ZoneInventory, authority: Authority) -> None:
        """NLBs the last listings left out: read by ID; a 404 is the proof they are gone."""
        gone = {
            lb.id
            for lb in inventory.missed(MISSES_BEFORE_READ)
            if await authority.read(inventory.zone, lb.id) is None
        }
        if gone:
            log.info("NLBs gone", zone=inventory.zone, nlbs=sorted(gone))
            self.enqueue_low(
                key_of(s) for s in self.reconciler.services.list() if named_id(s) in gone
            )

    def _zone(self, service: Obj) -> str:
        settings, _ = self.reconciler.settings_of(service)
        return self.reconciler.zone_of(settings)

    def _orphans(self, zone: str, lbs: Iterable[LoadBalancer]) -> list[Orphan]:
        return find_orphans(
            zone,
            lbs,
            self.reconciler.services.list(),
            self._zone,
            self.reconciler.config.cluster_id,
        )

    async def _collect(self, inventories: list[ZoneInventory], authority: Authority) -> None:
        cluster = owned_by_cluster(self.reconciler.config.cluster_id)
        owned = sum(len(inv.find_by_labels(cluster)) for inv in inventories)
        ready: list[tuple[ZoneInventory, Orphan]] = []
        for inventory in inventories:
            ready += [(inventory, o) for o in await self._ripe(inventory, authority)]
        if not ready:
            self._set_blocked(False)
            return
        if len(ready) >= 2 and len(ready) > self.limits.max_share * owned:
            await self._refuse(len(ready), owned, [o for _, o in ready])
            return
        self._set_blocked(False)
        for inventory, orphan in ready[: self.limits.delete_limit]:
            await self._delete(inventory, orphan)

    async def _ripe(self, inventory: ZoneInventory, authority: Authority) -> list[Orphan]:
        """This zone's orphans that were orphans last pass too and still are by ID."""
        cluster = owned_by_cluster(self.reconciler.config.cluster_id)
        orphans = self._orphans(inventory.zone, inventory.find_by_labels(cluster))
        current = {(o.zone, o.load_balancer.id) for o in orphans}
        self._suspects = {s for s in self._suspects if s[0] != inventory.zone or s in current}
        ripe = []
        for orphan in orphans:
            ident = (orphan.zone, orphan.load_balancer.id)
            if ident not in self._suspects:
                self._suspects.add(ident)
                log.info(
                    "Orphaned NLB suspected",
                    zone=orphan.zone,
                    nlb=orphan.load_balancer.id,
                    reason=orphan.reason,
                )
                continue
            fresh = await authority.read(inventory.zone, orphan.load_balancer.id)
            if fresh is None:
                self._suspects.discard(ident)
                continue
            zone_lbs = [
                fresh,
                *(lb for lb in inventory.find_by_labels(cluster) if lb.id != fresh.id),
            ]
            confirmed = [
                o for o in self._orphans(inventory.zone, zone_lbs) if o.load_balancer.id == fresh.id
            ]
            if confirmed:
                ripe.append(confirmed[0])
            else:
                self._suspects.discard(ident)
        return ripe

    def _set_blocked(self, blocked: bool) -> None:
        self.blocked = blocked
        ORPHAN_COLLECTION_BLOCKED.set(1 if blocked else 0)

    async def _refuse(self, count: int, owned: int, orphans: list[Orphan]) -> None:
        message = (
            f"Not deleting {count} of exoccm's {owned} NLBs that no Service accounts for: more "
            f"than EXOCCM_ORPHAN_MAX_SHARE ({self.limits.max_share:g}) of them at once looks "
            "like a wrong Service cache or a cluster restored under the same EXOCCM_CLUSTER_ID. "
            "Check them ("
            + ", ".join(f"{o.zone}/{o.load_balancer.id}" for o in orphans[:5])
            + (", ..." if len(orphans) > 5 else "")
            + "); delete them by hand or raise the share if they really are orphans"
        )
        log.error("Orphan collection blocked", orphans=count, owned=owned)
        if not self.blocked and self.warn is not None:
            await self.warn(message)
        self._set_blocked(True)

    async def _delete(self, inventory: ZoneInventory, orphan: Orphan) -> None:
        lb = orphan.load_balancer
        log.info("Deleting orphaned NLB", zone=orphan.zone, nlb=lb.id, reason=orphan.reason)
        try:
            await apply_plan(Plan((DeleteLoadBalancer(lb.id, lb.name),)), lb, inventory)
        except ExoscaleError as exc:
            log.warning("Failed to delete orphaned NLB", nlb=lb.id, error=str(exc))
        else:
            ORPHANS_DELETED.labels(zone=orphan.zone).inc()
            self._suspects.discard((orphan.zone, lb.id))
