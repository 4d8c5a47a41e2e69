"""Finding a Service's NLB in the zone's listing: by ``id`` annotation, by ownership labels, by name.

The labels are what make a crash between "create" and "write the id annotation" harmless: the
next reconcile finds the NLB by the Service UID it carries instead of creating a second one.
"""

from __future__ import annotations

from dataclasses import dataclass

from exoccm.controllers.inventory import ZoneInventory
from exoccm.controllers.service.annotations import PREFIX, LoadBalancerSettings
from exoccm.controllers.service.desired import LABEL_MANAGED_BY, LABEL_SERVICE_UID, MANAGED_BY
from exoccm.exoscale.models import LoadBalancer


class LoadBalancerNotFoundError(Exception):
    """The NLB the annotations point at cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Found:
    load_balancer: LoadBalancer | None
    how: str  # "id", "labels", "name" or "none"


def owned_by(uid: str) -> dict[str, str]:
    return {LABEL_MANAGED_BY: MANAGED_BY, LABEL_SERVICE_UID: uid}


async def find_load_balancer(
    settings: LoadBalancerSettings, uid: str, inventory: ZoneInventory
) -> Found:
    listing = await inventory.load_balancers()
    if settings.load_balancer_id:
        found = listing.get(settings.load_balancer_id)
        if found is not None:
            return Found(found, "id")
        if settings.external:
            raise LoadBalancerNotFoundError(
                f"external NLB {settings.load_balancer_id} (annotation {PREFIX}id) was not "
                f"found in zone {inventory.zone}; exoccm never creates external NLBs"
            )
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
        return Found(named[0], "name")
    mine = inventory.find_by_labels(owned_by(uid))
    if mine:
        return Found(mine[0], "labels")  # oldest first; the collector removes duplicates
    return Found(None, "none")
