"""Deployments become ReplicaSets and Pods, the scheduler binds them to KWOK's Nodes, KWOK runs
them with loopback Pod IPs, and EndpointSlices list them: the seed story's website, for real."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from exoccm.kube.objects import Obj
from exoccm.kube.resources import DEPLOYMENTS, SERVICES
from exoccm.testing import kwok
from exoccm.testing.fullplane import FullControlPlane
from exoccm.testing.nodes import create_node, delete_node
from exoccm.testing.scenario import website_deployment, website_service
from tests.e2e.conftest import wait_for
from tests.integration.fullplane.conftest import (
    ENDPOINT_SLICES,
    PODS,
    create_namespace,
    get,
    is_ready,
    node,
    running_pods,
)

IMAGE = "hello-corp/website:latest"


@dataclass(frozen=True)
class Website:
    namespace: str
    nodes: dict[str, str]  # name -> InternalIP
    pods: list[Obj]


@pytest.fixture(scope="module")
def website(full_control_plane: FullControlPlane) -> Iterator[Website]:
    """Two KWOK Nodes, the website Deployment (3 replicas) and its Service, 3 Pods Running."""
    plane = full_control_plane
    suffix = uuid.uuid4().hex[:6]
    nodes = {f"web-{suffix}-{i}": f"192.0.2.{i}" for i in (1, 2)}
    for name, ip in nodes.items():
        create_node(plane, kwok.node_manifest(name, addresses=[("InternalIP", ip)]))
    namespace = create_namespace(plane)
    try:
        plane.apply(DEPLOYMENTS.path(namespace), website_deployment())
        plane.apply(SERVICES.path(namespace), website_service())

        def three_running() -> list[Obj] | None:
            pods = running_pods(plane, namespace, "app=website")
            return pods if len(pods) == 3 else None

        pods = wait_for(three_running, timeout=120, what="3 website Pods Running")
        yield Website(namespace, nodes, pods)
    finally:
        plane.delete_namespace(namespace)
        for name in nodes:
            delete_node(plane, name)


def test_deployment_makes_three_running_pods_with_distinct_pod_ips_carried_on_loopback(
    full_control_plane: FullControlPlane, website: Website
) -> None:
    network = full_control_plane.pod_network
    ips = [pod["status"]["podIP"] for pod in website.pods]
    assert len(set(ips)) == 3
    carriers = {network.loopback_address(ip) for ip in ips}
    assert len(carriers) == 3
    assert all(ipaddress.ip_address(address).is_loopback for address in carriers)
    for pod in website.pods:
        ip = ipaddress.ip_address(pod["status"]["podIP"])
        assert ip in network.cidr
        assert pod["status"]["podIPs"] == [{"ip": str(ip)}]
        assert pod["spec"]["nodeName"] in website.nodes
        assert pod["status"]["hostIP"] == website.nodes[pod["spec"]["nodeName"]]
        (container,) = pod["status"]["containerStatuses"]
        assert container["image"] == IMAGE
        assert container["ready"] is True
        assert "running" in container["state"]
        assert is_ready(pod)
        (owner,) = pod["metadata"]["ownerReferences"]
        assert owner["kind"] == "ReplicaSet"
        replica_set = get(
            full_control_plane,
            f"/apis/apps/v1/namespaces/{website.namespace}/replicasets/{owner['name']}",
        )
        assert replica_set is not None
        assert replica_set["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
        assert replica_set["metadata"]["ownerReferences"][0]["name"] == "website"

    def available() -> bool:
        deployment = get(full_control_plane, DEPLOYMENTS.path(website.namespace, "website"))
        return deployment is not None and deployment["status"].get("availableReplicas") == 3

    wait_for(available, what="the Deployment to report 3 available replicas")


def test_endpoint_slice_lists_the_pods_ready(
    full_control_plane: FullControlPlane, website: Website
) -> None:
    path = ENDPOINT_SLICES.format(namespace=website.namespace)
    expected = {pod["status"]["podIP"]: pod["metadata"]["name"] for pod in website.pods}

    def listed() -> list[Obj] | None:
        slices = get(full_control_plane, f"{path}?labelSelector=kubernetes.io/service-name=website")
        endpoints = [e for s in (slices or {}).get("items", []) for e in s.get("endpoints") or []]
        addresses = {a for e in endpoints for a in e["addresses"]}
        return endpoints if addresses == set(expected) else None

    endpoints = wait_for(listed, what="the EndpointSlice to list the 3 Pods")
    for endpoint in endpoints:
        (address,) = endpoint["addresses"]
        assert endpoint["conditions"]["ready"] is True
        assert endpoint["targetRef"]["kind"] == "Pod"
        assert endpoint["targetRef"]["name"] == expected[address]
        assert endpoint["nodeName"] in website.nodes
    (service_slice,) = get(
        full_control_plane, f"{path}?labelSelector=kubernetes.io/service-name=website"
    )["items"]  # type: ignore[index]
    assert service_slice["addressType"] == "IPv4"
    assert service_slice["ports"] == [{"name": "http", "port": 80, "protocol": "TCP"}]


def test_kubectl_get_pods_with_the_test_kubeconfig(
    full_control_plane: FullControlPlane, website: Website
) -> None:
    assert full_control_plane.assets.kubectl.is_file()
    output = full_control_plane.kubectl("--namespace", website.namespace, "get", "pods").stdout
    header, *rows = output.strip().splitlines()
    assert header.split()[:3] == ["NAME", "READY", "STATUS"]
    names = {pod["metadata"]["name"] for pod in website.pods}
    assert {row.split()[0] for row in rows} == names
    assert all(row.split()[1:3] == ["1/1", "Running"] for row in rows)


def test_scaling_down_and_deleting_finish(
    full_control_plane: FullControlPlane, website: Website
) -> None:
    """KWOK confirms graceful deletions (the kubelet's part) and the garbage collector removes a
    deleted Deployment's ReplicaSet and Pods."""
    plane = full_control_plane
    deployment = website_deployment("shrinking", replicas=2)
    plane.apply(DEPLOYMENTS.path(website.namespace), deployment)
    wait_for(
        lambda: len(running_pods(plane, website.namespace, "app=shrinking")) == 2,
        timeout=120,
        what="2 Pods Running",
    )

    def all_pods() -> list[Obj]:
        path = PODS.format(namespace=website.namespace)
        items: list[Obj] = (get(plane, f"{path}?labelSelector=app=shrinking") or {}).get(
            "items", []
        )
        return items

    with plane.http() as client:
        client.patch(
            DEPLOYMENTS.path(website.namespace, "shrinking"),
            json={"spec": {"replicas": 1}},
            headers={"Content-Type": "application/merge-patch+json"},
        ).raise_for_status()
    wait_for(lambda: len(all_pods()) == 1, timeout=90, what="the surplus Pod to be gone")

    with plane.http() as client:
        client.delete(DEPLOYMENTS.path(website.namespace, "shrinking")).raise_for_status()
    wait_for(lambda: not all_pods(), timeout=90, what="the deleted Deployment's Pods to be gone")
    replica_sets = get(
        plane,
        f"/apis/apps/v1/namespaces/{website.namespace}/replicasets?labelSelector=app=shrinking",
    )
    assert replica_sets is not None
    assert replica_sets["items"] == []
    # The website's own Pods are untouched.
    assert len(running_pods(plane, website.namespace, "app=website")) == 3
    for name in website.nodes:
        assert is_ready(node(plane, name))
