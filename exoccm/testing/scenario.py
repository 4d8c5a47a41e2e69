"""The seed story: the website of hello-corp behind an Exoscale NLB in de-muc-1.

Shared by the end-to-end test that proves it and by ``exoccm demo`` that shows it: two Nodes on
the instances of one Instance Pool, a ``website`` Deployment (3 replicas, port 80) and a
``website`` Service of type LoadBalancer with the zone annotation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exoccm.kube.resources import DEPLOYMENTS, NAMESPACES, SERVICES
from exoccm.testing.controlplane import ControlPlane, ControlPlaneError
from exoccm.testing.nodes import create_node, node_manifest
from exoccm.testing.simprocess import SimProcess

NAMESPACE = "hello-corp"
ZONE = "de-muc-1"
ZONE_ANNOTATION = "service.beta.kubernetes.io/exoscale-loadbalancer-zone"


@dataclass(frozen=True)
class SeedStory:
    pool: dict[str, Any]
    instances: list[dict[str, Any]]
    nodes: list[dict[str, Any]]
    service: dict[str, Any]


def _create_ignoring_conflict(plane: ControlPlane, path: str, obj: dict[str, Any]) -> None:
    with plane.http() as client:
        response = client.post(path, json=obj)
        if response.status_code not in (201, 409):
            raise ControlPlaneError(f"POST {path}: {response.status_code} {response.text}")


def website_deployment() -> dict[str, Any]:
    labels = {"app": "website"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "website", "labels": labels},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "website",
                            "image": "hello-corp/website:latest",
                            "ports": [{"containerPort": 80}],
                        }
                    ]
                },
            },
        },
    }


def website_service(zone: str = ZONE) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "website", "annotations": {ZONE_ANNOTATION: zone}},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "website"},
            "ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}],
        },
    }


def seed_cloud(
    sim: SimProcess, zone: str = ZONE, nodes: int = 2
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    pool = sim.call("add_instance_pool", zone=zone, name="website-nodes")
    instances = [
        sim.call("add_instance", zone=zone, name=f"pool-website-{i}", pool_id=pool["id"])
        for i in range(1, nodes + 1)
    ]
    return pool, instances


def register_nodes(
    plane: ControlPlane, instances: list[dict[str, Any]], *, uninitialized: bool = True
) -> list[dict[str, Any]]:
    """Nodes as kubelets with ``--cloud-provider=external`` register them."""
    return [
        create_node(
            plane,
            node_manifest(
                instance["name"],
                system_uuid=instance["id"],
                addresses=[("InternalIP", instance["public-ip"]), ("Hostname", instance["name"])],
                uninitialized=uninitialized,
            ),
        )
        for instance in instances
    ]


def replay(
    plane: ControlPlane,
    sim: SimProcess,
    *,
    namespace: str = NAMESPACE,
    zone: str = ZONE,
    uninitialized_nodes: bool = True,
) -> SeedStory:
    """Seed the cloud, register the Nodes, deploy the website and create its Service."""
    pool, instances = seed_cloud(sim, zone)
    nodes = register_nodes(plane, instances, uninitialized=uninitialized_nodes)
    _create_ignoring_conflict(plane, NAMESPACES.path(), {"metadata": {"name": namespace}})
    _create_ignoring_conflict(plane, DEPLOYMENTS.path(namespace), website_deployment())
    service = plane.apply(SERVICES.path(namespace), website_service(zone))
    return SeedStory(pool=pool, instances=instances, nodes=nodes, service=service)
