"""Finding a Service's NLB: by ``id`` annotation, by ownership labels, by name (external).

The zone's cached listing answers first, so a converged Service costs no call. When the listing
does not show the NLB an ``id`` names, ``get-load-balancer`` decides, in the Service's zone and
then in the others (a Service whose zone changed still names its NLB in the old one): only a 404
everywhere proves it gone (see :mod:`.authority`).

The labels are what make a crash between "create" and "write the id annotation" harmless: the
next reconcile finds the NLB by the Service UID it carries instead of creating a second one. A
create whose answer was lost (the NLB may exist, but the listing may not show it yet) blocks new
creates for the Service until a listing taken :data:`CREATE_SETTLE_SECONDS` later has had its say;
when the API named the NLB before the rest of the answer was lost, a read by ID settles it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from exoccm.controllers.inventory import PendingCreate, ZoneInventory
from exoccm.controllers.service.annotations import PREFIX, LoadBalancerSettings
from exoccm.controllers.service.authority import Authority
from exoccm.controllers.service.desired import (
    LABEL_CLUSTER,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_UID,
    MANAGED_BY,
)
from exoccm.exoscale.models import LoadBalancer

# How long after a lost create answer a new listing must start before exoccm believes it.
CREATE_SETTLE_SECONDS = 15.0


class LoadBalancerNotFoundError(Exception):
    """The NLB the annotations point at cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Found:
    load_balancer: LoadBalancer | None
    how: str  # "id", "labels", "name" or "none"
    zone: str = ""  # where load_balancer lives ("" when there is none)
    id_missing: bool = False  # the id annotation names an NLB that exists nowhere (404s)


def owned_by(uid: str, cluster_id: str | None = None) -> dict[str, str]:
    labels = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_SERVICE_UID: uid}
    if cluster_id is not None:
        labels[LABEL_CLUSTER] = cluster_id
    return labels


async def _by_id(
    lb_id: str, inventory: ZoneInventory, authority: Authority, other_zones: Collection[str]
) -> Found | None:
    cached = await inventory.load_balancer(lb_id)
    if cached is not None:
        return Found(cached, "id", inventory.zone)
    zones = [inventory.zone, *(z for z in other_zones if z != inventory.zone)]
    located = await authority.locate(lb_id, zones)
    if located is None:
        return None
    zone, found = located
    return Found(found, "id", zone)


async def _pending_outcome(
    pending: PendingCreate, uid: str, inventory: ZoneInventory, authority: Authority
) -> LoadBalancer | None:
    """The NLB an earlier create of unknown outcome made, None if it made none; raises while
    that cannot be known yet."""
    if pending.lb_id is not None:
        made = await authority.read(inventory.zone, pending.lb_id)
        inventory.forget_create(uid)
        return made
    settle = pending.at + CREATE_SETTLE_SECONDS
    if not inventory.listed_after(settle):
        await inventory.refresh_load_balancers()
    mine = inventory.find_by_labels(owned_by(uid))
    if mine:
        inventory.forget_create(uid)
        return mine[0]
    if not inventory.listed_after(settle):
        raise LoadBalancerNotFoundError(
            f"the answer to an earlier NLB create in zone {inventory.zone} was lost; exoccm waits "
            f"until a listing taken {CREATE_SETTLE_SECONDS:.0f}s later shows whether it was made, "
            "so as not to make a second NLB"
        )
    inventory.forget_create(uid)
    return None


async def find_load_balancer(
    settings: LoadBalancerSettings,
    uid: str,
    inventory: ZoneInventory,
    authority: Authority,
    *,
    cluster_id: str,
    other_zones: Collection[str] = (),
) -> Found:
    """The Service's NLB, or ``Found(None, "none")`` when a new one may be created."""
    await inventory.load_balancers()
    id_missing = False
    if settings.load_balancer_id:
        found = await _by_id(settings.load_balancer_id, inventory, authority, other_zones)
        if found is not None:
            return found
        if settings.external:
            raise LoadBalancerNotFoundError(
                f"external NLB {settings.load_balancer_id} (annotation {PREFIX}id) does not "
                f"exist in zone {inventory.zone}; exoccm never creates external NLBs"
            )
        id_missing = True
    if settings.external:
        named = inventory.find_by_name(settings.name or "")
        if len(named) > 1:
            raise LoadBalancerNotFoundError(
                f"{len(named)} NLBs are named {settings.name!r} in zone {inventory.zone}; "
                f"set {PREFIX}id to the one to use"
            )
        if not named:
            raise LoadBalancerNotFoundError(
                f"external NLB named {settings.name!r} (annotation {PREFIX}name) was not found "
                f"in zone {inventory.zone}; exoccm never creates external NLBs"
            )
        return Found(named[0], "name", inventory.zone)
    mine = inventory.find_by_labels(owned_by(uid, cluster_id))
    if mine:
        # Oldest first; the collector removes duplicates.
        return Found(mine[0], "labels", inventory.zone, id_missing=id_missing)
    pending = inventory.pending_create(uid)
    if pending is not None:
        made = await _pending_outcome(pending, uid, inventory, authority)
        if made is not None:
            return Found(made, "labels", inventory.zone, id_missing=id_missing)
    return Found(None, "none", id_missing=id_missing)
