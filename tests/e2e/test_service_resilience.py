"""The service controller under faults: flaky API, a crash mid-create, out-of-band edits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exoccm.kube.resources import SERVICES
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.scenario import register_nodes, seed_cloud
from exoccm.testing.simprocess import SimProcess
from tests.e2e.conftest import ZONE, wait_for

PREFIX = "service.beta.kubernetes.io/exoscale-loadbalancer-"


def lb_service(name: str, port: int = 80) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": name},
            "ports": [{"port": port, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def ingress_ips(plane: ControlPlane, namespace: str) -> dict[str, str]:
    with plane.http() as client:
        items = client.get(SERVICES.path(namespace)).json()["items"]
    out = {}
    for svc in items:
        ingress = (svc.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
        if ingress:
            out[svc["metadata"]["name"]] = ingress[0]["ip"]
    return out


def services_left(plane: ControlPlane, namespace: str) -> int:
    with plane.http() as client:
        return len(client.get(SERVICES.path(namespace)).json()["items"])


def test_fifty_services_converge_with_a_fifth_of_the_calls_failing(
    clean_cluster: ControlPlane,
    simulator: SimProcess,
    exoccm_factory: Callable[..., ExoccmProcess],
    namespace: str,
) -> None:
    _, instances = seed_cloud(simulator, ZONE)
    register_nodes(clean_cluster, instances, uninitialized=False)
    # Three kinds of faults, each on about 7% of all calls: about a fifth fail.
    for fault in (
        {"kind": "http", "status": 503, "message": "Service temporarily unavailable"},
        {"kind": "rate-limited", "retry_after": 0.5},
        {"kind": "operation-failure", "reason": "fault", "message": "injected"},
    ):
        simulator.call("inject", operation_id="*", fault=fault, probability=0.07)
    exoccm_factory(env={"EXOCCM_API_RATE_LIMIT": "50", "EXOCCM_API_BURST": "50"})
    for i in range(50):
        clean_cluster.apply(SERVICES.path(namespace), lb_service(f"web-{i:02d}"))

    wait_for(
        lambda: len(ingress_ips(clean_cluster, namespace)) == 50,
        timeout=240,
        what="all 50 Services to get an EXTERNAL-IP",
    )
    injected = [r for r in simulator.requests() if r.get("fault")]
    assert len(injected) > 20, "the faults must actually have fired"
    nlbs = simulator.load_balancers(ZONE)
    uids = [lb["labels"]["k8s-service-uid"] for lb in nlbs]
    assert len(nlbs) == 50, f"{len(nlbs)} NLBs for 50 Services"
    assert len(set(uids)) == 50, "a Service got two NLBs"
    ips = ingress_ips(clean_cluster, namespace)
    assert sorted(ips.values()) == sorted(lb["ip"] for lb in nlbs)
    assert all(len(lb["services"]) == 1 for lb in nlbs)

    with clean_cluster.http() as client:
        for i in range(50):
            client.delete(SERVICES.path(namespace, f"web-{i:02d}"))
    wait_for(
        lambda: services_left(clean_cluster, namespace) == 0,
        timeout=240,
        what="every Service to be cleaned up and deleted",
    )
    assert simulator.load_balancers(ZONE) == [], "an NLB leaked"


def test_a_crash_between_create_and_annotation_write_makes_no_duplicate(
    clean_cluster: ControlPlane,
    simulator: SimProcess,
    exoccm_factory: Callable[..., ExoccmProcess],
    namespace: str,
) -> None:
    _, instances = seed_cloud(simulator, ZONE)
    register_nodes(clean_cluster, instances, uninitialized=False)
    # The NLB gets created, then exoccm waits for ever on adding its service...
    simulator.call(
        "inject",
        operation_id="add-service-to-load-balancer",
        fault={"kind": "operation-stuck"},
        count=1,
    )
    first = exoccm_factory()
    clean_cluster.apply(SERVICES.path(namespace), lb_service("crashy"))
    wait_for(lambda: len(simulator.load_balancers(ZONE)) == 1, what="the NLB to be created")
    first.kill()  # ...and dies there: kill -9.
    # exoccm writes the id annotation as soon as the API names the new NLB, so it may have
    # landed already; removing it leaves what a crash just before that write leaves.
    with clean_cluster.http() as client:
        client.patch(
            SERVICES.path(namespace, "crashy"),
            json={"metadata": {"annotations": {PREFIX + "id": None}}},
            headers={"Content-Type": "application/merge-patch+json"},
        ).raise_for_status()
        svc = client.get(SERVICES.path(namespace, "crashy")).json()
    assert PREFIX + "id" not in svc["metadata"].get("annotations", {})
    simulator.call("clear_faults")

    exoccm_factory()
    wait_for(lambda: ingress_ips(clean_cluster, namespace).get("crashy"), what="the EXTERNAL-IP")
    nlbs = simulator.load_balancers(ZONE)
    assert len(nlbs) == 1, "the restarted exoccm created a duplicate NLB"
    assert simulator.count("create-load-balancer") == 1
    with clean_cluster.http() as client:
        svc = client.get(SERVICES.path(namespace, "crashy")).json()
    assert svc["metadata"]["annotations"][PREFIX + "id"] == nlbs[0]["id"]
    ports = [(s["port"], s["protocol"]) for s in nlbs[0]["services"]]
    assert ports == [(80, "tcp")]


def test_out_of_band_edits_are_reverted_within_a_drift_period(
    clean_cluster: ControlPlane,
    simulator: SimProcess,
    exoccm_factory: Callable[..., ExoccmProcess],
    namespace: str,
) -> None:
    _, instances = seed_cloud(simulator, ZONE)
    register_nodes(clean_cluster, instances, uninitialized=False)
    exoccm_factory(env={"EXOCCM_DRIFT_PERIOD": "3s"})
    clean_cluster.apply(SERVICES.path(namespace), lb_service("drifty"))
    wait_for(lambda: ingress_ips(clean_cluster, namespace).get("drifty"), what="the EXTERNAL-IP")
    (nlb,) = simulator.load_balancers(ZONE)
    (svc,) = nlb["services"]
    wanted = {k: svc[k] for k in ("target-port", "strategy", "healthcheck", "name")}

    simulator.call(
        "edit_load_balancer_service",
        zone=ZONE,
        lb_id=nlb["id"],
        service_id=svc["id"],
        fields={"strategy": "source-hash", "healthcheck": {**svc["healthcheck"], "interval": 60}},
    )
    simulator.call("edit_load_balancer", zone=ZONE, lb_id=nlb["id"], fields={"name": "renamed"})
    edited = simulator.load_balancers(ZONE)[0]
    assert edited["name"] == "renamed"
    assert edited["services"][0]["strategy"] == "source-hash"

    def reverted() -> bool:
        (current,) = simulator.load_balancers(ZONE)
        now = {k: current["services"][0][k] for k in wanted}
        return current["name"] == nlb["name"] and now == wanted

    # One drift period (3 s) plus the time to apply; 10 s leaves room on a busy machine.
    wait_for(reverted, timeout=10, what="the out-of-band edits to be reverted")

    simulator.call("delete_load_balancer_out_of_band", zone=ZONE, lb_id=nlb["id"])

    def recreated() -> str | None:
        lbs = simulator.load_balancers(ZONE)
        if len(lbs) == 1 and lbs[0]["id"] != nlb["id"] and lbs[0]["services"]:
            ip = ingress_ips(clean_cluster, namespace).get("drifty")
            return ip if ip == lbs[0]["ip"] else None
        return None

    wait_for(recreated, timeout=15, what="the deleted NLB to be re-created with its IP in status")


def test_an_orphan_in_a_zone_no_service_uses_is_collected_after_a_restart(
    clean_cluster: ControlPlane,
    simulator: SimProcess,
    exoccm_factory: Callable[..., ExoccmProcess],
) -> None:
    from exoscale.api.v2 import Client

    from exoccm.testing.simprocess import API_KEY, API_SECRET

    with clean_cluster.http() as client:
        cluster = client.get("/api/v1/namespaces/kube-system").json()["metadata"]["uid"]
    official = Client(API_KEY, API_SECRET, url=f"{simulator.url}/at-vie-1/v2")
    labels = {
        "managed-by": "exoccm",
        "k8s-cluster": cluster,
        "k8s-service-uid": "3c1e4b7a-0000-4000-8000-0000000000aa",  # no such Service
        "k8s-service-namespace": "gone",
        "k8s-service-name": "gone",
    }
    official.wait(official.create_load_balancer(name="k8s-left-behind", labels=labels)["id"])
    assert len(simulator.load_balancers("at-vie-1")) == 1
    # exoccm's zone is de-muc-1 and no Service uses at-vie-1: only the first drift pass's
    # survey of every reachable zone can find the NLB, and two passes must agree.
    exoccm_factory(env={"EXOCCM_DRIFT_PERIOD": "2s"})
    wait_for(
        lambda: simulator.load_balancers("at-vie-1") == [],
        timeout=30,
        what="the orphaned NLB in at-vie-1 to be collected",
    )

    def list_zones() -> list[str]:
        return [
            r["zone"] for r in simulator.requests() if r["operation_id"] == "list-load-balancers"
        ]

    surveyed = list_zones()
    assert {"at-vie-1", "at-vie-2", "hr-zag-1"} <= set(surveyed)
    # After the survey only the zone in use (the default one) and zones holding exoccm's NLBs
    # are listed, not all eight every period.
    later = wait_for(
        lambda: (zones := list_zones()[len(surveyed) :]) and len(zones) >= 3 and zones,
        timeout=30,
        what="three more drift passes",
    )
    assert set(later) <= {"de-muc-1", "at-vie-1"}
