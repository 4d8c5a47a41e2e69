"""The resources of one zone, stored close to their API representation (kebab-case keys).

Fields that the API derives (a service's ``healthcheck-status``, a pool's ``instances``, an
instance's expanded ``instance-type``) are not stored; :mod:`exoccm.sim.render` computes them.

Whatever changes a listed object (an NLB or its services, an instance, a pool, an SKS cluster)
calls :meth:`Zone.will_change` first, so that lagging listings can show it as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import orjson

from exoccm.sim.errors import bad_request, not_found
from exoccm.sim.history import History, Table
from exoccm.sim.validation import is_uuid

Fields = dict[str, Any]
T = TypeVar("T")


@dataclass(slots=True)
class LoadBalancer:
    """``fields``: id, name, description?, labels?, state, ip, created-at; services by id."""

    fields: Fields
    services: dict[str, Fields] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.fields["id"])

    @property
    def state(self) -> str:
        return str(self.fields["state"])


@dataclass(slots=True)
class Instance:
    """``fields`` hold the API fields except ``instance-type``, which ``type_id`` points to."""

    fields: Fields
    type_id: str
    healthy: bool = True

    @property
    def id(self) -> str:
        return str(self.fields["id"])


@dataclass(slots=True)
class InstancePool:
    """A pool's fields and its members in the order they joined."""

    fields: Fields
    members: dict[str, None] = field(default_factory=dict)  # an ordered set of instance ids
    size: int | None = None  # None: as many as it has members

    @property
    def id(self) -> str:
        return str(self.fields["id"])


@dataclass(slots=True)
class SksCluster:
    fields: Fields
    nodepools: list[Fields] = field(default_factory=list)


@dataclass(slots=True)
class Zone:
    """Everything one zone holds. Lookups raise the API's 404 (or 400 for a malformed id)."""

    name: str
    history: History
    load_balancers: dict[str, LoadBalancer] = field(default_factory=dict)
    instances: dict[str, Instance] = field(default_factory=dict)
    instance_pools: dict[str, InstancePool] = field(default_factory=dict)
    instance_types: dict[str, Fields] = field(default_factory=dict)
    instance_types_by_name: dict[tuple[str, str], str] = field(default_factory=dict)
    sks_clusters: dict[str, SksCluster] = field(default_factory=dict)
    operations: dict[str, Fields] = field(default_factory=dict)
    # With a data plane: what its health checks measured, by (NLB service id, instance id).
    # None without one (members are then healthy unless a test says otherwise).
    measured_health: dict[tuple[str, str], bool] | None = None

    def will_change(self, table: Table, key: str) -> None:
        """Record the object ``key`` of ``table`` as it is before a change (None: absent)."""
        current = getattr(self, table).get(key)
        self.history.record(table, key, None if current is None else _freeze(current))

    def listed(self, table: Table, current: dict[str, T], as_of: float | None) -> list[T]:
        """The objects of ``table`` (``current`` is that table) as they are, or as they were
        at ``as_of`` on the simulator's clock."""
        if as_of is None:
            return list(current.values())
        build = cast(Callable[..., T], _LISTED_TYPES[table])

        def thaw(frozen: bytes) -> T:
            return build(**orjson.loads(frozen))

        return list(self.history.rewind(table, current, as_of, thaw).values())

    def load_balancer(self, lb_id: str) -> LoadBalancer:
        return _lookup(self.load_balancers, lb_id, "load balancer", self.name)

    def service(self, lb: LoadBalancer, service_id: str) -> Fields:
        _check_id(service_id, "service id")
        found = lb.services.get(service_id.lower())
        if found is None:
            raise not_found(f"service {service_id} not found in load balancer {lb.id}")
        return found

    def instance(self, instance_id: str) -> Instance:
        return _lookup(self.instances, instance_id, "instance", self.name)

    def instance_pool(self, pool_id: str) -> InstancePool:
        return _lookup(self.instance_pools, pool_id, "instance pool", self.name)

    def instance_type(self, type_id: str) -> Fields:
        return _lookup(self.instance_types, type_id, "instance type", self.name)

    def sks_cluster(self, cluster_id: str) -> SksCluster:
        return _lookup(self.sks_clusters, cluster_id, "SKS cluster", self.name)

    def nodepool(self, cluster: SksCluster, nodepool_id: str) -> Fields:
        _check_id(nodepool_id, "nodepool id")
        for nodepool in cluster.nodepools:
            if nodepool["id"] == nodepool_id.lower():
                return nodepool
        raise not_found(f"nodepool {nodepool_id} not found in SKS cluster {cluster.fields['id']}")

    def operation(self, operation_id: str) -> Fields:
        return _lookup(self.operations, operation_id, "operation", self.name)


_LISTED_TYPES: dict[Table, type] = {
    "load_balancers": LoadBalancer,
    "instances": Instance,
    "instance_pools": InstancePool,
    "sks_clusters": SksCluster,
}


def _freeze(listed: object) -> bytes:
    """``listed`` as JSON: cheaper to make and to keep than a deep copy; only a lagging listing
    thaws it."""
    # orjson's answer holds a 4 KiB buffer however short the JSON; a copy holds what it needs.
    return bytes(memoryview(orjson.dumps(listed)))


def _check_id(value: str, what: str) -> None:
    # Path parameters are `format: uuid` in the spec; a malformed one is the caller's mistake.
    if not is_uuid(value):
        raise bad_request(f"{what} {value!r} is not a UUID")


def _lookup(table: dict[str, T], key: str, what: str, zone: str) -> T:
    _check_id(key, f"{what} id")
    found = table.get(key.lower())
    if found is None:
        raise not_found(f"{what} {key} not found in zone {zone}")
    return found
