"""Compute resources a test puts into a zone: instance types, pools, instances, SKS clusters.

The API offers no way for a CCM to create these, so they come from the control surface.
Bad arguments raise ValueError; unknown zones, pools or instances raise SimulatorLookupError.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from exoccm.sim.cloud import Cloud
from exoccm.sim.constants import (
    INSTANCE_STATES,
    INSTANCE_TYPE_FAMILIES,
    INSTANCE_TYPE_SIZES,
    MANAGER_TYPES,
)
from exoccm.sim.errors import SimulatorLookupError
from exoccm.sim.state import Fields, Instance, InstancePool, SksCluster, Zone
from exoccm.sim.validation import is_uuid

GIB = 1024**3
# (cpus, memory in bytes) of standard instance types, used when a test does not say.
_SIZE_DEFAULTS = {
    "micro": (1, GIB // 2),
    "tiny": (1, GIB),
    "small": (2, 2 * GIB),
    "medium": (2, 4 * GIB),
    "large": (4, 8 * GIB),
    "extra-large": (4, 16 * GIB),
    "huge": (8, 32 * GIB),
    "mega": (12, 64 * GIB),
    "titan": (16, 128 * GIB),
    "jumbo": (24, 225 * GIB),
    "colossus": (40, 240 * GIB),
    "titan48c": (48, 256 * GIB),
}
DISK_SIZE_GIB = 50
SKS_VERSION = "1.31.2"


def ensure_instance_type(
    cloud: Cloud,
    zone: Zone,
    family: str,
    size: str,
    *,
    cpus: int | None = None,
    memory: int | None = None,
    type_id: str | None = None,
) -> Fields:
    """The zone's ``family.size`` type, created if missing; ``cpus``/``memory`` given update it."""
    if family not in INSTANCE_TYPE_FAMILIES:
        raise ValueError(f"unknown instance type family {family!r}; see the spec's enum")
    if size not in INSTANCE_TYPE_SIZES:
        raise ValueError(f"unknown instance type size {size!r}; see the spec's enum")
    for name, value in (("cpus", cpus), ("memory", memory)):
        if value is not None:
            _check_count(value, name, minimum=1)
    existing_id = zone.instance_types_by_name.get((family, size))
    if existing_id is not None:
        if type_id is not None and type_id.lower() != existing_id:
            raise ValueError(
                f"zone {zone.name} already has {family}.{size} with id {existing_id}, not {type_id}"
            )
        fields = zone.instance_types[existing_id]
    else:
        new_id = _new_id(cloud, type_id, zone.instance_types, "instance type")
        default_cpus, default_memory = _SIZE_DEFAULTS[size]
        fields = {
            "id": new_id,
            "family": family,
            "size": size,
            "cpus": default_cpus,
            "memory": default_memory,
            "authorized": True,
            "zones": [zone.name],
        }
        if family.startswith("gpu"):
            fields["gpus"] = 1
        zone.instance_types[new_id] = fields
        zone.instance_types_by_name[(family, size)] = new_id
    if cpus is not None:
        fields["cpus"] = cpus
    if memory is not None:
        fields["memory"] = memory
    return fields


def add_instance_pool(
    cloud: Cloud,
    zone: Zone,
    name: str,
    *,
    pool_id: str | None = None,
    instance_type: Sequence[str] = ("standard", "medium"),
    size: int | None = None,
) -> InstancePool:
    _check_name(name, "instance pool")
    if size is not None:
        _check_count(size, "an instance pool's size", minimum=1)
    type_fields = ensure_instance_type(cloud, zone, *_type_name(instance_type))
    new_id = _new_id(cloud, pool_id, zone.instance_pools, "instance pool")
    pool = InstancePool(
        fields={
            "id": new_id,
            "name": name,
            "state": "running",
            "instance-type": {"id": type_fields["id"]},
            "template": {"id": cloud.template["id"]},
            "instance-prefix": "pool",
            "disk-size": DISK_SIZE_GIB,
        },
        size=size,
    )
    zone.will_change("instance_pools", new_id)
    zone.instance_pools[new_id] = pool
    return pool


def add_instance(
    cloud: Cloud,
    zone: Zone,
    name: str,
    *,
    pool_id: str | None = None,
    manager_type: str = "instance-pool",
    state: str = "running",
    public_ip: str | None = "auto",
    ipv6: str | None = None,
    private_networks: int = 0,
    instance_type: Sequence[str] = ("standard", "medium"),
    instance_id: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> Instance:
    """An instance; with ``pool_id`` it is managed by (and listed in) that pool."""
    _check_name(name, "instance")
    _check_state(state)
    if manager_type not in MANAGER_TYPES:
        raise ValueError(f"manager_type must be one of {', '.join(MANAGER_TYPES)}")
    _check_count(private_networks, "private_networks", minimum=0)
    pool = zone.instance_pools.get(pool_id.lower()) if pool_id is not None else None
    if pool_id is not None and pool is None:
        raise SimulatorLookupError(f"instance pool {pool_id} does not exist in zone {zone.name}")
    type_fields = ensure_instance_type(cloud, zone, *_type_name(instance_type))
    new_id = _new_id(cloud, instance_id, zone.instances, "instance")
    fields: Fields = {
        "id": new_id,
        "name": name,
        "state": state,
        "template": dict(cloud.template),
        "created-at": cloud.timestamp(),
        "mac-address": cloud.ids.mac_address(),
        "disk-size": DISK_SIZE_GIB,
        "private-networks": [
            {"id": cloud.ids.uuid(), "mac-address": cloud.ids.mac_address()}
            for _ in range(private_networks)
        ],
    }
    ipv4 = _public_ipv4(cloud, public_ip)
    ipv6_address = _public_ipv6(cloud, ipv6)
    if ipv4 is not None:
        fields["public-ip"] = ipv4
    if ipv6_address is not None:
        fields["ipv6-address"] = ipv6_address
    fields["public-ip-assignment"] = (
        "dual" if ipv6_address is not None else "inet4" if ipv4 is not None else "none"
    )
    if labels is not None:
        fields["labels"] = _check_labels(labels)
    if pool is not None:  # only once nothing can fail any more
        fields["manager"] = {"id": pool.id, "type": manager_type}
        zone.will_change("instance_pools", pool.id)
        pool.members[new_id] = None
    instance = Instance(fields=fields, type_id=type_fields["id"])
    zone.will_change("instances", new_id)
    zone.instances[new_id] = instance
    return instance


def add_sks_cluster(
    cloud: Cloud,
    zone: Zone,
    name: str,
    *,
    nodepools: Sequence[Mapping[str, Any]] = (),
    cluster_id: str | None = None,
) -> SksCluster:
    """A running SKS cluster whose nodepools (``{"name", "instance_pool_id", "id"?}``) each
    manage an existing instance pool."""
    _check_name(name, "SKS cluster")
    new_id = _new_id(cloud, cluster_id, zone.sks_clusters, "SKS cluster")
    created_at = cloud.timestamp()
    cluster = SksCluster(
        fields={
            "id": new_id,
            "name": name,
            "state": "running",
            "version": SKS_VERSION,
            "level": "pro",
            "cni": "cilium",
            "auto-upgrade": False,
            "addons": ["exoscale-cloud-controller"],
            "endpoint": f"https://{new_id}.sks-{zone.name}.exoscale.com:443",
            "created-at": created_at,
        }
    )
    used_ids: dict[str, None] = {}
    for spec in nodepools:
        unknown = set(spec) - {"name", "instance_pool_id", "id"}
        if unknown or "name" not in spec or "instance_pool_id" not in spec:
            raise ValueError(
                'a nodepool is {"name": ..., "instance_pool_id": ..., "id"?: ...}, '
                f"not {dict(spec)!r}"
            )
        _check_name(spec["name"], "nodepool")
        pool = zone.instance_pools.get(str(spec["instance_pool_id"]).lower())
        if pool is None:
            raise SimulatorLookupError(
                f"nodepool {spec['name']!r}: instance pool {spec['instance_pool_id']} does not "
                f"exist in zone {zone.name}; add it first"
            )
        nodepool_id = _new_id(cloud, spec.get("id"), used_ids, "nodepool")
        used_ids[nodepool_id] = None
        # In SKS the nodepool manages the pool, and the pool manages the instances.
        zone.will_change("instance_pools", pool.id)
        pool.fields["manager"] = {"id": nodepool_id, "type": "sks-nodepool"}
        cluster.nodepools.append(
            {
                "id": nodepool_id,
                "name": spec["name"],
                "state": "running",
                "instance-pool": {"id": pool.id},
                "instance-type": dict(pool.fields["instance-type"]),
                "template": {"id": cloud.template["id"]},
                "instance-prefix": "pool",
                "disk-size": DISK_SIZE_GIB,
                "version": SKS_VERSION,
                "created-at": created_at,
            }
        )
    zone.will_change("sks_clusters", new_id)
    zone.sks_clusters[new_id] = cluster
    return cluster


def find_instance(zone: Zone, instance_id: str) -> Instance:
    instance = zone.instances.get(instance_id.lower())
    if instance is None:
        raise SimulatorLookupError(f"instance {instance_id} does not exist in zone {zone.name}")
    return instance


def set_instance_state(zone: Zone, instance_id: str, state: str) -> None:
    _check_state(state)
    instance = find_instance(zone, instance_id)
    zone.will_change("instances", instance.id)
    instance.fields["state"] = state


def delete_instance(cloud: Cloud, zone: Zone, instance_id: str) -> None:
    instance = find_instance(zone, instance_id)
    zone.will_change("instances", instance.id)
    del zone.instances[instance.id]
    manager = instance.fields.get("manager")
    pool = zone.instance_pools.get(manager["id"]) if manager is not None else None
    if pool is not None and instance.id in pool.members:
        zone.will_change("instance_pools", pool.id)
        del pool.members[instance.id]
    if "public-ip" in instance.fields:
        cloud.instance_addresses.release(instance.fields["public-ip"])


def _new_id(cloud: Cloud, wanted: str | None, taken: Mapping[str, object], what: str) -> str:
    if wanted is None:
        return cloud.ids.uuid()
    if not _is_uuid_text(wanted):
        raise ValueError(f"a {what} id must be a UUID, not {wanted!r}")
    if wanted.lower() in taken:
        raise ValueError(f"a {what} with id {wanted} already exists")
    return wanted.lower()


def _check_name(name: object, what: str) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= 255:
        raise ValueError(f"a {what} name is a string of 1 to 255 characters, not {name!r}")


def _check_state(state: str) -> None:
    if state not in INSTANCE_STATES:
        raise ValueError(
            f"unknown instance state {state!r}; use one of {', '.join(sorted(INSTANCE_STATES))}"
        )


def _check_count(value: object, name: str, *, minimum: int) -> None:
    # Arguments also arrive untyped, from seed files and the admin API.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")


def _is_uuid_text(value: object) -> bool:
    return isinstance(value, str) and is_uuid(value)


def _check_labels(labels: object) -> dict[str, str]:
    if not isinstance(labels, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise ValueError(f"labels map strings to strings, not {labels!r}")
    return {str(k): str(v) for k, v in labels.items()}


def _type_name(instance_type: Sequence[str]) -> tuple[str, str]:
    if isinstance(instance_type, str) or len(instance_type) != 2:
        raise ValueError(
            f'instance_type is a (family, size) pair such as ("standard", "medium"), '
            f"not {instance_type!r}"
        )
    return str(instance_type[0]), str(instance_type[1])


def _public_ipv4(cloud: Cloud, public_ip: str | None) -> str | None:
    if public_ip is None:
        return None
    if public_ip == "auto":
        return cloud.instance_addresses.allocate()
    try:
        address = ipaddress.IPv4Address(public_ip)
    except ValueError:
        raise ValueError(
            f'public_ip is "auto", None or an IPv4 address, not {public_ip!r}'
        ) from None
    cloud.instance_addresses.claim(str(address))
    return str(address)


def _public_ipv6(cloud: Cloud, ipv6: str | None) -> str | None:
    if ipv6 is None:
        return None
    if ipv6 == "auto":
        return cloud.allocate_ipv6()
    try:
        return str(ipaddress.IPv6Address(ipv6))
    except ValueError:
        raise ValueError(f'ipv6 is None, "auto" or an IPv6 address, not {ipv6!r}') from None
