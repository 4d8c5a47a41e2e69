"""KWOK's kubelets: Nodes in its care become Ready and keep heartbeating, others are left alone,
and what a cloud provider writes on a Node stays."""

from __future__ import annotations

import uuid
from typing import Any

from exoccm.kube.resources import LEASES, NODES
from exoccm.testing import kwok, nodes
from exoccm.testing.fullplane import FullControlPlane
from tests.e2e.conftest import wait_for
from tests.integration.fullplane.conftest import (
    NodeFactory,
    get,
    is_ready,
    last_heartbeat,
    node,
    taint_keys,
    wait_for_status_report,
)

NOT_READY_TAINT = "node.kubernetes.io/not-ready"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _lease(plane: FullControlPlane, name: str) -> dict[str, Any] | None:
    return get(plane, LEASES.path("kube-node-lease", name))


def test_nodes_become_ready_and_keep_heartbeating(
    full_control_plane: FullControlPlane, kwok_nodes: NodeFactory
) -> None:
    plane = full_control_plane
    name = _name("beat")
    kwok_nodes(name, addresses=[("InternalIP", "192.0.2.11")])

    ready = wait_for(lambda: (n := node(plane, name)) and is_ready(n) and n, what="Node Ready")
    assert ready["status"]["allocatable"]["pods"] == "250"
    # The controller manager's node lifecycle controller lifts the taint a new Node gets.
    wait_for(
        lambda: NOT_READY_TAINT not in taint_keys(node(plane, name) or {"spec": {}}),
        what="the not-ready taint to be lifted",
    )

    lease = wait_for(lambda: _lease(plane, name), what="the Node's Lease")
    assert lease["spec"]["holderIdentity"]
    assert lease["spec"]["leaseDurationSeconds"] == kwok.NODE_LEASE_SECONDS
    first_renewal = lease["spec"]["renewTime"]
    wait_for(
        lambda: (_lease(plane, name) or {})["spec"]["renewTime"] != first_renewal,
        timeout=40,
        what="the Lease to be renewed",
    )
    wait_for_status_report(plane, name, last_heartbeat(plane, name))
    assert is_ready(node(plane, name))


def test_nodes_without_the_label_are_left_alone(
    full_control_plane: FullControlPlane, kwok_nodes: NodeFactory
) -> None:
    plane = full_control_plane
    alone = _name("alone")
    manifest = nodes.node_manifest(alone, addresses=[("InternalIP", "192.0.2.12")])
    manifest["status"].pop("conditions")
    nodes.create_node(plane, manifest)
    try:
        # A Node in KWOK's care registered afterwards turning Ready shows KWOK has caught up.
        later = _name("later")
        kwok_nodes(later, addresses=[("InternalIP", "192.0.2.13")])
        wait_for(lambda: is_ready(node(plane, later)), what="the labelled Node Ready")
        wait_for(lambda: _lease(plane, later), what="the labelled Node's Lease")
        untouched = node(plane, alone)
        assert untouched is not None
        assert "conditions" not in untouched["status"]
        assert _lease(plane, alone) is None
    finally:
        nodes.delete_node(plane, alone)


def test_addresses_written_by_the_cloud_provider_stay(
    full_control_plane: FullControlPlane, kwok_nodes: NodeFactory
) -> None:
    plane = full_control_plane
    name = _name("addr")
    kwok_nodes(name, addresses=[("InternalIP", "192.0.2.14"), ("Hostname", name)])
    wait_for(lambda: is_ready(node(plane, name)), what="Node Ready")
    provided = [
        {"type": "InternalIP", "address": "192.0.2.15"},
        {"type": "ExternalIP", "address": "192.0.2.16"},
        {"type": "Hostname", "address": name},
    ]
    with plane.http() as client:
        client.patch(
            NODES.path(name=name, subresource="status"),
            json={"status": {"addresses": provided}},
            headers={"Content-Type": "application/merge-patch+json"},
        ).raise_for_status()
    wait_for_status_report(plane, name, last_heartbeat(plane, name))
    current = node(plane, name)
    assert current is not None
    assert current["status"]["addresses"] == provided
