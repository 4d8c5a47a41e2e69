"""API representations of the stored resources, with the fields the API derives.

The results share nested objects with the stored state: serialize them at once (the HTTP path)
or deep-copy them (the Python control surface).
"""

from __future__ import annotations

from typing import Any

from exoccm.sim.state import Fields, Instance, InstancePool, LoadBalancer, SksCluster, Zone

# The inline item schema of list-instances: a subset of the instance schema.
_INSTANCE_SUMMARY_FIELDS = frozenset(
    {
        "id",
        "name",
        "state",
        "public-ip",
        "ipv6-address",
        "public-ip-assignment",
        "private-networks",
        "manager",
        "instance-type",
        "template",
        "labels",
        "security-groups",
        "ssh-key",
        "ssh-keys",
        "mac-address",
        "created-at",
    }
)


def load_balancer(zone: Zone, lb: LoadBalancer) -> Fields:
    rendered = dict(lb.fields)
    rendered["services"] = [service(zone, svc) for svc in lb.services.values()]
    return rendered


def service(zone: Zone, svc: Fields) -> Fields:
    rendered = dict(svc)
    rendered["healthcheck-status"] = healthcheck_status(zone, svc["instance-pool"]["id"])
    return rendered


def healthcheck_status(zone: Zone, pool_id: str) -> list[Fields]:
    """One entry per running member of the pool with a public IPv4, as the NLB probes them."""
    pool = zone.instance_pools.get(pool_id)
    if pool is None:
        return []
    statuses = []
    for member_id in pool.members:
        member = zone.instances.get(member_id)
        if member is None or member.fields["state"] != "running":
            continue
        public_ip = member.fields.get("public-ip")
        if public_ip is None:
            continue
        statuses.append(
            {"public-ip": public_ip, "status": "success" if member.healthy else "failure"}
        )
    return statuses


def instance(zone: Zone, inst: Instance, *, summary: bool = False) -> Fields:
    rendered = dict(inst.fields)
    rendered["instance-type"] = dict(zone.instance_types[inst.type_id])
    if summary:
        return {key: value for key, value in rendered.items() if key in _INSTANCE_SUMMARY_FIELDS}
    return rendered


def instance_pool(pool: InstancePool) -> Fields:
    rendered = dict(pool.fields)
    rendered["instances"] = [{"id": member_id} for member_id in pool.members]
    # The spec requires size > 0; an emptied pool still has its configured size.
    rendered["size"] = pool.size if pool.size is not None else max(1, len(pool.members))
    return rendered


def sks_cluster(zone: Zone, cluster: SksCluster) -> Fields:
    rendered = dict(cluster.fields)
    rendered["nodepools"] = [nodepool(zone, np) for np in cluster.nodepools]
    return rendered


def nodepool(zone: Zone, np: Fields) -> Fields:
    rendered = dict(np)
    pool = zone.instance_pools.get(np["instance-pool"]["id"])
    rendered["size"] = len(pool.members) if pool is not None else 0
    return rendered


def operation(op: Fields) -> Fields:
    rendered: dict[str, Any] = dict(op)
    rendered["reference"] = dict(op["reference"])
    return rendered
