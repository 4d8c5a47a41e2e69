"""Regressions found by the fault campaign (``chaos/``, ``docs/reliability.md``), end to end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exoccm.kube.resources import SERVICES
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.scenario import register_nodes, seed_cloud
from exoccm.testing.simprocess import SimProcess
from tests.e2e.conftest import ZONE, wait_for


def lb_service(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": name},
            "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def test_resources_left_in_error_by_failed_operations_are_repaired(
    clean_cluster: ControlPlane,
    simulator: SimProcess,
    exoccm_factory: Callable[..., ExoccmProcess],
    namespace: str,
) -> None:
    """A failed create left the NLB in ``error`` for ever, and a failed add left the NLB service
    in ``error`` with the wanted values: the plan saw nothing to change."""
    _, instances = seed_cloud(simulator, ZONE)
    register_nodes(clean_cluster, instances, uninitialized=False)
    for operation in ("create-load-balancer", "add-service-to-load-balancer"):
        simulator.call(
            "inject",
            operation_id=operation,
            fault={"kind": "operation-failure", "reason": "busy", "message": "injected"},
            count=1,
        )
    exoccm_factory()
    clean_cluster.apply(SERVICES.path(namespace), lb_service("unlucky"))

    def repaired() -> bool:
        nlbs = simulator.load_balancers(ZONE)
        if len(nlbs) != 1 or nlbs[0]["state"] != "running":
            return False
        services = nlbs[0]["services"]
        if [s["state"] for s in services] != ["running"]:
            return False
        with clean_cluster.http() as client:
            svc = client.get(SERVICES.path(namespace, "unlucky")).json()
        ingress = (svc.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
        return [i["ip"] for i in ingress] == [nlbs[0]["ip"]]

    wait_for(repaired, timeout=120, what="the NLB and its service to be running, with the IP")
    failed = [r["operation_id"] for r in simulator.requests() if r["fault"] == "operation-failure"]
    assert sorted(failed) == ["add-service-to-load-balancer", "create-load-balancer"]
    assert simulator.count("create-load-balancer") == 1  # repaired, not re-created
