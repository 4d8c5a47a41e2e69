"""Loopback address blocks for a test world that carries traffic.

A simulator with a data plane gives NLBs and instances addresses in 127.0.0.0/8, the Pod
stand-ins serve Pods on loopback twins of their IPs, and test clients may need addresses of
their own. Tests running side by side on one machine (several sessions, several engineers)
would fight over ``127.10.0.1:80`` if they all used the same blocks, so each world draws its
own /16s at random (127.0.0.0/16, home of 127.0.0.1, is never drawn).
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

from exoccm.sim.dataplane_addresses import LoopbackNetworks
from exoccm.testing.cluster_state import PodNetwork

_SECOND_OCTETS = range(1, 255)


@dataclass(frozen=True)
class LoopbackBlocks:
    """Distinct /16s: the simulator's NLB and instance networks, the Pods' loopback twin, and
    one for test clients."""

    networks: LoopbackNetworks
    pods: PodNetwork
    clients: str

    def instance_ip(self, index: int) -> str:
        """The ``index``-th address of the instance block, as the simulator hands them out."""
        return _nth_host(self.networks.instances, index)

    def pod_ip(self, index: int) -> str:
        """The ``index``-th Pod IP (as Kubernetes knows it; served on its loopback twin)."""
        return self.pods.pod_ip(index)

    def client_ip(self, index: int) -> str:
        """A loopback address for a test client to connect from."""
        return _nth_host(self.clients, index)


def _nth_host(network: str, index: int) -> str:
    return str(ipaddress.IPv4Network(network).network_address + index + 1)


def random_blocks() -> LoopbackBlocks:
    load_balancers, instances, pods, clients = random.SystemRandom().sample(_SECOND_OCTETS, 4)
    return LoopbackBlocks(
        networks=LoopbackNetworks(
            load_balancers=f"127.{load_balancers}.0.0/16", instances=f"127.{instances}.0.0/16"
        ),
        pods=PodNetwork(loopback=f"127.{pods}.0.0/16"),
        clients=f"127.{clients}.0.0/16",
    )
