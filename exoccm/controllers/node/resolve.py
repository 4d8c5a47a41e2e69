"""Which instance a Node (or a kubelet's CSR) belongs to, across zones, from the zone listings.

Lookups read each zone's cached instance listing (one list-instances call fills it). Only a miss
refreshes a listing, and only one older than ``miss_refresh_age`` seconds: a burst of new Nodes
costs one call per zone, and a Node unknown to Exoscale cannot make exoccm list in a loop. A miss
against a listing too young to refresh is *inconclusive* (the instance may be newer than the
listing); the :class:`Miss` then says when a refresh becomes possible.

Zones are searched in order: the configured zone, the zone named by the Node's zone label, then
every other zone exoccm already lists (``Inventories.zones()``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import structlog

from exoccm.controllers.inventory import InstanceIndex, Inventories, ZoneInventory
from exoccm.controllers.matching import find_instance
from exoccm.controllers.node.metadata import LABEL_ZONE
from exoccm.controllers.node.state import node_labels
from exoccm.exoscale.endpoints import KNOWN_ZONES
from exoccm.exoscale.errors import NotFoundError
from exoccm.exoscale.models import Instance

log = structlog.get_logger(__name__)

Matcher = Callable[[InstanceIndex], list[Instance]]

# A retry a little after the listing may be refreshed, so the retry does refresh it.
_REFRESH_SLACK = 0.05


@dataclass(frozen=True)
class Located:
    instance: Instance
    zone: str


@dataclass(frozen=True)
class Miss:
    """No instance matched. ``retry_in`` is set when a listing was too young to refresh."""

    zones: tuple[str, ...]
    retry_in: float | None = None

    @property
    def conclusive(self) -> bool:
        return self.retry_in is None


class InstanceLocator:
    """Finds instances in the zone listings; see the module documentation."""

    def __init__(
        self, inventories: Inventories, default_zone: str, *, miss_refresh_age: float = 10.0
    ):
        self.inventories = inventories
        self.default_zone = default_zone
        self.miss_refresh_age = miss_refresh_age
        self._type_locks: dict[tuple[str, str], anyio.Lock] = {}
        self._unservable: set[str] = set()

    # -- zones ----------------------------------------------------------------------------------

    def zones_for(self, node: Mapping[str, Any] | None = None) -> tuple[list[ZoneInventory], bool]:
        """The zones to search for ``node``, and whether every relevant zone can be searched
        (False when its zone label names a zone the configured endpoint cannot serve)."""
        names = [self.default_zone]
        label = node_labels(node).get(LABEL_ZONE) if node is not None else None
        listed = [inventory.zone for inventory in self.inventories.zones()]
        if label and label not in names and (label in KNOWN_ZONES or label in listed):
            names.append(label)
        names.extend(name for name in listed if name not in names)
        zones: list[ZoneInventory] = []
        complete = True
        for name in names:
            try:
                zones.append(self.inventories.zone(name))
            except ValueError as exc:  # e.g. EXOSCALE_API_ENDPOINT without a {zone} placeholder
                complete = False
                if name not in self._unservable:
                    self._unservable.add(name)
                    log.warning("Zone of Nodes cannot be served", zone=name, error=str(exc))
        return zones, complete

    # -- lookups --------------------------------------------------------------------------------

    def cached(self, match: Matcher, zones: list[ZoneInventory]) -> list[Located]:
        """Matches in the listings already held (no API call)."""
        found: list[Located] = []
        for inventory in zones:
            index = inventory.instances.value
            if index is not None:
                found.extend(Located(instance, inventory.zone) for instance in match(index))
        return found

    async def search(self, match: Matcher, zones: list[ZoneInventory]) -> list[Located] | Miss:
        """Matches from the cached listings, else from listings refreshed as the module says."""
        found = self.cached(match, zones)
        if found:
            return found
        # Zones never listed first: they must be listed anyway, and may hold the instance
        # without any other zone being re-listed.
        unlisted = [inventory for inventory in zones if inventory.instances.value is None]
        for inventory in unlisted:
            index = await inventory.instances.get()
            found.extend(Located(instance, inventory.zone) for instance in match(index))
        if found:
            return found
        retry_in: float | None = None
        for inventory in zones:
            if inventory in unlisted:
                continue
            listing = inventory.instances
            before = listing.fetched_at
            index = await listing.get(max_age=self.miss_refresh_age)
            found.extend(Located(instance, inventory.zone) for instance in match(index))
            if before is not None and listing.fetched_at == before:
                wait = max(0.0, self.miss_refresh_age - (listing.age() or 0.0)) + _REFRESH_SLACK
                retry_in = wait if retry_in is None else max(retry_in, wait)
        if found:
            return found
        return Miss(tuple(inventory.zone for inventory in zones), retry_in)

    async def locate_node(self, node: Mapping[str, Any]) -> Located | Miss:
        """The instance of ``node``: by providerID, else systemUUID, else its IP addresses."""

        def match(index: InstanceIndex) -> list[Instance]:
            instance = find_instance(node, index)
            return [instance] if instance is not None else []

        zones, _ = self.zones_for(node)
        result = await self.search(match, zones)
        return result if isinstance(result, Miss) else result[0]

    def locate_node_cached(self, node: Mapping[str, Any]) -> Located | None:
        """The instance of ``node`` in the listings already held (no API call)."""

        def match(index: InstanceIndex) -> list[Instance]:
            instance = find_instance(node, index)
            return [instance] if instance is not None else []

        zones, _ = self.zones_for(node)
        found = self.cached(match, zones)
        return found[0] if found else None

    async def instances_named(
        self, name: str, node: Mapping[str, Any] | None = None
    ) -> list[Located] | Miss:
        """Instances called ``name`` (case-insensitive; names are not unique)."""
        wanted = name.casefold()

        def match(index: InstanceIndex) -> list[Instance]:
            return [i for i in index.by_id.values() if i.name.casefold() == wanted]

        zones, _ = self.zones_for(node)
        return await self.search(match, zones)

    async def confirm_gone(self, instance_id: str, node: Mapping[str, Any]) -> bool:
        """True only when every zone the instance could be in lacks it: absent from each
        listing (refreshed if older than ``miss_refresh_age``), and get-instance answers 404 in
        each. ``instance_id`` must be a UUID."""
        zones, complete = self.zones_for(node)
        if not complete:
            return False
        for inventory in zones:
            index = await inventory.instances.get(max_age=self.miss_refresh_age)
            if instance_id in index.by_id:
                return False
        for inventory in zones:
            try:
                await inventory.client.get_instance(instance_id)
            except NotFoundError:
                continue
            return False
        return True

    # -- instance types -------------------------------------------------------------------------

    async def instance_type_name(self, zone: str, type_id: str) -> str:
        """``<family>.<size>`` of an instance type; one API call per type and zone, ever (the
        client caches types, and this lock keeps concurrent first lookups to one call)."""
        lock = self._type_locks.setdefault((zone, type_id), anyio.Lock())
        async with lock:
            instance_type = await self.inventories.zone(zone).client.get_instance_type(type_id)
        return instance_type.name
