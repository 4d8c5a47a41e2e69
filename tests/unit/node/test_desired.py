"""What a Node should carry from its instance or override, and reading Nodes."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from exoccm.config.cloudconfig import InstanceOverride, InstancesConfig, NodeAddress
from exoccm.controllers.node.desired import (
    addresses_differ,
    external_desired,
    instance_desired,
    label_changes,
    needs_instance_type,
    override_of,
    unmatched_provided_ips,
)
from exoccm.controllers.node.metadata import PROVIDED_NODE_IP
from exoccm.controllers.node.state import (
    SHUTDOWN_TAINT,
    UNINITIALIZED_TAINT,
    has_taint,
    is_ready,
    is_uninitialized,
    is_uuid,
    provided_node_ips,
    without_taint,
)
from exoccm.exoscale.models import Instance

ID = "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"
INSTANCE = Instance.model_validate({"id": ID, "name": "pool-abc12", "public-ip": "203.0.113.10"})


def node(name: str = "n1", **parts: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": parts.get("labels", {}),
            "annotations": parts.get("annotations", {}),
        },
        "spec": {k: parts[k] for k in ("providerID", "taints") if k in parts},
        "status": {
            "addresses": [{"type": t, "address": a} for t, a in parts.get("addresses", [])],
            "conditions": parts.get("conditions", []),
        },
    }


def test_override_lookup_exact_then_regex_then_external_id() -> None:
    exact = InstanceOverride(name="edge-1", external=True)
    regex = InstanceOverride(name="/^edge-/", external=True, type="t")
    by_id = InstanceOverride(name="renamed", external=True, external_id="box-7")
    config = InstancesConfig(overrides=(regex, exact, by_id))
    assert override_of(node("edge-1"), config) is exact
    assert override_of(node("edge-2"), config) is regex
    assert override_of(node("other", providerID="exoscale://box-7"), config) is by_id
    assert override_of(node("other"), config) is None


def test_external_override_with_everything() -> None:
    override = InstanceOverride(
        name="edge-1",
        external=True,
        external_id="box-7",
        type="bare-metal",
        region="on-prem",
        addresses=(NodeAddress(type="InternalIP", address="10.0.0.5"),),
    )
    desired = external_desired(node("edge-1", addresses=[("Hostname", "h1")]), override)
    assert desired.provider_id == "exoscale://box-7"
    assert desired.labels["node.kubernetes.io/instance-type"] == "bare-metal"
    assert desired.labels["topology.kubernetes.io/zone"] == "on-prem"
    assert desired.labels["topology.kubernetes.io/region"] == "on-prem"
    assert desired.addresses == (("InternalIP", "10.0.0.5"), ("Hostname", "h1"))


def test_external_override_defaults() -> None:
    desired = external_desired(node("edge-9"), InstanceOverride(name="/edge/", external=True))
    digest = hashlib.sha256(b"edge-9").hexdigest()
    assert desired.provider_id == f"exoscale://external-{digest}"
    assert desired.labels["node.kubernetes.io/instance-type"] == "external"
    assert desired.labels["topology.kubernetes.io/region"] == "external"
    assert desired.addresses is None  # the kubelet's stay
    assert not addresses_differ(node("edge-9"), desired.addresses)


def test_instance_with_and_without_non_external_override() -> None:
    plain = instance_desired(node(), INSTANCE, "ch-gva-2", None, "standard.medium")
    assert plain.provider_id == f"exoscale://{ID}"
    assert plain.labels["node.kubernetes.io/instance-type"] == "standard.medium"
    assert plain.labels["topology.kubernetes.io/zone"] == "ch-gva-2"
    assert plain.addresses == (
        ("Hostname", "pool-abc12"),
        ("ExternalIP", "203.0.113.10"),
        ("InternalIP", "203.0.113.10"),
    )
    override = InstanceOverride(
        name="n1",
        type="big.box",
        region="r1",
        addresses=(NodeAddress(type="Hostname", address="n1.example"),),
    )
    assert not needs_instance_type(override)
    tuned = instance_desired(node(), INSTANCE, "ch-gva-2", override, None)
    assert tuned.provider_id == f"exoscale://{ID}"
    assert tuned.labels["node.kubernetes.io/instance-type"] == "big.box"
    assert tuned.labels["topology.kubernetes.io/region"] == "r1"
    assert tuned.addresses == (("Hostname", "n1.example"),)
    with pytest.raises(ValueError, match="instance type"):
        instance_desired(node(), INSTANCE, "ch-gva-2", None, None)


def test_label_changes_and_unmatched_node_ip() -> None:
    current = node(labels={"a": "1", "b": "2"}, annotations={PROVIDED_NODE_IP: "10.0.0.1"})
    assert label_changes(current, {"a": "1", "b": "3", "c": "4"}) == {"b": "3", "c": "4"}
    desired = instance_desired(current, INSTANCE, "z", None, "t")
    assert unmatched_provided_ips(current, desired.addresses) == ["10.0.0.1"]
    assert provided_node_ips(node(annotations={PROVIDED_NODE_IP: " 10.0.0.1 , fd00::1"})) == [
        "10.0.0.1",
        "fd00::1",
    ]


def test_node_state_helpers() -> None:
    taints = [{"key": UNINITIALIZED_TAINT, "effect": "NoSchedule"}, {"key": "x", "effect": "E"}]
    tainted = node(taints=taints)
    assert is_uninitialized(tainted)
    assert not has_taint(tainted, SHUTDOWN_TAINT)
    assert without_taint(taints, UNINITIALIZED_TAINT) == [{"key": "x", "effect": "E"}]
    assert is_ready(node(conditions=[{"type": "Ready", "status": "True"}]))
    assert not is_ready(node(conditions=[{"type": "Ready", "status": "Unknown"}]))
    assert not is_ready(node())
    assert is_uuid(ID)
    for bad in ("edge-1", ID.upper(), f"{ID}/x", "", "external-abc"):
        assert not is_uuid(bad), bad
