"""The kube-proxy and website stand-ins against the real apiserver: Nodes, a Service, Pods and
an EndpointSlice made by hand, traffic on the Nodes' NodePorts."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager as ContextManager
from typing import Any

import httpx
import pytest

from exoccm.kube.resources import NODES, SERVICES
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.loopback import LoopbackBlocks, random_blocks
from exoccm.testing.nodes import create_node, node_manifest
from exoccm.testing.pods import RunningPod, create_running_pod, delete_pod, publish_endpoints
from exoccm.testing.traffic import TrafficControl, cluster_traffic

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


class Cluster:
    """Two Nodes, the website Service and its Pods in one namespace."""

    def __init__(self, plane: ControlPlane, namespace: str, blocks: LoopbackBlocks) -> None:
        self.plane, self.namespace, self.blocks = plane, namespace, blocks
        suffix = uuid.uuid4().hex[:6]
        self.nodes = {f"a-{suffix}": blocks.instance_ip(0), f"b-{suffix}": blocks.instance_ip(1)}
        for name, ip in self.nodes.items():
            create_node(plane, node_manifest(name, addresses=[("InternalIP", ip)]))
        self.service = plane.apply(
            SERVICES.path(namespace),
            {
                "metadata": {"name": "website"},
                "spec": {
                    "type": "LoadBalancer",
                    "selector": {"app": "website"},
                    "ports": [{"name": "http", "port": 80, "targetPort": 80}],
                },
            },
        )
        self.pods: list[RunningPod] = []

    @property
    def node_port(self) -> int:
        return int(self.service["spec"]["ports"][0]["nodePort"])

    def node(self, index: int) -> tuple[str, str]:
        name = sorted(self.nodes)[index]
        return name, self.nodes[name]

    def run_pods(self, *on_nodes: int) -> list[RunningPod]:
        for node_index in on_nodes:
            self.pods.append(
                create_running_pod(
                    self.plane,
                    self.namespace,
                    f"website-{len(self.pods)}",
                    node=self.node(node_index)[0],
                    ip=self.blocks.pod_ip(len(self.pods)),
                    labels={"app": "website"},
                )
            )
        publish_endpoints(self.plane, self.namespace, "website", self.pods)
        return self.pods

    def local_traffic_policy(self) -> int:
        """Switch to ``externalTrafficPolicy: Local``; the healthCheckNodePort allocated."""
        with self.plane.http() as client:
            response = client.patch(
                SERVICES.path(self.namespace, "website"),
                json={"spec": {"externalTrafficPolicy": "Local"}},
                headers=MERGE_PATCH,
            )
        response.raise_for_status()
        self.service = response.json()
        return int(self.service["spec"]["healthCheckNodePort"])

    def traffic(self, **options: Any) -> ContextManager[TrafficControl]:
        return cluster_traffic(
            self.plane.kubeconfig,
            namespaces={self.namespace},
            pod_network=self.blocks.pods,
            **options,
        )

    def twin(self, pod: RunningPod) -> str:
        """Where the stand-in serves ``pod`` (the loopback address carrying its IP)."""
        return self.blocks.pods.loopback_address(pod.ip)

    def remove_nodes(self) -> None:
        with self.plane.http() as client:
            for name in self.nodes:
                client.delete(NODES.path(name=name))


@pytest.fixture
def cluster(control_plane: ControlPlane, namespace: str) -> Iterator[Cluster]:
    made = Cluster(control_plane, namespace, random_blocks())
    try:
        yield made
    finally:
        made.remove_nodes()


def get(ip: str, port: int, path: str = "/") -> httpx.Response:
    return httpx.get(f"http://{ip}:{port}{path}", timeout=10)


def counted(traffic: TrafficControl, node: str, expected: int) -> None:
    """Until Node ``node``'s proxy has counted ``expected`` connections (a connection is
    counted when it ends, a moment after the client has its answer)."""
    deadline = time.monotonic() + 10
    while traffic.connections(node) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert traffic.connections(node) == expected


def refused(ip: str, port: int) -> bool:
    try:
        get(ip, port)
    except httpx.ConnectError:
        return True
    return False


def test_node_ports_forward_to_the_website_pods_in_turn(cluster: Cluster) -> None:
    pods = cluster.run_pods(0, 0, 1)
    (node_a, ip_a), (node_b, ip_b) = cluster.node(0), cluster.node(1)
    with cluster.traffic() as traffic:
        served: Counter[str] = Counter()
        for _ in range(6):
            answer = get(ip_a, cluster.node_port)
            assert answer.status_code == 200
            assert answer.text == "Welcome to Hello Corp\n"
            served[answer.headers["X-Served-By"]] += 1
        # Cluster policy: Node a forwards to every Pod, those on Node b too, in turn.
        assert served == {f"{p.ip}:80@{p.name}": 2 for p in pods}
        counted(traffic, node_a, 6)
        assert traffic.connections(node_b) == 0
        head = httpx.head(f"http://{ip_b}:{cluster.node_port}/", timeout=10)
        assert (head.status_code, head.content) == (200, b"")
        counted(traffic, node_b, 1)

        traffic.stop_proxy(node_a)
        assert refused(ip_a, cluster.node_port)
        assert get(ip_b, cluster.node_port).status_code == 200
        traffic.start_proxy(node_a)
        assert get(ip_a, cluster.node_port).status_code == 200

        delete_pod(cluster.plane, pods[0])
        publish_endpoints(cluster.plane, cluster.namespace, "website", pods[1:])
        traffic.sync()
        assert refused(cluster.twin(pods[0]), 80)
        left = {get(ip_a, cluster.node_port).headers["X-Served-By"] for _ in range(4)}
        assert left == {f"{p.ip}:80@{p.name}" for p in pods[1:]}
    # Everything is closed once the stand-ins stop.
    assert refused(ip_b, cluster.node_port)
    assert refused(cluster.twin(pods[1]), 80)


def test_local_policy_serves_local_pods_and_answers_health_checks(cluster: Cluster) -> None:
    pods = cluster.run_pods(0, 0)  # both on Node a
    (_, ip_a), (node_b, ip_b) = cluster.node(0), cluster.node(1)
    health_port = cluster.local_traffic_policy()
    with cluster.traffic() as traffic:
        healthy = get(ip_a, health_port, "/healthz")
        assert healthy.status_code == 200
        assert healthy.headers["Content-Type"] == "application/json"
        assert healthy.json() == {
            "service": {"namespace": cluster.namespace, "name": "website"},
            "localEndpoints": 2,
            "serviceProxyHealthy": True,
        }
        unhealthy = get(ip_b, health_port, "/anything")
        assert unhealthy.status_code == 503
        assert unhealthy.json()["localEndpoints"] == 0
        assert traffic.health_requests(node_b) == 1

        assert {get(ip_a, cluster.node_port).headers["X-Served-By"] for _ in range(4)} == {
            f"{p.ip}:80@{p.name}" for p in pods
        }
        with pytest.raises(httpx.RemoteProtocolError):  # accepted, then dropped: no local Pod
            get(ip_b, cluster.node_port)
        assert traffic.connections(node_b) == 0

        cluster.run_pods(1)  # now Node b has one
        traffic.sync()
        assert get(ip_b, health_port).json()["localEndpoints"] == 1
        assert get(ip_b, cluster.node_port).status_code == 200


def test_without_low_ports_a_pod_listens_higher_and_traffic_still_reaches_it(
    cluster: Cluster,
) -> None:
    [pod] = cluster.run_pods(1)
    _, ip_b = cluster.node(1)
    twin = cluster.twin(pod)
    with cluster.traffic(low_ports=False) as traffic:
        assert refused(twin, 80)
        assert get(twin, 10080).headers["X-Served-By"] == f"{pod.ip}:80@{pod.name}"
        answer = get(ip_b, cluster.node_port)
        assert answer.headers["X-Served-By"] == f"{pod.ip}:80@{pod.name}"
        assert traffic.requests() == {f"{pod.ip}:80@{pod.name}": 2}
