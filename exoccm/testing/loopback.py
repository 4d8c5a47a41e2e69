"""How the test ground shares out 127.0.0.0/8, and loopback blocks for a world that carries traffic.

Linux routes all of 127.0.0.0/8 to the loopback interface, so every listener of the test ground
can have addresses of its own without any setup. Each kind gets /16s from its own range, named
here by the second octet N of ``127.N.0.0/16``; no two ranges overlap:

- N = 0: the control plane, the simulator's API and exoccm (127.0.0.1); fixed.
- N = 10 and 20: the simulator's default NLB and instance networks (``exoccm sim --data-plane``
  run by hand, ``exoccm demo``); fixed.
- N = 100 to 199: Pod networks, Pod IP ``10.N.x.y`` carried by ``127.N.x.y``
  (:mod:`exoccm.testing.podnet`); drawn once per session by the fuller control plane, or per
  world on the bare apiserver.
- every other N: a test's own NLBs, instances and clients; drawn per test.

Tests running side by side on one machine (several sessions, several engineers) would fight over
``127.10.0.1:80`` if they all used the same blocks, so each draws its own at random from its
range: the fuller control plane draws its Pod network once per session, and every test that
carries traffic draws its simulator networks and client block (:func:`random_blocks`).
Addresses that carry no traffic (Nodes that only need an address) use the documentation range
192.0.2.0/24 instead, which the data plane and the stand-ins never connect to.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from itertools import combinations

from exoccm.sim.dataplane_addresses import (
    DEFAULT_INSTANCE_NETWORK,
    DEFAULT_LOAD_BALANCER_NETWORK,
    LoopbackNetworks,
)
from exoccm.testing.podnet import CONTROL_PLANE_NETWORK, SESSION_OCTETS, PodNetwork


def _second_octet(network: str) -> int:
    return ipaddress.IPv4Network(network).network_address.packed[1]


#: The second octets of the fixed /16s: the control plane's and the simulator's defaults.
FIXED_OCTETS = frozenset(
    {
        _second_octet(str(CONTROL_PLANE_NETWORK)),
        _second_octet(DEFAULT_LOAD_BALANCER_NETWORK),
        _second_octet(DEFAULT_INSTANCE_NETWORK),
    }
)
#: The second octets a test draws its own /16s from.
PER_TEST_OCTETS = tuple(
    n for n in range(1, 255) if n not in FIXED_OCTETS and n not in SESSION_OCTETS
)


@dataclass(frozen=True)
class LoopbackBlocks:
    """A world's distinct loopback blocks: the simulator's NLB and instance networks, the Pod
    network's carrier and one for test clients."""

    networks: LoopbackNetworks
    pods: PodNetwork
    clients: ipaddress.IPv4Network

    def __post_init__(self) -> None:
        blocks = {
            "NLB network": ipaddress.IPv4Network(self.networks.load_balancers),
            "instance network": ipaddress.IPv4Network(self.networks.instances),
            "Pod carrier network": self.pods.loopback,
            "client network": self.clients,
        }
        for (one, first), (other, second) in combinations(blocks.items(), 2):
            if first.overlaps(second):
                raise ValueError(
                    f"the {one} {first} and the {other} {second} overlap; give each its own "
                    "range (exoccm.testing.loopback.random_blocks() draws distinct ones)"
                )
        if self.clients.overlaps(CONTROL_PLANE_NETWORK) or not self.clients.is_loopback:
            raise ValueError(
                f"the client network {self.clients} must lie in 127.0.0.0/8 outside "
                f"{CONTROL_PLANE_NETWORK}, e.g. 127.30.0.0/16"
            )

    def instance_ip(self, index: int) -> str:
        """The ``index``-th address of the instance block, as the simulator hands them out."""
        return _nth_host(self.networks.instances, index)

    def pod_ip(self, index: int) -> str:
        """The ``index``-th Pod IP (as Kubernetes knows it; its traffic goes to its carrier)."""
        return _nth_host(self.pods.cidr, index)

    def client_ip(self, index: int) -> str:
        """A loopback address for a test client to connect from."""
        return _nth_host(self.clients, index)


def _nth_host(network: str | ipaddress.IPv4Network, index: int) -> str:
    return str(ipaddress.IPv4Network(network).network_address + index + 1)


def random_blocks(pods: PodNetwork | None = None) -> LoopbackBlocks:
    """Blocks of a world's own: three /16s drawn from :data:`PER_TEST_OCTETS`, and ``pods``
    (say, the fuller control plane's Pod network) or a Pod network drawn for this world."""
    load_balancers, instances, clients = random.SystemRandom().sample(PER_TEST_OCTETS, 3)
    return LoopbackBlocks(
        networks=LoopbackNetworks(
            load_balancers=f"127.{load_balancers}.0.0/16", instances=f"127.{instances}.0.0/16"
        ),
        pods=pods or PodNetwork.for_session(),
        clients=ipaddress.IPv4Network(f"127.{clients}.0.0/16"),
    )
