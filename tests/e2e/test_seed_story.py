"""The story that started exoccm, to the last request, as ``exoccm demo`` plays it.

On the fuller control plane: the ``website`` Deployment of hello-corp (3 replicas of
``hello-corp/website:latest``) and its LoadBalancer Service in zone de-muc-1; two Nodes in KWOK's
care on the instances of one Instance Pool, registered uninitialized; exoccm as a process; the
simulator with its data plane; the kube-proxy and website stand-ins. Then every request through
the NLB reaches a website Pod.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exoccm.testing import objects
from exoccm.testing.fullplane import FullControlPlane
from exoccm.testing.scenario import NAMESPACE, ZONE
from exoccm.testing.seedworld import ID_ANNOTATION, REPLICAS, SeedWorld
from tests.e2e.conftest import wait_for
from tests.e2e.service_helpers import DEFAULT_HEALTHCHECK, FINALIZER
from tests.e2e.traffic_helpers import check_traffic, served_by, story_world


@pytest.fixture
def world(
    full_control_plane: FullControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SeedWorld]:
    with story_world(full_control_plane, tmp_path_factory.mktemp("seed"), NAMESPACE) as world:
        yield world


def test_seed_story_with_traffic(world: SeedWorld) -> None:
    story = world.seeded
    uid = story.service["metadata"]["uid"]

    # exoccm initialized KWOK's Nodes from their instances.
    nodes = world.nodes()
    assert [n["metadata"]["name"] for n in nodes] == world.node_names
    for node, instance in zip(nodes, story.instances, strict=True):
        assert node["spec"]["providerID"] == f"exoscale://{instance['id']}"
        assert objects.is_initialized(node)
        assert objects.is_ready(node)
        labels = node["metadata"]["labels"]
        assert labels["node.kubernetes.io/instance-type"] == "standard.medium"
        assert labels["topology.kubernetes.io/zone"] == ZONE
        assert labels["topology.kubernetes.io/region"] == ZONE
        assert objects.addresses(node, "ExternalIP") == [instance["public-ip"]]

    # The Deployment's Pods run on those Nodes.
    pods = world.pods()
    assert len(pods) == REPLICAS
    assert {pod["spec"]["nodeName"] for pod in pods} <= set(world.node_names)
    for pod in pods:
        (owner,) = pod["metadata"]["ownerReferences"]
        assert owner["kind"] == "ReplicaSet"
        assert owner["name"].startswith("website-")
        assert pod["spec"]["containers"][0]["image"] == "hello-corp/website:latest"

    # The Service's NLB, as the seed story describes it.
    service = world.service()
    assert service is not None
    nlb = world.nlb()
    assert nlb is not None
    assert [lb["id"] for lb in world.sim.load_balancers(ZONE)] == [nlb["id"]]
    assert nlb["name"] == f"k8s-{uid}"
    assert service["status"]["loadBalancer"]["ingress"] == [{"ip": nlb["ip"], "ipMode": "VIP"}]
    assert service["metadata"]["annotations"][ID_ANNOTATION] == nlb["id"]
    assert FINALIZER in service["metadata"]["finalizers"]
    (nlb_service,) = nlb["services"]
    node_port = service["spec"]["ports"][0]["nodePort"]
    assert nlb_service["name"] == f"{uid}-80"
    assert (nlb_service["protocol"], nlb_service["port"]) == ("tcp", 80)
    assert nlb_service["target-port"] == node_port
    assert nlb_service["strategy"] == "round-robin"
    assert nlb_service["instance-pool"]["id"] == story.pool["id"]
    assert nlb_service["healthcheck"] == {**DEFAULT_HEALTHCHECK, "port": node_port}

    # The health checks measured both Nodes healthy, on their ExternalIPs.
    external = {ip for node in nodes for ip in objects.addresses(node, "ExternalIP")}
    assert world.health_statuses() == dict.fromkeys(external, "success")

    # Every request through the NLB reaches a website Pod, through both Nodes.
    served = check_traffic(nlb["ip"], requests=30)
    assert sum(served.values()) == 30
    assert len(served) >= 2, served
    assert set(served) <= {served_by(pod) for pod in pods}
    wait_for(
        lambda: sum(world.traffic.connections(n) for n in world.node_names) == 30,
        timeout=15,
        what="30 connections through the Nodes",
    )
    assert all(world.traffic.connections(node) >= 1 for node in world.node_names)

    # The API secret shows nowhere.
    secret = world.sim.env(ZONE)["EXOSCALE_API_SECRET"]
    assert secret not in world.exoccm.metrics()
    assert secret not in world.exoccm.log_path.read_text()

    # Deleting the Service deletes its NLB.
    with world.plane.http() as client:
        client.delete(f"/api/v1/namespaces/{world.namespace}/services/website")
    wait_for(lambda: world.service() is None, what="the Service to be gone")
    assert world.sim.load_balancers(ZONE) == []
