"""What each zone holds, as last listed: NLBs, instances, Instance Pools and SKS clusters.

Cloud API calls are the scarce resource, so controllers read these in-memory listings instead of
calling the API per object: one list call fills a listing, the drift-repair loop refreshes it,
and every write's answer updates it at once. Reconciling a converged Service therefore costs no
API call at all.

A refresh that was already in flight when a write landed must not bring back the pre-write
state: each NLB remembers the sequence number of its last write (or deletion), and a list result
only replaces entries not written since that list started.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import anyio
import structlog

from exoccm.exoscale.client import ZoneClient
from exoccm.exoscale.models import Instance, InstancePool, LoadBalancer, SksCluster

log = structlog.get_logger(__name__)

T = TypeVar("T")


class _Listing(Generic[T]):
    """A zone-wide list call, cached, refreshed single-flight."""

    def __init__(self, fetch: Callable[[], Awaitable[T]], clock: Callable[[], float]):
        self._fetch = fetch
        self._clock = clock
        self._lock = anyio.Lock()
        self.value: T | None = None
        self.fetched_at: float | None = None

    def age(self) -> float | None:
        return None if self.fetched_at is None else self._clock() - self.fetched_at

    async def get(self, *, max_age: float | None = None) -> T:
        """The cached value, listing first if there is none or it is older than ``max_age``."""
        if self._fresh(max_age):
            assert self.value is not None
            return self.value
        async with self._lock:
            # Another task may have refreshed it while we waited for the lock.
            if self._fresh(max_age):
                assert self.value is not None
                return self.value
            started = self._clock()
            self.value = await self._fetch()
            self.fetched_at = started
            return self.value

    def _fresh(self, max_age: float | None) -> bool:
        if self.value is None or self.fetched_at is None:
            return False
        return max_age is None or self._clock() - self.fetched_at <= max_age


@dataclass(frozen=True)
class InstanceIndex:
    """A zone's instances, by ID and by public IP address."""

    by_id: Mapping[str, Instance] = field(default_factory=dict)
    by_ip: Mapping[str, Instance] = field(default_factory=dict)

    @classmethod
    def build(cls, instances: Iterable[Instance]) -> InstanceIndex:
        by_id: dict[str, Instance] = {}
        by_ip: dict[str, Instance] = {}
        for instance in instances:
            by_id[instance.id] = instance
            for ip in (instance.public_ip, instance.ipv6_address):
                if ip:
                    by_ip[ip] = instance
        return cls(by_id, by_ip)


class ZoneInventory:
    """The listings of one zone. Thread-unsafe by design: one event loop owns it."""

    def __init__(self, client: ZoneClient, *, clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.zone = client.zone
        self._clock = clock
        self._lb_lock = anyio.Lock()
        self._lbs: dict[str, LoadBalancer] = {}
        self._lbs_listed_at: float | None = None
        self._seq = itertools.count(1)
        self._written: dict[str, int] = {}  # NLB ID -> sequence number of its last write
        self._deleted: set[str] = set()
        self._stale_since: int | None = None
        self.instances = _Listing(self._list_instances, clock)
        self.pools = _Listing(self._list_pools, clock)
        self.sks_clusters = _Listing(self._list_sks_clusters, clock)

    def __repr__(self) -> str:
        return f"ZoneInventory(zone={self.zone!r}, load_balancers={len(self._lbs)})"

    # -- NLBs ---------------------------------------------------------------------------------

    @property
    def load_balancers_listed(self) -> bool:
        return self._lbs_listed_at is not None

    def load_balancers_age(self) -> float | None:
        return None if self._lbs_listed_at is None else self._clock() - self._lbs_listed_at

    async def load_balancers(self) -> Mapping[str, LoadBalancer]:
        """Every NLB of the zone by ID (listed once, then kept current by writes and refreshes)."""
        if self._lbs_listed_at is None:
            await self.refresh_load_balancers(max_age=math.inf)
        elif self._stale_since is not None:
            await self.refresh_load_balancers()
        return self._lbs

    def invalidate_load_balancers(self) -> None:
        """The outcome of a write is unknown: re-list before the next decision."""
        self._stale_since = next(self._seq)

    async def load_balancer(self, lb_id: str) -> LoadBalancer | None:
        return (await self.load_balancers()).get(lb_id)

    async def refresh_load_balancers(self, *, max_age: float = 0.0) -> None:
        """One list call, unless the last listing is younger than ``max_age`` seconds."""
        async with self._lb_lock:
            age = self.load_balancers_age()
            if age is not None and age < max_age:
                return
            started_seq = next(self._seq)
            started_at = self._clock()
            listed = await self.client.list_load_balancers()
            fresh = {lb.id: lb for lb in listed}
            for lb_id, seq in self._written.items():
                if seq > started_seq:  # written while we listed: our copy is newer
                    if lb_id in self._deleted:
                        fresh.pop(lb_id, None)
                    elif lb_id in self._lbs:
                        fresh[lb_id] = self._lbs[lb_id]
            self._written = {k: v for k, v in self._written.items() if v > started_seq}
            self._deleted &= set(self._written)
            self._lbs = fresh
            self._lbs_listed_at = started_at
            if self._stale_since is not None and self._stale_since < started_seq:
                self._stale_since = None

    def record(self, lb: LoadBalancer) -> None:
        """An NLB as a write returned it."""
        self._lbs[lb.id] = lb
        self._written[lb.id] = next(self._seq)
        self._deleted.discard(lb.id)

    def record_deleted(self, lb_id: str) -> None:
        self._lbs.pop(lb_id, None)
        self._written[lb_id] = next(self._seq)
        self._deleted.add(lb_id)

    def find_by_labels(self, labels: Mapping[str, str]) -> list[LoadBalancer]:
        """Listed NLBs carrying all of ``labels``, oldest first."""
        found = [
            lb for lb in self._lbs.values() if all(lb.labels.get(k) == v for k, v in labels.items())
        ]
        return sorted(found, key=lambda lb: (lb.created_at is None, lb.created_at, lb.id))

    def find_by_name(self, name: str) -> list[LoadBalancer]:
        return [lb for lb in self._lbs.values() if lb.name == name]

    # -- instances, pools, SKS ----------------------------------------------------------------

    async def _list_instances(self) -> InstanceIndex:
        return InstanceIndex.build(await self.client.list_instances())

    async def _list_pools(self) -> dict[str, InstancePool]:
        return {pool.id: pool for pool in await self.client.list_instance_pools()}

    async def _list_sks_clusters(self) -> tuple[SksCluster, ...]:
        return await self.client.list_sks_clusters()


class Inventories:
    """One :class:`ZoneInventory` per zone, created on first use."""

    def __init__(
        self,
        client_for_zone: Callable[[str], ZoneClient],
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._client_for_zone = client_for_zone
        self._clock = clock
        self._zones: dict[str, ZoneInventory] = {}

    def zone(self, name: str) -> ZoneInventory:
        inventory = self._zones.get(name)
        if inventory is None:
            inventory = ZoneInventory(self._client_for_zone(name), clock=self._clock)
            self._zones[name] = inventory
        return inventory

    def zones(self) -> list[ZoneInventory]:
        return list(self._zones.values())

    def survey(self, name: str) -> ZoneInventory:
        """The inventory of zone ``name`` if exoccm works there, else a throwaway one that is
        not registered: a one-time look at a zone (the drift pass's survey of every zone) must
        not make it a zone whose instances the node controllers list on every refresh."""
        inventory = self._zones.get(name)
        if inventory is None:
            inventory = ZoneInventory(self._client_for_zone(name), clock=self._clock)
        return inventory

    def adopt(self, inventory: ZoneInventory) -> None:
        """Register a surveyed inventory: exoccm works in its zone from now on."""
        self._zones.setdefault(inventory.zone, inventory)
