"""Tests on the fuller control plane: controller manager, scheduler and KWOK's kubelets.

The plane is shared by the session and Nodes are cluster-scoped, so every test registers Nodes of
its own through ``kwok_nodes`` (removed afterwards) and works in its own namespace.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exoccm.kube.resources import NAMESPACES, NODES
from exoccm.testing import kwok
from exoccm.testing.fullplane import FullControlPlane
from exoccm.testing.nodes import create_node, delete_node
from tests.e2e.conftest import wait_for

Obj = dict[str, Any]
PODS = "/api/v1/namespaces/{namespace}/pods"
ENDPOINT_SLICES = "/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"


def create_namespace(plane: FullControlPlane) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    plane.apply(NAMESPACES.path(), {"metadata": {"name": name}})
    return name


def delete_namespace(plane: FullControlPlane, name: str, timeout: float = 120.0) -> None:
    """Delete the namespace and wait until the namespace controller has emptied and removed it.

    Its Pods go at once (the namespace, terminating, accepts no new ones): a Pod on a Node that
    is already gone would otherwise wait for the pod garbage collector, a minute or more."""
    with plane.http() as client:
        client.delete(NAMESPACES.path(name=name))
        client.delete(PODS.format(namespace=name), params={"gracePeriodSeconds": 0})

    def gone() -> bool:
        with plane.http() as client:
            return client.get(NAMESPACES.path(name=name)).status_code == 404

    wait_for(gone, timeout=timeout, what=f"namespace {name} to be deleted")


@pytest.fixture
def full_namespace(full_control_plane: FullControlPlane) -> Iterator[str]:
    name = create_namespace(full_control_plane)
    yield name
    delete_namespace(full_control_plane, name)


NodeFactory = Callable[..., Obj]


@pytest.fixture
def kwok_nodes(full_control_plane: FullControlPlane) -> Iterator[NodeFactory]:
    """Register Nodes in KWOK's care: ``kwok_nodes(name, **node_manifest arguments)``."""
    names: list[str] = []

    def register(name: str, **kwargs: Any) -> Obj:
        names.append(name)
        return create_node(full_control_plane, kwok.node_manifest(name, **kwargs))

    yield register
    for name in names:
        delete_node(full_control_plane, name)


def get(plane: FullControlPlane, path: str) -> Obj | None:
    with plane.http() as client:
        response = client.get(path)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    result: Obj = response.json()
    return result


def node(plane: FullControlPlane, name: str) -> Obj | None:
    return get(plane, NODES.path(name=name))


def condition(obj: Obj, kind: str) -> Obj | None:
    for item in obj.get("status", {}).get("conditions") or []:
        if item["type"] == kind:
            result: Obj = item
            return result
    return None


def is_ready(obj: Obj | None) -> bool:
    found = condition(obj or {}, "Ready")
    return found is not None and found["status"] == "True"


def taint_keys(obj: Obj) -> set[str]:
    return {t["key"] for t in obj["spec"].get("taints") or []}


def running_pods(plane: FullControlPlane, namespace: str, selector: str) -> list[Obj]:
    listing = get(plane, f"{PODS.format(namespace=namespace)}?labelSelector={selector}") or {}
    return [
        pod
        for pod in listing.get("items", [])
        if pod["status"].get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")
    ]


def last_heartbeat(plane: FullControlPlane, name: str) -> str | None:
    """When KWOK last reported the Node's Ready condition."""
    ready = condition(node(plane, name) or {}, "Ready")
    return None if ready is None else str(ready["lastHeartbeatTime"])


def wait_for_status_report(plane: FullControlPlane, name: str, since: str | None) -> None:
    """Until KWOK reports the Node's status after ``since`` (every 10-15 s)."""
    wait_for(
        lambda: last_heartbeat(plane, name) not in (since, None),
        timeout=45,
        what=f"KWOK's next status report for {name}",
    )
