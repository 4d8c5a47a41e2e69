"""The story that started exoccm, end to end: a website behind an Exoscale NLB in de-muc-1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exoccm.kube.resources import SERVICES
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.scenario import NAMESPACE, ZONE, replay
from exoccm.testing.simprocess import SimProcess
from tests.e2e.conftest import wait_for

ID_ANNOTATION = "service.beta.kubernetes.io/exoscale-loadbalancer-id"
UNINITIALIZED = "node.cloudprovider.kubernetes.io/uninitialized"


def _service(plane: ControlPlane) -> dict[str, Any] | None:
    with plane.http() as client:
        response = client.get(SERVICES.path(NAMESPACE, "website"))
    return response.json() if response.status_code == 200 else None


def test_seed_story(
    clean_cluster: ControlPlane,
    simulator: SimProcess,
    exoccm_factory: Callable[..., ExoccmProcess],
) -> None:
    process = exoccm_factory(zone=ZONE)
    story = replay(clean_cluster, simulator)  # Nodes registered uninitialized, as kubelets do
    uid = story.service["metadata"]["uid"]
    node_port = story.service["spec"]["ports"][0]["nodePort"]

    def external_ip() -> str | None:
        svc = _service(clean_cluster) or {}
        ingress = (svc.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
        return ingress[0].get("ip") if ingress else None

    ip = wait_for(external_ip, what="the Service's EXTERNAL-IP")
    nlbs = simulator.load_balancers(ZONE)
    assert len(nlbs) == 1
    nlb = nlbs[0]
    assert nlb["name"] == f"k8s-{uid}"
    assert nlb["ip"] == ip
    svc = _service(clean_cluster)
    assert svc is not None
    assert svc["status"]["loadBalancer"]["ingress"] == [{"ip": ip, "ipMode": "VIP"}]
    assert svc["metadata"]["annotations"][ID_ANNOTATION] == nlb["id"]
    assert "service.kubernetes.io/load-balancer-cleanup" in svc["metadata"]["finalizers"]

    assert len(nlb["services"]) == 1
    nlb_service = nlb["services"][0]
    assert nlb_service["name"] == f"{uid}-80"
    assert nlb_service["protocol"] == "tcp"
    assert nlb_service["port"] == 80
    assert nlb_service["target-port"] == node_port
    assert nlb_service["strategy"] == "round-robin"
    assert nlb_service["instance-pool"]["id"] == story.pool["id"]
    assert nlb_service["healthcheck"] == {
        "mode": "tcp",
        "port": node_port,
        "interval": 10,
        "timeout": 5,
        "retries": 1,
    }
    statuses = {s["public-ip"] for s in nlb_service["healthcheck-status"]}
    assert statuses == {i["public-ip"] for i in story.instances}

    # The node controller initialized the Nodes from their instances: their ExternalIPs are
    # exactly the NLB's health-check targets.
    def initialized() -> list[dict[str, Any]] | None:
        with clean_cluster.http() as client:
            nodes = [client.get(f"/api/v1/nodes/{i['name']}").json() for i in story.instances]
        done = all(
            n["spec"].get("providerID")
            and UNINITIALIZED not in {t["key"] for t in n["spec"].get("taints", [])}
            for n in nodes
        )
        return nodes if done else None

    nodes = wait_for(initialized, what="the Nodes to be initialized")
    external = set()
    for node, instance in zip(nodes, story.instances, strict=True):
        assert node["spec"]["providerID"] == f"exoscale://{instance['id']}"
        labels = node["metadata"]["labels"]
        assert labels["node.kubernetes.io/instance-type"] == "standard.medium"
        assert labels["topology.kubernetes.io/zone"] == ZONE
        assert labels["topology.kubernetes.io/region"] == ZONE
        external |= {a["address"] for a in node["status"]["addresses"] if a["type"] == "ExternalIP"}
    assert external == statuses

    secret = simulator.env(ZONE)["EXOSCALE_API_SECRET"]
    assert secret not in process.metrics()
    assert secret not in process.log_path.read_text()

    with clean_cluster.http() as client:
        client.delete(SERVICES.path(NAMESPACE, "website"))
    wait_for(lambda: _service(clean_cluster) is None, what="the Service to be gone")
    assert simulator.load_balancers(ZONE) == []
