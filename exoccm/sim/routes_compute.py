"""Handlers of the read-only endpoints: instances, pools, types, zones, operations, SKS."""

from __future__ import annotations

import ipaddress

from exoccm.sim import render
from exoccm.sim.call import Call
from exoccm.sim.constants import LIST_INSTANCES_MANAGER_TYPES
from exoccm.sim.errors import bad_request
from exoccm.sim.state import Fields, Instance
from exoccm.sim.validation import is_uuid


def list_instances(call: Call) -> Fields:
    """All instances of the zone matching every filter given (`ip-address`, `manager-id`,
    `manager-type`, `labels`)."""
    query = call.query
    manager_id = query.get("manager-id")
    if manager_id is not None and not is_uuid(manager_id):
        raise bad_request(f"manager-id: must be a UUID, got {manager_id!r}")
    manager_type = query.get("manager-type")
    if manager_type is not None and manager_type not in LIST_INSTANCES_MANAGER_TYPES:
        raise bad_request(
            f"manager-type: must be one of {', '.join(LIST_INSTANCES_MANAGER_TYPES)}, "
            f"got {manager_type!r}"
        )
    ip_address = _normalize_ip(query["ip-address"]) if "ip-address" in query else None
    label_filter = _parse_label_filter(query["labels"]) if "labels" in query else None

    def matches(instance: Instance) -> bool:
        fields = instance.fields
        manager = fields.get("manager") or {}
        if manager_id is not None and manager.get("id") != manager_id.lower():
            return False
        if manager_type is not None and manager.get("type") != manager_type:
            return False
        if ip_address is not None and ip_address not in (
            fields.get("public-ip"),
            _normalize_ip(fields.get("ipv6-address") or ""),
        ):
            return False
        if label_filter is not None:
            labels = fields.get("labels") or {}
            for key, value in label_filter:
                if key not in labels or (value is not None and labels[key] != value):
                    return False
        return True

    zone = call.zone
    return {
        "instances": [
            render.instance(zone, instance, summary=True)
            for instance in call.listed("instances", zone.instances)
            if matches(instance)
        ]
    }


def get_instance(call: Call) -> Fields:
    return render.instance(call.zone, call.zone.instance(call.params["id"]))


def list_instance_pools(call: Call) -> Fields:
    listed = call.listed("instance_pools", call.zone.instance_pools)
    return {"instance-pools": [render.instance_pool(pool) for pool in listed]}


def get_instance_pool(call: Call) -> Fields:
    return render.instance_pool(call.zone.instance_pool(call.params["id"]))


def list_instance_types(call: Call) -> Fields:
    return {"instance-types": [dict(t) for t in call.zone.instance_types.values()]}


def get_instance_type(call: Call) -> Fields:
    return dict(call.zone.instance_type(call.params["id"]))


def list_zones(call: Call) -> Fields:
    """The zones this simulator serves, each pointing at its own URL on this server."""
    return {
        "zones": [
            {
                "name": name,
                "api-endpoint": f"{call.base_url}/{name}/v2",
                "sos-endpoint": f"https://sos-{name}.exoscale.com",
            }
            for name in call.cloud.zone_names
        ]
    }


def get_operation(call: Call) -> Fields:
    return render.operation(call.zone.operation(call.params["id"]))


def list_sks_clusters(call: Call) -> Fields:
    zone = call.zone
    listed = call.listed("sks_clusters", zone.sks_clusters)
    return {"sks-clusters": [render.sks_cluster(zone, cluster) for cluster in listed]}


def get_sks_cluster(call: Call) -> Fields:
    return render.sks_cluster(call.zone, call.zone.sks_cluster(call.params["id"]))


def get_sks_nodepool(call: Call) -> Fields:
    cluster = call.zone.sks_cluster(call.params["id"])
    return render.nodepool(call.zone, call.zone.nodepool(cluster, call.params["sks-nodepool-id"]))


def _normalize_ip(value: str) -> str:
    """The canonical text of an IP address (IPv6 has many spellings); other text unchanged."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def _parse_label_filter(text: str) -> list[tuple[str, str | None]]:
    """``key=value`` (value must match) or ``key`` (must be present), comma-separated."""
    if not text:
        raise bad_request("labels: give key=value or key, comma-separated")
    pairs: list[tuple[str, str | None]] = []
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not key:
            raise bad_request(f"labels: {item!r} has no key; give key=value or key")
        pairs.append((key, value if sep else None))
    return pairs
