"""What a Node should carry, from its instance or its cloud-config override. Pure.

The Go CCM's rules (``instances_v2.go``): an ``external`` override replaces the instance entirely
(providerID ``exoscale://<externalID>``, type and region from the override or ``external``,
the override's addresses or else the kubelet's); a non-external override adjusts what the
instance says (its type, addresses and region win). The addresses then go through what the
upstream node controller and the apiserver do with them (:mod:`.addresses`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exoccm.config.cloudconfig import InstanceOverride, InstancesConfig
from exoccm.controllers.node.addresses import node_addresses, same_ip
from exoccm.controllers.node.metadata import (
    EXTERNAL,
    PROVIDER_PREFIX,
    Address,
    external_provider_id,
    instance_addresses,
    provider_id,
    topology_labels,
)
from exoccm.controllers.node.state import (
    addresses_of,
    node_annotations,
    node_labels,
    node_name,
    provided_node_ips,
    provider_id_of,
)
from exoccm.exoscale.models import Instance


@dataclass(frozen=True)
class Desired:
    """What the node controllers write on a Node; ``addresses=None`` keeps the kubelet's."""

    provider_id: str
    labels: Mapping[str, str]
    addresses: tuple[Address, ...] | None


def override_of(node: Mapping[str, Any], config: InstancesConfig) -> InstanceOverride | None:
    """The override of ``node``: by the externalID in its providerID first, then by name.

    (The Go CCM also matches the hashed default providerID; here that hash is of the node's own
    name, so the name lookup finds the same override.)
    """
    current = provider_id_of(node)
    if current.startswith(PROVIDER_PREFIX):
        external_id = current[len(PROVIDER_PREFIX) :]
        for override in config.overrides:
            if override.external and override.external_id == external_id:
                return override
    return config.override_for(node_name(node))


def is_external(override: InstanceOverride | None) -> bool:
    return override is not None and override.external


def needs_instance_type(override: InstanceOverride | None) -> bool:
    """Whether the instance-type label must come from the API (no override type)."""
    return override is None or not override.type


def override_addresses(override: InstanceOverride) -> tuple[Address, ...]:
    return tuple((a.type, a.address) for a in override.addresses)


def node_addresses_from(
    node: Mapping[str, Any], provided: tuple[Address, ...]
) -> tuple[Address, ...]:
    """What ``node`` carries when its provider (instance or override) gives ``provided``."""
    return node_addresses(provided, addresses_of(node), provided_node_ips(node))


def external_desired(node: Mapping[str, Any], override: InstanceOverride) -> Desired:
    """A node outside Exoscale: everything comes from its override."""
    region = override.region or EXTERNAL
    addresses = override_addresses(override)
    return Desired(
        provider_id=external_provider_id(node_name(node), override.external_id),
        labels=topology_labels(override.type or EXTERNAL, region),
        addresses=node_addresses_from(node, addresses) if addresses else None,
    )


def instance_desired(
    node: Mapping[str, Any],
    instance: Instance,
    zone: str,
    override: InstanceOverride | None,
    instance_type: str | None,
) -> Desired:
    """A node on ``instance`` in ``zone``; ``instance_type`` is ``<family>.<size>`` (may be None
    only when the override gives the type)."""
    type_name = override.type if override is not None and override.type else instance_type
    if type_name is None:
        raise ValueError("instance_desired needs the instance type when no override gives one")
    region = override.region if override is not None and override.region else zone
    return Desired(
        provider_id(instance.id),
        topology_labels(type_name, region),
        instance_node_addresses(node, instance, override),
    )


def instance_node_addresses(
    node: Mapping[str, Any], instance: Instance, override: InstanceOverride | None
) -> tuple[Address, ...]:
    """The addresses of a node on ``instance``: the override's if it has some, else the
    instance's by the Go CCM's rules."""
    if override is not None and override.addresses:
        return node_addresses_from(node, override_addresses(override))
    return node_addresses_from(node, instance_addresses(instance, node_annotations(node)))


def label_changes(node: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, str]:
    current = node_labels(node)
    return {key: value for key, value in labels.items() if current.get(key) != value}


def address_list(addresses: tuple[Address, ...]) -> list[dict[str, str]]:
    return [{"type": kind, "address": address} for kind, address in addresses]


def addresses_differ(node: Mapping[str, Any], addresses: tuple[Address, ...] | None) -> bool:
    return addresses is not None and addresses_of(node) != addresses


def unmatched_provided_ips(
    node: Mapping[str, Any], addresses: tuple[Address, ...] | None
) -> list[str]:
    """The kubelet's ``--node-ip`` values that are none of the addresses the node will carry."""
    if addresses is None:
        return []
    return [
        ip
        for ip in provided_node_ips(node)
        if not any(same_ip(address, ip) for _, address in addresses)
    ]
