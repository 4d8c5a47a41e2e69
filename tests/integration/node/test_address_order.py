"""Node addresses in the Go CCM's order, end to end.

Each case names an instance, the kubelet's ``--node-ip`` and the order its Node ends up with.
That order is the Go CCM's:

* its provider (``exoscale/instances_v2.go``, ``nodeAddressesFromInstance``) returns
  ``Hostname, ExternalIP v4, InternalIP v4`` (+ ``ExternalIP v6, InternalIP v6``) without a
  private network; with one and a ``--node-ip``, ``Hostname, InternalIP <node-ip>, ExternalIP v4``
  (+ ``ExternalIP v6``), or ``Hostname, InternalIP <node-ip>`` without a public address;
* the upstream cloud-node controller (``k8s.io/cloud-provider`` ``controllers/node``) puts the
  addresses equal to ``--node-ip`` first (``GetNodeAddressesFromNodeIP``): ``UPSTREAM_LIST``;
* it sends that list with ``PatchNodeStatus`` (``k8s.io/component-helpers``), as a strategic
  merge patch marked ``$patch: replace`` because the kubelet registered addresses already, and
  the apiserver groups a replacing list by its merge key ``type``, types in the order they first
  appear (``k8s.io/apimachinery`` ``strategicpatch``).

The last step is the apiserver's own, so each case also sends that very patch to a twin Node on
the real apiserver and checks that it comes out in the expected order too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from exoccm.controllers.node.metadata import PROVIDED_NODE_IP
from exoccm.controllers.node.state import UNINITIALIZED_TAINT, has_taint
from exoccm.kube.objects import Obj
from exoccm.kube.resources import NODES
from exoccm.testing.nodes import node_manifest

from .conftest import ZONE, NodeWorld, config_for, running, until

pytestmark = pytest.mark.anyio

NODE_IP = "10.0.0.11"
# Placeholders in the cases, replaced by the instance's own values.
NAME, V4, V6 = "<name>", "<v4>", "<v6>"


@dataclass(frozen=True)
class Case:
    suffix: str
    instance: dict[str, Any]  # Simulator.add_instance keywords
    node_ip: str | None
    upstream_list: tuple[tuple[str, str], ...]  # after GetNodeAddressesFromNodeIP
    expected: tuple[tuple[str, str], ...]  # on the Node


CASES = [
    Case(
        "v4",
        {},
        None,
        (("Hostname", NAME), ("ExternalIP", V4), ("InternalIP", V4)),
        (("Hostname", NAME), ("ExternalIP", V4), ("InternalIP", V4)),
    ),
    Case(
        "v4-node-ip",
        {},
        V4,
        (("ExternalIP", V4), ("InternalIP", V4), ("Hostname", NAME)),
        (("ExternalIP", V4), ("InternalIP", V4), ("Hostname", NAME)),
    ),
    Case(
        "dual",
        {"ipv6": "auto"},
        None,
        (
            ("Hostname", NAME),
            ("ExternalIP", V4),
            ("InternalIP", V4),
            ("ExternalIP", V6),
            ("InternalIP", V6),
        ),
        (
            ("Hostname", NAME),
            ("ExternalIP", V4),
            ("ExternalIP", V6),
            ("InternalIP", V4),
            ("InternalIP", V6),
        ),
    ),
    Case(
        "private",
        {"private_networks": 1},
        NODE_IP,
        (("InternalIP", NODE_IP), ("Hostname", NAME), ("ExternalIP", V4)),
        (("InternalIP", NODE_IP), ("Hostname", NAME), ("ExternalIP", V4)),
    ),
    Case(
        "private-dual",
        {"private_networks": 1, "ipv6": "auto"},
        NODE_IP,
        (("InternalIP", NODE_IP), ("Hostname", NAME), ("ExternalIP", V4), ("ExternalIP", V6)),
        (("InternalIP", NODE_IP), ("Hostname", NAME), ("ExternalIP", V4), ("ExternalIP", V6)),
    ),
    Case(
        "private-only",
        {"private_networks": 1, "public_ip": None},
        NODE_IP,
        (("InternalIP", NODE_IP), ("Hostname", NAME)),
        (("InternalIP", NODE_IP), ("Hostname", NAME)),
    ),
]


def kubelet_registration(name: str, node_ip: str | None) -> list[tuple[str, str]]:
    """What a kubelet with an external cloud provider registers (Kubernetes >= 1.29)."""
    return [("InternalIP", node_ip), ("Hostname", name)] if node_ip else [("Hostname", name)]


def addresses(node: Obj | None) -> tuple[tuple[str, str], ...]:
    assert node is not None
    return tuple((a["type"], a["address"]) for a in node["status"].get("addresses") or [])


def resolved(value: str, values: dict[str, str]) -> str:
    return values.get(value, value)


async def go_ccm_twin(world: NodeWorld, case: Case, values: dict[str, str]) -> Obj:
    """A Node registered the same way, whose addresses are then written exactly as the Go CCM
    writes them. It carries no test label, so exoccm's controllers never see it."""
    name = world.name(f"{case.suffix}-go")
    node_ip = resolved(case.node_ip, values) if case.node_ip else None
    manifest = node_manifest(name, addresses=kubelet_registration(values[NAME], node_ip))
    status = manifest.pop("status")
    await world.kube.create(NODES.path(), manifest)
    world.created.append(name)
    await world.kube.patch(
        NODES.path(name=name, subresource="status"), {"status": status}, patch_type="merge"
    )
    upstream = [{"type": t, "address": resolved(a, values)} for t, a in case.upstream_list]
    return await world.kube.patch(
        NODES.path(name=name, subresource="status"),
        {"status": {"addresses": [*upstream, {"$patch": "replace"}]}},
        patch_type="strategic",
    )


async def test_addresses_in_the_go_ccm_order(world: NodeWorld) -> None:
    values: dict[str, dict[str, str]] = {}
    for case in CASES:
        instance = world.sim.add_instance(ZONE, world.name(case.suffix), **case.instance)
        values[case.suffix] = {
            NAME: instance["name"],
            V4: instance.get("public-ip") or "",
            V6: instance.get("ipv6-address") or "",
        }
        node_ip = resolved(case.node_ip, values[case.suffix]) if case.node_ip else None
        await world.create_node(
            case.suffix,
            system_uuid=instance["id"],
            uninitialized=True,
            addresses=kubelet_registration(instance["name"], node_ip),
            annotations={PROVIDED_NODE_IP: node_ip} if node_ip else {},
        )

    async def all_initialized() -> bool:
        for case in CASES:
            node = await world.node(case.suffix)
            if node is None or has_taint(node, UNINITIALIZED_TAINT):
                return False
        return True

    async with running(world, config_for()):
        await until(all_initialized)

    for case in CASES:
        known = values[case.suffix]
        expected = tuple((t, resolved(a, known)) for t, a in case.expected)
        assert addresses(await world.node(case.suffix)) == expected, case.suffix
        twin = await go_ccm_twin(world, case, known)
        assert addresses(twin) == expected, f"{case.suffix}: the apiserver's order differs"
