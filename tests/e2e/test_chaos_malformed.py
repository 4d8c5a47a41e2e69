"""Malformed Exoscale answers end to end: reported on the Service, survived, then repaired.

The simulator's ``malformed`` fault serves a call and then breaks its 200 answer (broken JSON,
a missing ``id`` or list key, a value of the wrong type). exoccm must turn that into a typed error
that names the operation, tell the user with a Warning Event, keep running, keep serving the
Services whose zone answers properly, and converge once the answers are whole again, without a
duplicate NLB for the create whose answer it never got.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exoccm.kube.resources import EVENTS, SERVICES
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.scenario import register_nodes, seed_cloud
from exoccm.testing.simprocess import SimProcess
from tests.e2e.conftest import ZONE, wait_for

PREFIX = "service.beta.kubernetes.io/exoscale-loadbalancer-"
OTHER_ZONE = "ch-gva-2"
MERGE = {"Content-Type": "application/merge-patch+json"}
# Exception types a malformed answer must never turn into (they would escape the typed errors).
LEAKS = ("KeyError", "TypeError", "ValidationError", "AttributeError", "JSONDecodeError")


def lb_service(name: str, pool_id: str, zone: str, port: int = 80) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "annotations": {PREFIX + "zone": zone, PREFIX + "service-instancepool-id": pool_id},
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": name},
            "ports": [{"port": port, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def service(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    with plane.http() as client:
        result: dict[str, Any] = client.get(SERVICES.path(namespace, name)).json()
        return result


def ingress_ip(plane: ControlPlane, namespace: str, name: str) -> str | None:
    status = service(plane, namespace, name).get("status") or {}
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    return str(ingress[0]["ip"]) if ingress else None


def warnings(plane: ControlPlane, namespace: str, name: str) -> list[str]:
    with plane.http() as client:
        items = client.get(
            EVENTS.path(namespace), params={"fieldSelector": f"involvedObject.name={name}"}
        ).json()["items"]
    return [e["message"] for e in items if e["reason"] == "SyncLoadBalancerFailed"]


def nlbs_of(
    sim: SimProcess, zone: str, plane: ControlPlane, namespace: str, name: str
) -> list[Any]:
    uid = service(plane, namespace, name)["metadata"]["uid"]
    return [lb for lb in sim.load_balancers(zone) if lb["labels"].get("k8s-service-uid") == uid]


def converged(sim: SimProcess, zone: str, plane: ControlPlane, namespace: str, name: str) -> bool:
    nlbs = nlbs_of(sim, zone, plane, namespace, name)
    return (
        len(nlbs) == 1
        and len(nlbs[0]["services"]) == 1
        and nlbs[0]["services"][0]["state"] == "running"
        and ingress_ip(plane, namespace, name) == nlbs[0]["ip"]
    )


def leaked(process: ExoccmProcess) -> list[str]:
    return [
        str(line.get("error"))
        for line in process.logs()
        if str(line.get("error", "")).split(":", 1)[0] in LEAKS
    ]


def test_malformed_answers_are_reported_survived_and_repaired(
    clean_cluster: ControlPlane,
    simulator: SimProcess,
    exoccm_factory: Callable[..., ExoccmProcess],
    namespace: str,
) -> None:
    plane, sim = clean_cluster, simulator
    pool, instances = seed_cloud(sim, ZONE)
    other_pool = sim.call("add_instance_pool", zone=OTHER_ZONE, name="other-nodes")
    other_instances = [
        sim.call("add_instance", zone=OTHER_ZONE, name=f"other-{i}", pool_id=other_pool["id"])
        for i in (1, 2)
    ]
    register_nodes(plane, instances + other_instances, uninitialized=False)
    process = exoccm_factory()
    plane.apply(SERVICES.path(namespace), lb_service("steady", pool["id"], ZONE))
    wait_for(lambda: converged(sim, ZONE, plane, namespace, "steady"), what="steady to converge")

    # From now on every NLB read of ZONE answers garbage, in each of the three ways.
    for operation, first in (
        ("get-load-balancer", "missing-field"),
        ("list-load-balancers", "wrong-type"),
    ):
        for variant, count in ((first, 1), ("broken-json", None)):
            sim.call(
                "inject",
                operation_id=operation,
                fault={"kind": "malformed", "variant": variant},
                count=count,
                zone=ZONE,
            )
    plane.apply(SERVICES.path(namespace), lb_service("victim", pool["id"], ZONE))
    with plane.http() as client:
        client.patch(
            SERVICES.path(namespace, "steady"),
            json={"metadata": {"annotations": {PREFIX + "service-strategy": "source-hash"}}},
            headers=MERGE,
        )
    plane.apply(SERVICES.path(namespace), lb_service("elsewhere", other_pool["id"], OTHER_ZONE))

    # The user is told, with the operation that answered badly...
    wait_for(
        lambda: any("get-load-balancer" in m for m in warnings(plane, namespace, "victim")),
        what="a SyncLoadBalancerFailed Event on victim naming get-load-balancer",
    )
    wait_for(
        lambda: any("list-load-balancers" in m for m in warnings(plane, namespace, "victim")),
        what="a SyncLoadBalancerFailed Event on victim naming list-load-balancers",
    )
    message = next(m for m in warnings(plane, namespace, "victim") if "get-load-balancer" in m)
    assert "get-load-balancer in de-muc-1" in message, message
    assert "response" in message, message  # says what was wrong with it
    # ...the Service in the zone that answers properly converges meanwhile...
    wait_for(
        lambda: converged(sim, OTHER_ZONE, plane, namespace, "elsewhere"),
        what="the Service in the healthy zone to converge",
    )
    faulted = [r for r in sim.requests() if (r.get("fault") or "").startswith("malformed-")]
    assert {r["fault"] for r in faulted} == {
        "malformed-missing-field",
        "malformed-wrong-type",
        "malformed-broken-json",
    }
    # ...and exoccm neither crashed nor let an untyped exception through.
    assert process.running()
    assert leaked(process) == []

    sim.call("clear_faults")
    # steady was converged before its strategy changed: its update is retried on backoff.
    wait_for(
        lambda: (
            all(converged(sim, ZONE, plane, namespace, n) for n in ("steady", "victim"))
            and nlbs_of(sim, ZONE, plane, namespace, "steady")[0]["services"][0]["strategy"]
            == "source-hash"
        ),
        timeout=120,
        what="steady (with its new strategy) and victim to converge once the answers are whole",
    )
    # The create whose result exoccm could not read made one NLB, found again by its labels.
    assert len(sim.load_balancers(ZONE)) == 2
    assert process.running()
    assert leaked(process) == []
