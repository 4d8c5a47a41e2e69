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

from exoccm.controllers.metrics import LISTING_OMISSIONS
from exoccm.controllers.readback import ReadBack
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


@dataclass(frozen=True)
class PendingCreate:
    """An NLB create whose outcome is not known yet: sent at ``at``; its ID once named."""

    at: float
    lb_id: str | None = None


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
        self._missed: dict[str, int] = {}  # NLB ID -> consecutive listings that left it out
        self._pending_creates: dict[str, PendingCreate] = {}  # by Service UID
        self._stale_since: int | None = None
        self.instances = _Listing(self._list_instances, clock)
        self.pools = _Listing(self._list_pools, clock)
        self.sks_clusters = _Listing(self._list_sks_clusters, clock)
        self.read_back = ReadBack(self, clock=clock)
        """Reads of NLBs just written (batched into one listing when many wait at once)."""

    def __repr__(self) -> str:
        return f"ZoneInventory(zone={self.zone!r}, load_balancers={len(self._lbs)})"

    # -- NLBs ---------------------------------------------------------------------------------
    #
    # A listing adds and updates entries but never removes one: an NLB a listing leaves out is
    # kept (and counted as missed) until a get-load-balancer answers 404 or exoccm deletes it,
    # because listings can be empty, partial or late (see controllers/service/authority.py).

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
        """The cached NLB ``lb_id`` (None is no proof of absence: ask the API by ID)."""
        return (await self.load_balancers()).get(lb_id)

    def cached(self, lb_id: str) -> LoadBalancer | None:
        return self._lbs.get(lb_id)

    def load_balancer_count(self) -> int:
        """NLBs in the cached listing."""
        return len(self._lbs)

    async def refresh_load_balancers(
        self, *, max_age: float = 0.0, prepaid: bool = False
    ) -> Mapping[str, LoadBalancer]:
        """One list call, unless the last listing is younger than ``max_age`` seconds; return
        what the call listed (empty without a call). ``prepaid``: the caller took the rate-limit
        token."""
        async with self._lb_lock:
            age = self.load_balancers_age()
            if age is not None and age < max_age:
                return {}
            started_seq = next(self._seq)
            started_at = self._clock()
            listed = await self.client.list_load_balancers(prepaid=prepaid)
            fresh = {lb.id: lb for lb in listed}
            answer = dict(fresh)
            for lb_id, seq in self._written.items():
                if seq > started_seq:  # written while we listed: our copy is newer
                    if lb_id in self._deleted:
                        fresh.pop(lb_id, None)
                    elif lb_id in self._lbs:
                        fresh[lb_id] = self._lbs[lb_id]
            missed = {}
            for lb_id, known in self._lbs.items():
                if lb_id not in fresh and lb_id not in self._deleted:
                    fresh[lb_id] = known  # left out: not a proof of absence
                    missed[lb_id] = self._missed.get(lb_id, 0) + 1
            if missed:
                log.info("NLB listing left out known NLBs", zone=self.zone, count=len(missed))
                LISTING_OMISSIONS.labels(zone=self.zone).inc(len(missed))
            self._missed = missed
            self._written = {k: v for k, v in self._written.items() if v > started_seq}
            self._deleted &= set(self._written)
            self._lbs = fresh
            self._lbs_listed_at = started_at
            if self._stale_since is not None and self._stale_since < started_seq:
                self._stale_since = None
            return answer

    def missed(self, at_least: int) -> list[LoadBalancer]:
        """Cached NLBs that the last ``at_least`` listings in a row left out."""
        return [self._lbs[i] for i, n in self._missed.items() if n >= at_least and i in self._lbs]

    def record(self, lb: LoadBalancer) -> None:
        """An NLB as a write returned it."""
        self._lbs[lb.id] = lb
        self._written[lb.id] = next(self._seq)
        self._deleted.discard(lb.id)

    def record_confirmed(self, lb: LoadBalancer) -> None:
        """An NLB as get-load-balancer returned it: present now, whatever listings said."""
        self.record(lb)
        self._missed.pop(lb.id, None)

    def record_deleted(self, lb_id: str) -> None:
        self._lbs.pop(lb_id, None)
        self._missed.pop(lb_id, None)
        self._written[lb_id] = next(self._seq)
        self._deleted.add(lb_id)

    def record_absent(self, lb_id: str) -> None:
        """get-load-balancer answered 404: the only proof that an NLB is gone."""
        self.record_deleted(lb_id)

    def note_create_sent(self, service_uid: str) -> None:
        """A create for ``service_uid`` is being sent: until it is known to have failed or its
        NLB is cached, the NLB may exist although no listing shows it yet."""
        self._pending_creates[service_uid] = PendingCreate(self._clock())

    def note_create_started(self, service_uid: str, lb_id: str) -> None:
        """The API named the NLB the create makes: it can be read by ID from now on."""
        pending = self._pending_creates.get(service_uid)
        at = pending.at if pending is not None else self._clock()
        self._pending_creates[service_uid] = PendingCreate(at, lb_id)

    def forget_create(self, service_uid: str) -> None:
        self._pending_creates.pop(service_uid, None)

    def pending_create(self, service_uid: str) -> PendingCreate | None:
        return self._pending_creates.get(service_uid)

    def listed_after(self, at: float) -> bool:
        """Whether the cached listing was taken (started) at or after monotonic time ``at``."""
        return self._lbs_listed_at is not None and self._lbs_listed_at >= at

    def find_by_labels(self, labels: Mapping[str, str]) -> list[LoadBalancer]:
        """Cached NLBs carrying all of ``labels``, oldest first."""
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

    def zone_listing_has(self, name: str, lb_id: str) -> bool:
        """Whether the registered inventory of zone ``name`` has ``lb_id`` cached."""
        inventory = self._zones.get(name)
        return inventory is not None and inventory.cached(lb_id) is not None

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
