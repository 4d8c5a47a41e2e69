"""The Go CCM provider's address lists (before the upstream node controller and the apiserver
order them: see test_addresses) and the label rules."""

from __future__ import annotations

from exoccm.controllers.node.metadata import (
    PROVIDED_NODE_IP,
    external_provider_id,
    instance_addresses,
    instance_id_from_provider_id,
    label_value,
    provider_id,
    topology_labels,
)
from exoccm.exoscale.models import Instance, PrivateNetworkAttachment

ID = "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"
PRIVATE = (PrivateNetworkAttachment(id="0b5c6c5e-7d0a-4f43-9d8e-2a2f0c6f8a11"),)


def _instance(**kw: object) -> Instance:
    return Instance.model_validate({"id": ID, "name": "pool-abc12", **kw})


def test_ipv4_only() -> None:
    assert instance_addresses(_instance(**{"public-ip": "203.0.113.10"}), {}) == (
        ("Hostname", "pool-abc12"),
        ("ExternalIP", "203.0.113.10"),
        ("InternalIP", "203.0.113.10"),
    )


def test_dual_stack() -> None:
    inst = _instance(**{"public-ip": "203.0.113.10", "ipv6-address": "2001:db8::1"})
    assert instance_addresses(inst, {}) == (
        ("Hostname", "pool-abc12"),
        ("ExternalIP", "203.0.113.10"),
        ("InternalIP", "203.0.113.10"),
        ("ExternalIP", "2001:db8::1"),
        ("InternalIP", "2001:db8::1"),
    )


def test_private_network_with_provided_ip() -> None:
    inst = _instance(**{"public-ip": "203.0.113.10"}).model_copy(
        update={"private_networks": PRIVATE}
    )
    assert instance_addresses(inst, {PROVIDED_NODE_IP: "10.0.0.1"}) == (
        ("Hostname", "pool-abc12"),
        ("InternalIP", "10.0.0.1"),
        ("ExternalIP", "203.0.113.10"),
    )


def test_private_only() -> None:
    inst = _instance().model_copy(update={"private_networks": PRIVATE})
    assert instance_addresses(inst, {PROVIDED_NODE_IP: "10.0.0.1"}) == (
        ("Hostname", "pool-abc12"),
        ("InternalIP", "10.0.0.1"),
    )


def test_provided_ip_ignored_without_private_network() -> None:
    inst = _instance(**{"public-ip": "203.0.113.10"})
    assert ("InternalIP", "10.0.0.1") not in instance_addresses(
        inst, {PROVIDED_NODE_IP: "10.0.0.1"}
    )


def test_labels_and_provider_id() -> None:
    labels = topology_labels("standard.medium", "ch-gva-2")
    assert provider_id(ID) == f"exoscale://{ID}"
    assert labels["node.kubernetes.io/instance-type"] == "standard.medium"
    assert labels["topology.kubernetes.io/zone"] == "ch-gva-2"
    assert labels["topology.kubernetes.io/region"] == "ch-gva-2"
    assert labels["failure-domain.beta.kubernetes.io/zone"] == "ch-gva-2"


def test_provider_ids() -> None:
    assert instance_id_from_provider_id(provider_id(ID)) == ID
    assert instance_id_from_provider_id("aws:///i-123") is None
    assert instance_id_from_provider_id(None) is None
    assert instance_id_from_provider_id(external_provider_id("edge-1", None)) is None
    assert external_provider_id("edge-1", "box-7") == "exoscale://box-7"
    # Unlike the Go CCM, two nodes matched by one regex override get distinct providerIDs.
    assert external_provider_id("edge-1", None) != external_provider_id("edge-2", None)


def test_label_value_strips_invalid_characters() -> None:
    assert label_value("gpu3080ti.huge") == "gpu3080ti.huge"
    assert label_value("weird type/©") == "weirdtype"
    assert len(label_value("x" * 100)) == 63
