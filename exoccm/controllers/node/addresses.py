"""The addresses a Node ends up with, in the order the Go CCM's Nodes show them. Pure.

The Go CCM's provider only returns a list (:func:`.metadata.instance_addresses`, or an
override's addresses). What a Node carries is what the upstream cloud-node controller
(``k8s.io/cloud-provider`` ``controllers/node``) and the apiserver make of that list:

1. when the list holds no ``Hostname``, the kubelet's ``Hostname`` address is appended;
2. when the kubelet has a ``--node-ip`` (annotation ``alpha.kubernetes.io/provided-node-ip``),
   the addresses equal to it come first (``node/helpers/address.go``,
   ``GetNodeAddressesFromNodeIP``);
3. the list is sent as a strategic merge patch marked ``$patch: replace``
   (``k8s.io/component-helpers`` ``node/util`` ``PatchNodeStatus`` does so whenever the Node
   already has addresses, and kubelets since Kubernetes 1.29 register their ``Hostname``, plus
   an ``InternalIP`` with ``--node-ip``). The apiserver orders a replacing list by the first
   position of each item's merge key, here the address ``type`` (``k8s.io/apimachinery``
   ``strategicpatch``, ``normalizeElementOrder``): the addresses of one type end up together,
   the types in the order they first appear.

exoccm differs on purpose in step 2: upstream keeps only the ``--node-ip`` of each type it
matches and drops the other addresses of that type (the IPv6 ones, when ``--node-ip`` is the
public IPv4); exoccm keeps them. A ``--node-ip`` that matches no address is skipped here (the
node controller records a Warning for it), where upstream leaves the Node uninitialized.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from exoccm.controllers.node.metadata import Address

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def node_addresses(
    provided: Sequence[Address], kubelet: Sequence[Address], node_ips: Sequence[str]
) -> tuple[Address, ...]:
    """The Node's addresses from the provider's list ``provided``, the kubelet's current
    addresses and the kubelet's ``--node-ip`` values, by the steps of the module documentation."""
    addresses = with_kubelet_hostname(provided, kubelet)
    return grouped_by_type(node_ips_first(addresses, node_ips))


def with_kubelet_hostname(
    addresses: Sequence[Address], kubelet: Sequence[Address]
) -> tuple[Address, ...]:
    """``addresses`` plus the kubelet's ``Hostname`` addresses when they hold none."""
    if any(kind == "Hostname" for kind, _ in addresses):
        return tuple(addresses)
    return (*addresses, *(a for a in kubelet if a[0] == "Hostname"))


def node_ips_first(addresses: Sequence[Address], node_ips: Sequence[str]) -> tuple[Address, ...]:
    """The addresses equal to a ``--node-ip`` first (in ``node_ips`` order), then the others."""
    first: list[Address] = []
    for node_ip in node_ips:
        first.extend(a for a in addresses if a not in first and same_ip(a[1], node_ip))
    return (*first, *(a for a in addresses if a not in first))


def grouped_by_type(addresses: Sequence[Address]) -> tuple[Address, ...]:
    """Addresses of one type together, types in the order they first appear (a stable sort)."""
    first_seen: dict[str, int] = {}
    for index, (kind, _) in enumerate(addresses):
        first_seen.setdefault(kind, index)
    return tuple(sorted(addresses, key=lambda a: first_seen[a[0]]))


def same_ip(left: str, right: str) -> bool:
    """Whether two texts name the same IP address (``2001:db8::1`` = ``2001:0db8:0::1``, and an
    IPv4-mapped IPv6 address = its IPv4 address); texts that are not IPs never match."""
    a, b = _parse(left), _parse(right)
    return a is not None and a == b


def _parse(text: str) -> IpAddress | None:
    try:
        parsed = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed
