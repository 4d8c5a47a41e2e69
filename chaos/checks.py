"""The end-state checks of a campaign, computed independently of exoccm's code.

The expected NLB of a Service is derived here from the Service itself and the annotation
semantics documented for users (defaults: round-robin, a TCP health check on the NodePort every
10 s with a 5 s timeout and 1 retry, NLB ``k8s-<uid>``, NLB services ``<uid>-<port>[-udp]``), not
by calling exoccm's ``desired_load_balancer``: a bug shared by the judge and the judged would
otherwise pass.

The checks are zone-aware: a Service's NLB must be in the zone its ``zone`` annotation names
(else the default zone) and target that zone's Instance Pool. NLBs made outside exoccm (by hand,
by another cluster) are expected and are not leaks, unless exoccm adopted them: then they are
judged as the adopting Service's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from chaos.workload import DESCRIPTION, INTERVAL, RETRIES, STRATEGY, ZONE
from exoccm.kube.objects import Obj
from exoccm.kube.resources import SERVICES

FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
UID_LABEL = "k8s-service-uid"


@dataclass(frozen=True)
class Cloud:
    """What the checks know of the cloud besides its NLBs."""

    default_zone: str
    pools: Mapping[str, str]  # zone -> the Instance Pool of this cluster's Nodes there
    cluster_id: str
    not_ours: frozenset[str] = frozenset()  # ids of NLBs made outside exoccm

    def zone_of(self, service: Obj) -> str:
        annotations = service["metadata"].get("annotations") or {}
        return str(annotations.get(ZONE) or self.default_zone)


@dataclass
class CheckResult:
    failures: list[str] = field(default_factory=list)
    load_balancer_services: int = 0
    cluster_ip_services: int = 0
    nlbs: int = 0
    nlbs_by_zone: dict[str, int] = field(default_factory=dict)
    not_ours: int = 0
    deleted_checked: int = 0

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failures": self.failures,
            "load_balancer_services": self.load_balancer_services,
            "cluster_ip_services": self.cluster_ip_services,
            "nlbs": self.nlbs,
            "nlbs_by_zone": self.nlbs_by_zone,
            "nlbs_not_exoccms": self.not_ours,
            "deleted_services_checked": self.deleted_checked,
        }


def _seconds(value: str) -> int:
    """The campaign's interval values: ``5s``, ``10s`` ... ``1m``."""
    return int(value[:-1]) * (60 if value.endswith("m") else 1)


def expected_services(service: Obj, pool_id: str) -> dict[tuple[int, str], Obj]:
    """The NLB services a Service should have, keyed by (port, protocol)."""
    meta = service["metadata"]
    annotations = meta.get("annotations") or {}
    uid = meta["uid"]
    wanted = {}
    for port in service["spec"]["ports"]:
        protocol = port.get("protocol", "TCP").lower()
        node_port = port["nodePort"]
        wanted[(port["port"], protocol)] = {
            "name": f"{uid}-{port['port']}" + ("" if protocol == "tcp" else f"-{protocol}"),
            "target-port": node_port,
            "strategy": annotations.get(STRATEGY, "round-robin"),
            "instance-pool": pool_id,
            "healthcheck": {
                "mode": "tcp",
                "port": node_port,
                "interval": _seconds(annotations.get(INTERVAL, "10s")),
                "timeout": 5,
                "retries": int(annotations.get(RETRIES, "1")),
            },
        }
    return wanted


def _observed(svc: Obj) -> Obj:
    hc = svc.get("healthcheck") or {}
    return {
        "name": svc.get("name"),
        "target-port": svc.get("target-port"),
        "strategy": svc.get("strategy"),
        "instance-pool": (svc.get("instance-pool") or {}).get("id"),
        "healthcheck": {k: hc.get(k) for k in ("mode", "port", "interval", "timeout", "retries")},
    }


def read_services(http: httpx.Client, namespaces: Iterable[str]) -> dict[tuple[str, str], Obj]:
    """The Services of ``namespaces`` by (namespace, name), in one list call."""
    wanted = set(namespaces)
    response = http.get(SERVICES.path())
    response.raise_for_status()
    services: dict[tuple[str, str], Obj] = {}
    for item in response.json()["items"]:
        meta = item["metadata"]
        if meta["namespace"] in wanted:
            services[(meta["namespace"], meta["name"])] = item
    return services


def check(
    services: Mapping[tuple[str, str], Obj],
    nlbs_by_zone: Mapping[str, list[Obj]],
    *,
    deleted: Iterable[tuple[str, str]],
    cloud: Cloud,
    judged_elsewhere: Iterable[tuple[str, str]] = (),
) -> CheckResult:
    """Compare ``services`` with the simulator's NLBs of every zone; every mismatch.

    Services in ``judged_elsewhere`` (a hostile tenant's, refused by design) are not expected
    to have an NLB; only their UIDs count, so that an NLB labelled as theirs is no leak.
    """
    result = CheckResult(
        nlbs=sum(len(n) for n in nlbs_by_zone.values()),
        nlbs_by_zone={zone: len(n) for zone, n in sorted(nlbs_by_zone.items())},
    )
    by_uid: dict[str, list[tuple[str, Obj]]] = {}
    for zone, nlbs in sorted(nlbs_by_zone.items()):
        for nlb in nlbs:
            labels = nlb.get("labels") or {}
            ours = (
                labels.get("managed-by") == "exoccm"
                and labels.get("k8s-cluster") == cloud.cluster_id
            )
            if not ours and nlb["id"] in cloud.not_ours:
                result.not_ours += 1
                continue
            if not ours:
                result.failures.append(
                    f"NLB {nlb['id']} ({nlb['name']}) in {zone} is not labelled as ours"
                )
                continue
            by_uid.setdefault(labels.get(UID_LABEL, ""), []).append((zone, nlb))

    deleted = set(deleted)
    skipped = set(judged_elsewhere)
    for key in sorted(deleted):
        result.deleted_checked += 1
        if key in services:
            meta = services[key]["metadata"]
            result.failures.append(
                f"Service {key[0]}/{key[1]} was deleted but still exists "
                f"(finalizers {meta.get('finalizers')})"
            )
    accounted: set[str] = set()
    for (namespace, name), service in sorted(services.items()):
        label = f"{namespace}/{name}"
        uid = service["metadata"]["uid"]
        accounted.add(uid)
        if (namespace, name) in deleted or (namespace, name) in skipped:
            continue
        mine = by_uid.get(uid, [])
        if service["spec"].get("type") != "LoadBalancer":
            result.cluster_ip_services += 1
            result.failures += _check_not_load_balancer(label, service, [n for _, n in mine])
            continue
        result.load_balancer_services += 1
        result.failures += check_placed(label, service, mine, cloud)
    for uid, leaked in by_uid.items():
        if uid not in accounted:
            result.failures += [
                f"NLB {nlb['id']} in {zone} leaked: its Service (uid {uid}) no longer exists"
                for zone, nlb in leaked
            ]
    return result


def check_placed(label: str, service: Obj, nlbs: list[tuple[str, Obj]], cloud: Cloud) -> list[str]:
    """One NLB, in the zone the Service asks for, matching it."""
    if len(nlbs) > 1:
        where = sorted(f"{nlb['id']} ({zone})" for zone, nlb in nlbs)
        return [f"{label} has {len(nlbs)} NLBs: {where}"]
    zone = cloud.zone_of(service)
    if nlbs and nlbs[0][0] != zone:
        return [
            f"{label}: its NLB {nlbs[0][1]['id']} is in {nlbs[0][0]}, the Service asks for {zone}"
        ]
    return _check_load_balancer(label, service, [n for _, n in nlbs], cloud.pools[zone])


def _ingress(service: Obj) -> list[Obj]:
    return list(((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])


def _check_not_load_balancer(label: str, service: Obj, nlbs: list[Obj]) -> list[str]:
    failures = [f"{label} is ClusterIP but NLB {nlb['id']} still serves it" for nlb in nlbs]
    if FINALIZER in (service["metadata"].get("finalizers") or []):
        failures.append(f"{label} is ClusterIP but keeps the cleanup finalizer")
    if _ingress(service):
        failures.append(f"{label} is ClusterIP but keeps ingress {_ingress(service)}")
    return failures


def _check_load_balancer(label: str, service: Obj, nlbs: list[Obj], pool_id: str) -> list[str]:
    if not nlbs:
        return [f"{label} has no NLB"]
    if len(nlbs) > 1:
        return [f"{label} has {len(nlbs)} NLBs: {sorted(n['id'] for n in nlbs)}"]
    (nlb,) = nlbs
    failures = []
    meta = service["metadata"]
    annotations: Mapping[str, str] = meta.get("annotations") or {}
    if nlb["name"] != f"k8s-{meta['uid']}":
        failures.append(f"{label}: NLB name {nlb['name']!r}")
    description = annotations.get(DESCRIPTION, "")
    if nlb.get("description", "") != description:
        failures.append(
            f"{label}: NLB description {nlb.get('description')!r}, wanted {description!r}"
        )
    if nlb.get("state") != "running":
        failures.append(f"{label}: NLB {nlb['id']} is {nlb.get('state')}")
    wanted = expected_services(service, pool_id)
    have = {(s["port"], s["protocol"]): s for s in nlb.get("services") or []}
    if set(have) != set(wanted):
        failures.append(f"{label}: NLB ports {sorted(have)}, wanted {sorted(wanted)}")
    for key in sorted(set(have) & set(wanted)):
        observed = _observed(have[key])
        if observed != wanted[key]:
            diff = {k: (observed[k], v) for k, v in wanted[key].items() if observed[k] != v}
            failures.append(f"{label}: NLB service {key} differs (have, want): {diff}")
        if have[key].get("state") != "running":
            failures.append(f"{label}: NLB service {key} is {have[key].get('state')}")
    ingress = _ingress(service)
    if [i.get("ip") for i in ingress] != [nlb.get("ip")]:
        failures.append(f"{label}: ingress {ingress}, NLB IP {nlb.get('ip')}")
    if FINALIZER not in (meta.get("finalizers") or []):
        failures.append(f"{label}: no cleanup finalizer")
    return failures
