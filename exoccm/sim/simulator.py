"""The :class:`Simulator`: a local Exoscale API and the controls tests use to steer it."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from exoccm.sim import console, inventory, render
from exoccm.sim.app import build_app
from exoccm.sim.auth import API_KEY_PATTERN, API_SECRET_PATTERN, ApiKey, generate_credentials
from exoccm.sim.clock import Clock, ManualClock, make_clock
from exoccm.sim.cloud import INSTANCE_NETWORKS, LOAD_BALANCER_NETWORKS, Cloud, RequestRecord
from exoccm.sim.dataplane import DataPlane
from exoccm.sim.dataplane_addresses import LoopbackNetworks
from exoccm.sim.faults import Fault, FaultRule
from exoccm.sim.listings import LISTING_OPERATION_IDS
from exoccm.sim.operations import Latency
from exoccm.sim.routing import OPERATION_IDS, WRITE_OPERATION_IDS
from exoccm.sim.state import Fields


class Simulator:
    """A simulated Exoscale API v2 serving several zones at ``/<zone>/v2/...``.

    ``seed`` makes identifiers, random latencies and probabilistic faults reproducible.
    ``operation_latency`` is how long writes' Operations stay pending (seconds, or a
    ``(low, high)`` range drawn from the seed). ``zones`` limits the zones served (default: all
    the spec's zones). ``clock`` is ``"real"``, ``"manual"`` (stands still until
    :meth:`advance`) or any :class:`~exoccm.sim.clock.Clock`.

    ``data_plane=True`` makes NLBs carry real traffic on loopback addresses (``networks``:
    where NLB and instance IPs come from, see :mod:`exoccm.sim.dataplane`); run it with
    ``async with sim.data_plane.running():`` (:func:`~exoccm.sim.server.serve_in_thread` and
    ``exoccm sim --data-plane`` do). Without it, :attr:`data_plane` is None and nothing listens.

    :attr:`app` is the ASGI application; the methods below change or read the state directly
    (the same actions are served over HTTP under ``/_sim/``). All methods are thread-safe.
    """

    def __init__(
        self,
        seed: int = 0,
        operation_latency: Latency = 0.0,
        zones: Iterable[str] | None = None,
        *,
        clock: str | Clock = "real",
        data_plane: bool = False,
        networks: LoopbackNetworks | None = None,
    ) -> None:
        if networks is not None and not data_plane:
            raise ValueError("networks only apply with data_plane=True")
        self.clock: Clock = make_clock(clock)
        load_balancer_networks, instance_networks = LOAD_BALANCER_NETWORKS, INSTANCE_NETWORKS
        if data_plane:
            networks = networks or LoopbackNetworks()
            load_balancer_networks = (networks.load_balancers,)
            instance_networks = (networks.instances,)
        self._cloud = Cloud(
            seed=seed,
            zones=None if zones is None else tuple(zones),
            clock=self.clock,
            operation_latency=operation_latency,
            load_balancer_networks=load_balancer_networks,
            instance_networks=instance_networks,
            measure_health=data_plane,
        )
        self.data_plane = DataPlane(self._cloud, networks) if networks is not None else None
        self.app = build_app(self._cloud, self)

    def __repr__(self) -> str:
        return f"Simulator(zones={list(self.zones)!r}, clock={self.clock!r})"

    @property
    def zones(self) -> tuple[str, ...]:
        """The zones served, in the spec's order."""
        return self._cloud.zone_names

    # -- credentials -------------------------------------------------------------------------

    def add_api_key(
        self,
        key: str | None = None,
        secret: str | None = None,
        *,
        operations: Iterable[str] | None = None,
    ) -> tuple[str, str]:
        """Accept requests signed with ``key``/``secret`` (generated when None).

        ``operations`` restricts the key to those operation ids, as an IAM policy would; calls
        of other operations get 403. Returns ``(key, secret)``.
        """
        generated_key, generated_secret = generate_credentials()
        key = generated_key if key is None else key
        secret = generated_secret if secret is None else secret
        if not API_KEY_PATTERN.fullmatch(key):
            raise ValueError(f"API key {key!r} is not EXO followed by 24 lowercase alphanumerics")
        if not API_SECRET_PATTERN.fullmatch(secret):
            raise ValueError("the API secret must be 43 characters from A-Z, a-z, 0-9, '-', '_'")
        allowed = None
        if operations is not None:
            allowed = frozenset(operations)
            unknown = sorted(allowed - OPERATION_IDS)
            if unknown:
                raise ValueError(f"unknown operation ids {unknown}; known: {sorted(OPERATION_IDS)}")
        with self._cloud.lock:
            self._cloud.keys[key] = ApiKey(key, secret, allowed)
        return key, secret

    # -- compute inventory -------------------------------------------------------------------

    def add_instance_type(
        self,
        zone: str,
        family: str = "standard",
        size: str = "medium",
        *,
        cpus: int = 2,
        memory: int = 4294967296,
        id: str | None = None,
    ) -> Fields:
        """Add (or update the cpus/memory of) the zone's ``family.size`` instance type."""
        with self._cloud.lock:
            fields = inventory.ensure_instance_type(
                self._cloud,
                self._cloud.zone(zone),
                family,
                size,
                cpus=cpus,
                memory=memory,
                type_id=id,
            )
            return copy.deepcopy(fields)

    def add_instance_pool(
        self,
        zone: str,
        name: str,
        *,
        id: str | None = None,
        instance_type: Sequence[str] = ("standard", "medium"),
        size: int | None = None,
    ) -> Fields:
        """Add an instance pool; ``size`` defaults to its number of members (at least 1)."""
        with self._cloud.lock:
            pool = inventory.add_instance_pool(
                self._cloud,
                self._cloud.zone(zone),
                name,
                pool_id=id,
                instance_type=instance_type,
                size=size,
            )
            return copy.deepcopy(render.instance_pool(pool))

    def add_instance(
        self,
        zone: str,
        name: str,
        *,
        pool_id: str | None = None,
        manager_type: str = "instance-pool",
        state: str = "running",
        public_ip: str | None = "auto",
        ipv6: str | None = None,
        private_networks: int = 0,
        instance_type: Sequence[str] = ("standard", "medium"),
        id: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Fields:
        """Add an instance (a pool member when ``pool_id`` is given); returns get-instance's view.

        ``public_ip``: ``"auto"`` allocates one, None gives none, or an IPv4 address.
        ``ipv6``: None, ``"auto"`` or an IPv6 address.
        """
        with self._cloud.lock:
            zone_state = self._cloud.zone(zone)
            instance = inventory.add_instance(
                self._cloud,
                zone_state,
                name,
                pool_id=pool_id,
                manager_type=manager_type,
                state=state,
                public_ip=public_ip,
                ipv6=ipv6,
                private_networks=private_networks,
                instance_type=instance_type,
                instance_id=id,
                labels=labels,
            )
            return copy.deepcopy(render.instance(zone_state, instance))

    def add_sks_cluster(
        self,
        zone: str,
        name: str,
        *,
        nodepools: Sequence[Mapping[str, Any]] = (),
        id: str | None = None,
    ) -> Fields:
        """Add an SKS cluster; each nodepool ``{"name", "instance_pool_id", "id"?}`` manages an
        existing instance pool."""
        with self._cloud.lock:
            zone_state = self._cloud.zone(zone)
            cluster = inventory.add_sks_cluster(
                self._cloud, zone_state, name, nodepools=nodepools, cluster_id=id
            )
            return copy.deepcopy(render.sks_cluster(zone_state, cluster))

    def set_instance_state(self, zone: str, instance_id: str, state: str) -> None:
        """Put an instance in ``state`` (e.g. ``stopped``); only ``running`` ones get traffic."""
        with self._cloud.lock:
            inventory.set_instance_state(self._cloud.zone(zone), instance_id, state)

    def delete_instance(self, zone: str, instance_id: str) -> None:
        """Remove an instance (and from its pool): get-instance answers 404 afterwards."""
        with self._cloud.lock:
            inventory.delete_instance(self._cloud, self._cloud.zone(zone), instance_id)

    def set_instance_health(self, zone: str, instance_id: str, healthy: bool) -> None:
        """Make NLB healthchecks of this instance report ``success`` or ``failure``.

        With a data plane, ``False`` also keeps traffic away from it whatever the probes say.
        """
        with self._cloud.lock:
            inventory.find_instance(self._cloud.zone(zone), instance_id).healthy = healthy

    # -- load balancers ----------------------------------------------------------------------

    def edit_load_balancer(self, zone: str, lb_id: str, **fields: Any) -> None:
        """Change an NLB at once, bypassing the API (kebab-case keys; None removes a field)."""
        with self._cloud.lock:
            self._cloud.operations.settle()
            console.edit_load_balancer(self._cloud.zone(zone), lb_id, fields)

    def edit_load_balancer_service(
        self, zone: str, lb_id: str, service_id: str, **fields: Any
    ) -> None:
        """Change an NLB service at once, bypassing the API (its pool cannot change)."""
        with self._cloud.lock:
            self._cloud.operations.settle()
            console.edit_load_balancer_service(self._cloud.zone(zone), lb_id, service_id, fields)

    def delete_load_balancer_out_of_band(self, zone: str, lb_id: str) -> None:
        """Delete an NLB and its services at once, as a console user would."""
        with self._cloud.lock:
            self._cloud.operations.settle()
            console.delete_load_balancer(self._cloud, self._cloud.zone(zone), lb_id)

    def load_balancers(self, zone: str) -> list[Fields]:
        """The zone's NLBs as list-load-balancers shows them now (deep copies)."""
        with self._cloud.lock:
            self._cloud.operations.settle()
            zone_state = self._cloud.zone(zone)
            return copy.deepcopy(
                [render.load_balancer(zone_state, lb) for lb in zone_state.load_balancers.values()]
            )

    # -- faults, latency, time ---------------------------------------------------------------

    def inject(
        self,
        operation_id: str,
        fault: Fault,
        *,
        count: int | None = None,
        probability: float | None = None,
        zone: str | None = None,
    ) -> None:
        """Inject ``fault`` into calls of ``operation_id`` (``"*"``: every operation).

        ``count``: only the next ``count`` matching calls; ``probability``: each matching call
        with that probability (drawn from the seed); ``zone``: only calls to that zone.
        Operation faults apply to the Operations of write operations only, listing faults to
        the list operations of :data:`~exoccm.sim.listings.LISTING_OPERATION_IDS` only.
        """
        if operation_id != "*" and operation_id not in OPERATION_IDS:
            raise ValueError(
                f"unknown operation id {operation_id!r}; use '*' or one of {sorted(OPERATION_IDS)}"
            )
        if fault.family == "operation" and operation_id not in WRITE_OPERATION_IDS | {"*"}:
            raise ValueError(
                f"{fault.name} only applies to writes, and {operation_id} returns no Operation"
            )
        if fault.family == "listing" and operation_id not in LISTING_OPERATION_IDS | {"*"}:
            raise ValueError(
                f"{fault.name} only applies to the listings "
                f"{', '.join(sorted(LISTING_OPERATION_IDS))}, not to {operation_id} (a read "
                "by id is authoritative: no listing fault touches it)"
            )
        with self._cloud.lock:
            if zone is not None:
                self._cloud.zone(zone)
            self._cloud.faults.add(FaultRule(operation_id, fault, zone, count, probability))

    def clear_faults(self) -> None:
        """Remove every injected fault and release requests hanging on one."""
        with self._cloud.lock:
            self._cloud.faults.clear()
            self._cloud.hang_generation += 1

    def set_operation_latency(self, latency: Latency, operation_id: str | None = None) -> None:
        """Change the default Operation latency, or the one of ``operation_id``."""
        if operation_id is not None and operation_id not in WRITE_OPERATION_IDS:
            raise ValueError(f"{operation_id!r} is not a write operation id")
        with self._cloud.lock:
            self._cloud.operations.set_latency(latency, operation_id)

    def advance(self, seconds: float) -> None:
        """Move a manual clock forward and complete the Operations now due."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError('advance() needs a simulator created with clock="manual"')
        with self._cloud.lock:
            self.clock.advance(seconds)
            self._cloud.operations.settle()

    def reset(self) -> None:
        """Forget all resources, operations, faults, latency changes and the request log.

        API keys, zones and the clock are kept, so clients configured against this simulator
        keep working; identifiers start again from the seed.
        """
        with self._cloud.lock:
            self._cloud.reset()

    # -- the request log ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every call of an Exoscale endpoint so far, oldest first (a copy)."""
        with self._cloud.lock:
            return list(self._cloud.requests)

    def count(
        self,
        operation_id: str | None = None,
        *,
        zone: str | None = None,
        status: int | None = None,
    ) -> int:
        """How many logged calls match all the given criteria."""
        with self._cloud.lock:
            return sum(
                1
                for record in self._cloud.requests
                if (operation_id is None or record.operation_id == operation_id)
                and (zone is None or record.zone == zone)
                and (status is None or record.status == status)
            )
