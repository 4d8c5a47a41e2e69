"""What a Node should carry from its instance: providerID, addresses, labels. Pure.

The address list is what the Go CCM's provider returns for an instance: Hostname first;
InternalIP from the kubelet's ``alpha.kubernetes.io/provided-node-ip`` only when the instance has
a private network; the public IPv4 and IPv6 as ExternalIP, each repeated as InternalIP when there
is no private network (the Exoscale API never reports private IPs).
:func:`.addresses.node_addresses` gives the order the Node finally shows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from exoccm.exoscale.models import Instance

PROVIDER_PREFIX = "exoscale://"
PROVIDED_NODE_IP = "alpha.kubernetes.io/provided-node-ip"
LABEL_INSTANCE_TYPE = "node.kubernetes.io/instance-type"
LABEL_INSTANCE_TYPE_BETA = "beta.kubernetes.io/instance-type"
LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_ZONE_BETA = "failure-domain.beta.kubernetes.io/zone"
LABEL_REGION = "topology.kubernetes.io/region"
LABEL_REGION_BETA = "failure-domain.beta.kubernetes.io/region"
EXTERNAL = "external"

Address = tuple[str, str]  # (type, address)

_LABEL_VALUE_INVALID = re.compile(r"[^A-Za-z0-9._-]")


def provider_id(instance_id: str) -> str:
    return PROVIDER_PREFIX + instance_id


def instance_id_from_provider_id(value: str | None) -> str | None:
    """The instance ID in ``exoscale://<id>``, or None for other providers or external nodes."""
    if not value or not value.startswith(PROVIDER_PREFIX):
        return None
    rest = value[len(PROVIDER_PREFIX) :].strip("/")
    if not rest or rest.startswith(f"{EXTERNAL}-"):
        return None
    return rest


def label_value(text: str) -> str:
    """``text`` as a valid label value: invalid characters removed, trimmed, at most 63 long."""
    cleaned = _LABEL_VALUE_INVALID.sub("", text)[:63]
    return cleaned.strip("._-")


def instance_addresses(
    instance: Instance, node_annotations: Mapping[str, str]
) -> tuple[Address, ...]:
    """The Go CCM provider's list for ``instance`` (see the module documentation)."""
    addresses: list[Address] = [("Hostname", instance.name)]
    private = bool(instance.private_networks)
    provided = node_annotations.get(PROVIDED_NODE_IP)
    if private and provided:
        addresses.extend(("InternalIP", ip.strip()) for ip in provided.split(",") if ip.strip())
    for public in (instance.public_ip, instance.ipv6_address):
        if public:
            addresses.append(("ExternalIP", public))
            if not private:
                addresses.append(("InternalIP", public))
    return tuple(addresses)


def topology_labels(instance_type: str, zone: str) -> dict[str, str]:
    """Instance-type, zone and region labels (zone = region, as the Go CCM's InstancesV2)."""
    type_value = label_value(instance_type)
    zone_value = label_value(zone)
    return {
        LABEL_INSTANCE_TYPE: type_value,
        LABEL_INSTANCE_TYPE_BETA: type_value,
        LABEL_ZONE: zone_value,
        LABEL_ZONE_BETA: zone_value,
        LABEL_REGION: zone_value,
        LABEL_REGION_BETA: zone_value,
    }


def external_provider_id(node_name: str, external_id: str | None) -> str:
    """providerID of a node outside Exoscale (a hybrid-cluster override).

    The Go CCM hashes the override's *name*, so every node matching a ``/regex/`` override
    shares one providerID; hashing the node's own name gives each its own.
    """
    if external_id:
        return PROVIDER_PREFIX + external_id
    return PROVIDER_PREFIX + f"{EXTERNAL}-" + hashlib.sha256(node_name.encode()).hexdigest()
