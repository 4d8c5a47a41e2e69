"""Authoritative reads: the only evidence exoccm acts on before creating, deleting or adopting.

The rule, in one place:

* **A listing is for reading.** The zone's cached ``list-load-balancers`` answer lets a converged
  Service cost no API call. It may be empty, partial or late, so it never proves that an NLB is
  absent, and its labels never justify a write on their own.
* **Before a write to an existing NLB** (updating, adopting, deleting it or one of its NLB
  services), exoccm reads it with ``get-load-balancer`` by ID and plans again on that answer.
* **Before creating an NLB for a Service that names one** (its ``id`` annotation), exoccm reads
  that ID in the Service's zone and, if it is not there, in the other zones: only a 404 everywhere
  proves the NLB gone.
* **Ownership** (:mod:`.ownership`) is judged on the labels of an authoritative answer before any
  write; NLBs of another Service or another cluster are never written to.

An :class:`Authority` lives for one reconcile (or one collector pass) and asks each question at
most once, so planning twice on the same evidence costs no second call.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from exoccm.controllers.inventory import Inventories
from exoccm.exoscale.errors import NotFoundError
from exoccm.exoscale.models import LoadBalancer

log = structlog.get_logger(__name__)


class Authority:
    """``get-load-balancer`` answers for one unit of work, memoized and fed to the caches."""

    def __init__(self, inventories: Inventories):
        self.inventories = inventories
        self._answers: dict[tuple[str, str], LoadBalancer | None] = {}
        self.reads = 0

    def knows(self, zone: str, lb_id: str) -> bool:
        """Whether this unit of work already read ``lb_id`` in ``zone``."""
        return (zone, lb_id) in self._answers

    async def read(self, zone: str, lb_id: str) -> LoadBalancer | None:
        """The NLB as the API has it now, or None when the API answers 404."""
        if (zone, lb_id) in self._answers:
            return self._answers[(zone, lb_id)]
        inventory = self.inventories.survey(zone)
        self.reads += 1
        try:
            found: LoadBalancer | None = await inventory.client.get_load_balancer(lb_id)
        except NotFoundError:
            found = None
        if found is None:
            inventory.record_absent(lb_id)
        else:
            inventory.record_confirmed(found)
        self._answers[(zone, lb_id)] = found
        return found

    async def locate(self, lb_id: str, zones: Iterable[str]) -> tuple[str, LoadBalancer] | None:
        """The zone holding ``lb_id`` among ``zones``, or None if every one answers 404. Zones
        whose listing shows the NLB are asked first, then the others in the order given."""
        candidates = list(dict.fromkeys(zones))
        ordered = sorted(candidates, key=lambda z: not self.inventories.zone_listing_has(z, lb_id))
        for zone in ordered:
            found = await self.read(zone, lb_id)
            if found is not None:
                return zone, found
        return None
