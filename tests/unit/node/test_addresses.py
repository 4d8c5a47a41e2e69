"""The order of a Node's addresses: the Go CCM's, as the upstream node controller and the
apiserver leave it.

How each expected order follows from the Go CCM's code and upstream's:

* The Go CCM's provider (``exoscale/instances_v2.go``, ``nodeAddressesFromInstance``, and its unit
  tests) returns ``[Hostname, ExternalIP v4, InternalIP v4]`` for a public IPv4, then
  ``[ExternalIP v6, InternalIP v6]`` for an IPv6 address; with a private network and the
  kubelet's ``--node-ip`` (annotation ``alpha.kubernetes.io/provided-node-ip``) it returns
  ``[Hostname, InternalIP <node-ip>, ExternalIP v4, ExternalIP v6]`` instead (no public IP repeated
  as InternalIP), and ``[Hostname, InternalIP <node-ip>]`` without a public address.
* The upstream cloud-node controller (``k8s.io/cloud-provider`` v0.34, ``controllers/node``,
  ``updateNodeAddress``) puts the addresses equal to ``--node-ip`` first and keeps no other
  address of their types (``node/helpers/address.go``, ``GetNodeAddressesFromNodeIP``).
* It writes the list with ``PatchNodeStatus`` (``k8s.io/component-helpers`` ``node/util``): the
  kubelet registered addresses already (its ``Hostname``; ``InternalIP <node-ip>, Hostname``
  with ``--node-ip``), so the patch replaces the list with ``$patch: replace``, and the apiserver
  orders a replacing list by the first position of each item's merge key ``type``
  (``k8s.io/apimachinery`` ``strategicpatch``, ``normalizeElementOrder``): the addresses of a
  type end up together, in the order the types first appear. Dual stack thus becomes
  ``[Hostname, ExternalIP v4, ExternalIP v6, InternalIP v4, InternalIP v6]``.

``tests/integration/node/test_address_order.py`` checks the last step on the real apiserver.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exoccm.controllers.node.addresses import (
    grouped_by_type,
    node_addresses,
    node_ips_first,
    same_ip,
)
from exoccm.controllers.node.metadata import PROVIDED_NODE_IP, Address, instance_addresses
from exoccm.exoscale.models import Instance, PrivateNetworkAttachment

ID = "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"
NAME = "pool-abc12"
V4 = "203.0.113.10"
V6 = "2001:db8::10"
NODE_IP = "10.0.0.11"
PRIVATE = (PrivateNetworkAttachment(id="0b5c6c5e-7d0a-4f43-9d8e-2a2f0c6f8a11"),)
# What kubelets register before the CCM writes: their Hostname, after the --node-ip if any.
KUBELET = (("Hostname", NAME),)
KUBELET_WITH_NODE_IP = (("InternalIP", NODE_IP), ("Hostname", NAME))


def instance(*, v4: bool = True, v6: bool = False, private: bool = False) -> Instance:
    fields: dict[str, object] = {"id": ID, "name": NAME}
    if v4:
        fields["public-ip"] = V4
    if v6:
        fields["ipv6-address"] = V6
    inst = Instance.model_validate(fields)
    return inst.model_copy(update={"private_networks": PRIVATE}) if private else inst


def on_node(inst: Instance, node_ip: str | None = None) -> tuple[Address, ...]:
    """The addresses a Node on ``inst`` ends up with, the kubelet started with ``node_ip``."""
    annotations = {PROVIDED_NODE_IP: node_ip} if node_ip else {}
    kubelet = KUBELET_WITH_NODE_IP if node_ip else KUBELET
    return node_addresses(
        instance_addresses(inst, annotations), kubelet, [node_ip] if node_ip else []
    )


def test_ipv4_only() -> None:
    assert on_node(instance()) == (
        ("Hostname", NAME),
        ("ExternalIP", V4),
        ("InternalIP", V4),
    )


def test_ipv4_only_with_the_public_ip_as_node_ip() -> None:
    """Both addresses equal to --node-ip come first, the Hostname after them."""
    assert on_node(instance(), node_ip=V4) == (
        ("ExternalIP", V4),
        ("InternalIP", V4),
        ("Hostname", NAME),
    )


def test_dual_stack_grouped_by_type() -> None:
    assert on_node(instance(v6=True)) == (
        ("Hostname", NAME),
        ("ExternalIP", V4),
        ("ExternalIP", V6),
        ("InternalIP", V4),
        ("InternalIP", V6),
    )


def test_private_network_node_ip_first() -> None:
    assert on_node(instance(private=True), node_ip=NODE_IP) == (
        ("InternalIP", NODE_IP),
        ("Hostname", NAME),
        ("ExternalIP", V4),
    )


def test_private_network_dual_stack() -> None:
    assert on_node(instance(v6=True, private=True), node_ip=NODE_IP) == (
        ("InternalIP", NODE_IP),
        ("Hostname", NAME),
        ("ExternalIP", V4),
        ("ExternalIP", V6),
    )


def test_private_network_only() -> None:
    assert on_node(instance(v4=False, private=True), node_ip=NODE_IP) == (
        ("InternalIP", NODE_IP),
        ("Hostname", NAME),
    )


def test_private_network_without_node_ip() -> None:
    """No --node-ip: the Go CCM has no private address to report, only the public one."""
    assert on_node(instance(v6=True, private=True)) == (
        ("Hostname", NAME),
        ("ExternalIP", V4),
        ("ExternalIP", V6),
    )


def test_ipv6_kept_when_node_ip_is_the_public_ipv4() -> None:
    """exoccm's difference on purpose: upstream keeps [ExternalIP v4, InternalIP v4, Hostname]
    and drops the IPv6 addresses (one address per --node-ip type); exoccm keeps them, grouped."""
    assert on_node(instance(v6=True), node_ip=V4) == (
        ("ExternalIP", V4),
        ("ExternalIP", V6),
        ("InternalIP", V4),
        ("InternalIP", V6),
        ("Hostname", NAME),
    )


def test_node_ip_matching_nothing_is_skipped() -> None:
    """Upstream leaves such a Node uninitialized; exoccm writes the instance's addresses (and
    the node controller records a Warning Event)."""
    assert on_node(instance(), node_ip="192.0.2.1") == on_node(instance())


def test_dual_node_ips_in_their_order() -> None:
    inst = instance(v6=True, private=True)
    addresses = instance_addresses(inst, {PROVIDED_NODE_IP: "fd00::11,10.0.0.11"})
    assert node_addresses(addresses, KUBELET, ["fd00::11", "10.0.0.11"]) == (
        ("InternalIP", "fd00::11"),
        ("InternalIP", "10.0.0.11"),
        ("Hostname", NAME),
        ("ExternalIP", V4),
        ("ExternalIP", V6),
    )


def test_kubelet_hostname_kept_when_the_provider_gives_none() -> None:
    override = (("InternalIP", "10.0.0.5"), ("ExternalIP", "198.51.100.5"))
    assert node_addresses(override, KUBELET_WITH_NODE_IP, ["10.0.0.5"]) == (
        ("InternalIP", "10.0.0.5"),
        ("ExternalIP", "198.51.100.5"),
        ("Hostname", NAME),
    )
    assert node_addresses((("Hostname", "h"),), KUBELET, []) == (("Hostname", "h"),)


def test_ip_equality_is_by_value() -> None:
    assert same_ip("2001:db8::10", "2001:0db8:0:0::10")
    assert same_ip("::ffff:203.0.113.10", "203.0.113.10")
    assert not same_ip("203.0.113.10", "203.0.113.11")
    assert not same_ip("node-1", "node-1")  # a hostname is not an IP
    assert node_ips_first((("Hostname", "h"), ("InternalIP", "2001:db8::10")), ["2001:db8:0::10"])[
        0
    ] == ("InternalIP", "2001:db8::10")


TYPES = st.sampled_from(["Hostname", "ExternalIP", "InternalIP", "InternalDNS"])
ADDRESSES = st.lists(st.tuples(TYPES, st.sampled_from(["a", "b", "c", "d"])), max_size=8)


@given(ADDRESSES)
def test_grouping_is_a_stable_permutation(addresses: list[Address]) -> None:
    grouped = grouped_by_type(addresses)
    assert sorted(grouped) == sorted(addresses)
    kinds = [kind for kind, _ in grouped]
    # Each type forms one run, the runs in order of first appearance...
    runs = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]
    assert runs == list(dict.fromkeys(kind for kind, _ in addresses))
    # ...and within a type the order is kept.
    for kind in runs:
        assert [a for a in grouped if a[0] == kind] == [a for a in addresses if a[0] == kind]
    assert grouped_by_type(grouped) == grouped
