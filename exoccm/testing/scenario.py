"""The seed story: the website of hello-corp behind an Exoscale NLB in de-muc-1.

Shared by the end-to-end tests that prove it and by ``exoccm demo`` that shows it: two Nodes on
the instances of one Instance Pool, a ``website`` Deployment (3 replicas of
``hello-corp/website:latest``, port 80) and a ``website`` Service of type LoadBalancer with the
zone annotation. On the fuller control plane the Nodes are in KWOK's care, so the Deployment's
Pods run on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exoccm.kube.resources import DEPLOYMENTS, NAMESPACES, SERVICES
from exoccm.testing import kwok, nodes
from exoccm.testing.cluster_state import website_container
from exoccm.testing.controlplane import ControlPlane, ControlPlaneError
from exoccm.testing.fullplane import FullControlPlane
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


def website_deployment(
    name: str = "website", *, replicas: int = 3, node: str | None = None
) -> dict[str, Any]:
    """The website Deployment; its Pods are labelled ``app: <name>``, and with ``node`` they
    may run only there (by its ``kubernetes.io/hostname`` label)."""
    labels = {"app": name}
    pod_spec: dict[str, Any] = {"containers": [website_container()]}
    if node is not None:
        pod_spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def website_service(zone: str = ZONE, name: str = "website", **spec: Any) -> dict[str, Any]:
    """The LoadBalancer Service in front of the Pods labelled ``app: <name>``, port 80, with the
    zone annotation; ``spec`` adds to its spec (``externalTrafficPolicy="Local"``...)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": {ZONE_ANNOTATION: zone}},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}],
            **spec,
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
    """Nodes as kubelets with ``--cloud-provider=external`` register them (in KWOK's care on the
    fuller control plane)."""
    manifest = kwok.node_manifest if isinstance(plane, FullControlPlane) else nodes.node_manifest
    return [
        nodes.create_node(
            plane,
            manifest(
                instance["name"],
                system_uuid=instance["id"],
                addresses=[("InternalIP", instance["public-ip"]), ("Hostname", instance["name"])],
                uninitialized=uninitialized,
            ),
        )
        for instance in instances
    ]


def deploy_website(
    plane: ControlPlane, *, namespace: str = NAMESPACE, zone: str = ZONE
) -> dict[str, Any]:
    """The namespace, the website Deployment and its LoadBalancer Service; the Service."""
    _create_ignoring_conflict(plane, NAMESPACES.path(), {"metadata": {"name": namespace}})
    _create_ignoring_conflict(plane, DEPLOYMENTS.path(namespace), website_deployment())
    return plane.apply(SERVICES.path(namespace), website_service(zone))


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
    service = deploy_website(plane, namespace=namespace, zone=zone)
    return SeedStory(pool=pool, instances=instances, nodes=nodes, service=service)
