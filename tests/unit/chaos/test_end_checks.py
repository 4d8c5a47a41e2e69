"""The fault campaign's end checks: zones, NLBs made outside exoccm, the attackers' writes."""

from __future__ import annotations

import random
from pathlib import Path

import httpx

from chaos.checks import FINALIZER, Cloud, check
from chaos.hostile import Attacker, HostileTenant, Pair, Victim
from chaos.tenancy import judge_writes
from chaos.workload import ZONE, Workload
from exoccm.kube.objects import Obj
from exoccm.testing.simprocess import SimProcess

HOME, AWAY = "de-muc-1", "ch-gva-2"
CLOUD = Cloud(HOME, {HOME: "pool-home", AWAY: "pool-away"}, "chaos", frozenset({"hand-made"}))


def service(name: str, *, zone: str | None = None, ip: str | None = "10.0.0.1") -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": "chaos-0",
            "uid": f"uid-{name}",
            "annotations": {ZONE: zone} if zone else {},
            "finalizers": [FINALIZER],
        },
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": ip}] if ip else []}},
    }


def nlb(name: str, pool: str, *, lb_id: str = "", labels: dict[str, str] | None = None) -> Obj:
    uid = f"uid-{name}"
    return {
        "id": lb_id or f"nlb-{name}",
        "name": f"k8s-{uid}",
        "ip": "10.0.0.1",
        "state": "running",
        "labels": {"managed-by": "exoccm", "k8s-cluster": "chaos", "k8s-service-uid": uid}
        if labels is None
        else labels,
        "services": [
            {
                "name": f"{uid}-80",
                "port": 80,
                "protocol": "tcp",
                "target-port": 30080,
                "strategy": "round-robin",
                "instance-pool": {"id": pool},
                "state": "running",
                "healthcheck": {
                    "mode": "tcp",
                    "port": 30080,
                    "interval": 10,
                    "timeout": 5,
                    "retries": 1,
                },
            }
        ],
    }


def test_an_nlb_matching_its_service_in_its_zone_passes() -> None:
    services = {("chaos-0", "web"): service("web", zone=AWAY)}
    result = check(services, {HOME: [], AWAY: [nlb("web", "pool-away")]}, deleted=(), cloud=CLOUD)
    assert result.failures == []
    assert result.nlbs_by_zone == {AWAY: 1, HOME: 0}


def test_an_nlb_in_another_zone_than_asked_fails() -> None:
    services = {("chaos-0", "web"): service("web", zone=AWAY)}
    result = check(services, {HOME: [nlb("web", "pool-home")], AWAY: []}, deleted=(), cloud=CLOUD)
    assert result.failures == [
        "chaos-0/web: its NLB nlb-web is in de-muc-1, the Service asks for ch-gva-2"
    ]


def test_an_nlb_targeting_the_other_zones_pool_fails() -> None:
    services = {("chaos-0", "web"): service("web")}
    result = check(services, {HOME: [nlb("web", "pool-away")]}, deleted=(), cloud=CLOUD)
    assert len(result.failures) == 1
    assert "'instance-pool': ('pool-away', 'pool-home')" in result.failures[0]


def test_one_nlb_per_service_across_zones() -> None:
    services = {("chaos-0", "web"): service("web")}
    nlbs = {HOME: [nlb("web", "pool-home")], AWAY: [nlb("web", "pool-away", lb_id="old")]}
    result = check(services, nlbs, deleted=(), cloud=CLOUD)
    assert result.failures == ["chaos-0/web has 2 NLBs: ['nlb-web (de-muc-1)', 'old (ch-gva-2)']"]


def test_nlbs_made_outside_exoccm_are_expected_and_others_are_not() -> None:
    known = nlb("x", "pool-home", lb_id="hand-made", labels={})
    stranger = nlb("y", "pool-home", lb_id="stranger", labels={})
    result = check({}, {HOME: [known, stranger]}, deleted=(), cloud=CLOUD)
    assert result.not_ours == 1
    assert result.failures == ["NLB stranger (k8s-uid-y) in de-muc-1 is not labelled as ours"]


def test_services_judged_elsewhere_need_no_nlb_but_their_uid_is_no_leak() -> None:
    services = {("tenant-0", "attack-001"): service("attack-001", ip=None)}
    nlbs = {HOME: [nlb("attack-001", "pool-home")]}
    result = check(services, nlbs, deleted=(), cloud=CLOUD, judged_elsewhere=services)
    assert result.failures == []
    result = check(services, nlbs, deleted=(), cloud=CLOUD)
    assert result.failures != []


def write(lb_id: str, operation: str = "update-load-balancer") -> Obj:
    return {
        "operation_id": operation,
        "path": f"/de-muc-1/v2/load-balancer/{lb_id}",
        "method": "PUT",
    }


def tenant() -> HostileTenant:
    """A hostile tenant as the campaign leaves it: only its records matter to the judge."""
    workload = Workload(httpx.Client(), random.Random(0), ("chaos-0",), 1, zones=(HOME,))
    sim = SimProcess(Path("unused"))  # never started: the judge reads only the request log
    hostile = HostileTenant(workload.http, sim, workload.rng, ("tenant-0",), workload, CLOUD)
    hostile.foreign = {"id": "foreign"}
    hostile.foreign_since = 1
    victim = Victim(("chaos-0", "web"), "uid-web", "victim-nlb", "10.0.0.1", {}, [], None, 3)
    hostile.victims.append(victim)
    hostile.pairs.append(Pair("tenant-0", {"id": "hand-made"}, converged_at=5, handover_at=7))
    attacker = Attacker(("tenant-0", "attack-001"), "u", "steal-by-id", "victim-nlb", "x")
    hostile.attackers.append(attacker)
    return hostile


def test_writes_before_the_watch_begins_are_allowed() -> None:
    requests = [
        write("foreign", "create-load-balancer"),  # 0: made by the campaign
        write("victim-nlb"),  # 1: before the victim was frozen
        write("victim-nlb"),  # 2
        {"operation_id": "get-load-balancer", "path": "/de-muc-1/v2/load-balancer/foreign"},  # 3
        write("hand-made"),  # 4: adoption
        {"operation_id": "list-load-balancers", "path": "/de-muc-1/v2/load-balancer"},  # 5
        {"operation_id": "list-load-balancers", "path": "/de-muc-1/v2/load-balancer"},  # 6
        write("hand-made", "delete-load-balancer-service"),  # 7: the handover
    ]
    assert judge_writes(tenant(), requests) == []


def test_each_write_only_an_attacker_could_cause_is_named() -> None:
    requests = [write("x")] * 3 + [
        write("foreign", "delete-load-balancer"),  # 3
        write("victim-nlb", "add-service-to-load-balancer"),  # 4
        write("hand-made"),  # 5: while the first claimant held it
        write("hand-made"),  # 6
    ]
    failures = judge_writes(tenant(), requests)
    assert failures == [
        "writes to the other cluster's NLB foreign: {'delete-load-balancer': 1}",
        "writes to victim chaos-0/web's NLB victim-nlb after it was frozen: "
        "{'add-service-to-load-balancer': 1}",
        "writes to hand-made NLB hand-made while its first claimant held it: "
        "{'update-load-balancer': 2}",
    ]
