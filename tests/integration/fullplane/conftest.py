"""Tests on the fuller control plane: controller manager, scheduler and KWOK's kubelets.

The plane is shared by the session and Nodes are cluster-scoped, so every test registers Nodes of
its own through ``kwok_nodes`` (removed afterwards) and works in its own namespace.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exoccm.kube.objects import Obj
from exoccm.kube.resources import NAMESPACES, NODES
from exoccm.testing import kwok
from exoccm.testing.fullplane import FullControlPlane
from exoccm.testing.nodes import create_node, delete_node
from exoccm.testing.objects import condition, get, is_ready, running_pods, taint_keys
from tests.e2e.conftest import wait_for

__all__ = ["condition", "get", "is_ready", "running_pods", "taint_keys"]

PODS = "/api/v1/namespaces/{namespace}/pods"
ENDPOINT_SLICES = "/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"


def create_namespace(plane: FullControlPlane) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    plane.apply(NAMESPACES.path(), {"metadata": {"name": name}})
    return name


@pytest.fixture
def full_namespace(full_control_plane: FullControlPlane) -> Iterator[str]:
    name = create_namespace(full_control_plane)
    yield name
    full_control_plane.delete_namespace(name)


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


def node(plane: FullControlPlane, name: str) -> Obj | None:
    return get(plane, NODES.path(name=name))


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
