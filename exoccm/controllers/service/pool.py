"""Which Instance Pool a Service's NLB services target.

In the Go CCM's order: the SKS node pool named by annotation (resolved on every sync, so the NLB
follows a replaced node pool), else the ``service-instancepool-id`` annotation, else inference
from the Nodes' instances (skipping Nodes outside any pool; several pools is an error that asks
for the annotation). Lookups read the zone's listings, refreshed at most every few seconds when
something is missing, so a new Node costs one list call, not one call per Service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from exoccm.controllers.inventory import InstanceIndex, ZoneInventory
from exoccm.controllers.matching import eligible_for_load_balancing, find_instance
from exoccm.controllers.service.annotations import PREFIX, LoadBalancerSettings
from exoccm.exoscale.errors import NotFoundError

MISSING_REFRESH_AGE = 2.0  # seconds: a miss re-lists a zone at most this often (bursts coalesce)

Source = Literal["sks-nodepool", "annotation", "inferred"]


@dataclass(frozen=True)
class PoolChoice:
    pool_id: str
    source: Source


class PoolError(Exception):
    """The target pool cannot be determined; the message tells the user what to change."""


def infer_pool(nodes: Iterable[Mapping[str, Any]], index: InstanceIndex) -> set[str]:
    """Pools of the eligible Nodes' instances (Nodes not found or outside a pool are skipped)."""
    pools = set()
    for node in nodes:
        if not eligible_for_load_balancing(node):
            continue
        instance = find_instance(node, index)
        if instance is not None and instance.instance_pool_id:
            pools.add(instance.instance_pool_id)
    return pools


def _unmatched(nodes: Iterable[Mapping[str, Any]], index: InstanceIndex) -> bool:
    return any(eligible_for_load_balancing(n) and find_instance(n, index) is None for n in nodes)


async def _from_nodepool(settings: LoadBalancerSettings, inventory: ZoneInventory) -> str:
    cluster_name = settings.sks_cluster_name or ""
    nodepool_name = settings.sks_nodepool_name or ""
    for attempt in range(2):
        clusters = await inventory.sks_clusters.get(
            max_age=None if attempt == 0 else MISSING_REFRESH_AGE
        )
        cluster = next((c for c in clusters if c.name == cluster_name), None)
        nodepool = cluster.nodepool_named(nodepool_name) if cluster else None
        if nodepool is not None and nodepool.instance_pool is not None:
            return nodepool.instance_pool.id
    if cluster is None:
        raise PoolError(
            f"SKS cluster {cluster_name!r} (annotation {PREFIX}sks-cluster-name) was not found "
            f"in zone {inventory.zone}"
        )
    if nodepool is None:
        names = ", ".join(sorted(p.name for p in cluster.nodepools)) or "none"
        raise PoolError(
            f"SKS cluster {cluster_name!r} has no node pool named {nodepool_name!r} "
            f"(annotation {PREFIX}service-sks-nodepool-name); its node pools: {names}"
        )
    raise PoolError(f"SKS node pool {nodepool_name!r} has no Instance Pool yet")


async def _pool_exists(pool_id: str, inventory: ZoneInventory) -> bool:
    """Listed, or else confirmed by ID (a listing can leave out what exists)."""
    pools = await inventory.pools.get()
    if pool_id not in pools:
        pools = await inventory.pools.get(max_age=MISSING_REFRESH_AGE)
    if pool_id in pools:
        return True
    try:
        await inventory.client.get_instance_pool(pool_id)
    except NotFoundError:
        return False
    return True


async def _check_pool_exists(pool_id: str, inventory: ZoneInventory) -> None:
    if not await _pool_exists(pool_id, inventory):
        raise PoolError(
            f"Instance Pool {pool_id} (annotation {PREFIX}service-instancepool-id) does not "
            f"exist in zone {inventory.zone}; an NLB can only target a pool of its own zone: set "
            f"{PREFIX}zone to the pool's zone, fix the ID, or remove the annotation to let exoccm "
            "infer the pool from the Nodes again (exoccm writes the inferred pool there, so it "
            "goes stale when a Service moves to another zone)"
        )


async def choose_pool(
    settings: LoadBalancerSettings,
    nodes: list[Mapping[str, Any]],
    inventory: ZoneInventory,
    *,
    stale_annotation_ok: bool = False,
) -> PoolChoice:
    """The target pool, or :class:`PoolError` explaining why there is none.

    ``stale_annotation_ok``: the Service is moving to this zone, so a pool annotation naming a
    pool that does not exist here (exoccm wrote back the old zone's) is inferred anew instead.
    """
    if settings.sks_nodepool_name and settings.sks_cluster_name:
        return PoolChoice(await _from_nodepool(settings, inventory), "sks-nodepool")
    if settings.instance_pool_id:
        if not stale_annotation_ok:
            await _check_pool_exists(settings.instance_pool_id, inventory)
            return PoolChoice(settings.instance_pool_id, "annotation")
        if await _pool_exists(settings.instance_pool_id, inventory):
            return PoolChoice(settings.instance_pool_id, "annotation")
    index = await inventory.instances.get()
    if _unmatched(nodes, index):
        index = await inventory.instances.get(max_age=MISSING_REFRESH_AGE)
    pools = infer_pool(nodes, index)
    if len(pools) == 1:
        return PoolChoice(pools.pop(), "inferred")
    if not pools:
        raise PoolError(
            f"couldn't infer any Instance Pool from cluster Nodes in zone {inventory.zone}: no "
            "eligible Node runs on an Instance Pool instance there; set "
            f"{PREFIX}service-instancepool-id or {PREFIX}service-sks-nodepool-name"
        )
    raise PoolError(
        f"multiple Instance Pools detected across cluster Nodes ({', '.join(sorted(pools))}); "
        f"an Instance Pool ID must be specified in annotation {PREFIX}service-instancepool-id "
        f"(or use {PREFIX}service-sks-nodepool-name)"
    )
