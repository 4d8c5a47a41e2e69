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
    rendered["healthcheck-status"] = healthcheck_status(zone, svc)
    return rendered


def serving_members(zone: Zone, pool_id: str) -> list[Instance]:
    """The pool's running members with a public IPv4: the targets an NLB service probes."""
    pool = zone.instance_pools.get(pool_id)
    if pool is None:
        return []
    members = []
    for member_id in pool.members:
        member = zone.instances.get(member_id)
        if (
            member is not None
            and member.fields["state"] == "running"
            and member.fields.get("public-ip") is not None
        ):
            members.append(member)
    return members


def healthcheck_status(zone: Zone, svc: Fields) -> list[Fields]:
    """One entry per member the service probes.

    Without a data plane a member is ``success`` unless a test marked it unhealthy; with one,
    it is ``success`` only if the data plane's probes also say so (``zone.measured_health``).
    """
    measured = zone.measured_health
    statuses = []
    for member in serving_members(zone, svc["instance-pool"]["id"]):
        healthy = member.healthy and (
            measured is None or measured.get((svc["id"], member.id), False)
        )
        statuses.append(
            {"public-ip": member.fields["public-ip"], "status": "success" if healthy else "failure"}
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
