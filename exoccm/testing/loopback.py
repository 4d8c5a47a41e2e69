"""Loopback address blocks for a test world that carries traffic.

A simulator with a data plane gives NLBs and instances addresses in 127.0.0.0/8, and Pods of
the test ground get theirs there too. Tests running side by side on one machine (several
sessions, several engineers) would fight over ``127.10.0.1:80`` if they all used the same
blocks, so each world draws its own /16s at random (127.0.0.0/16, home of 127.0.0.1, is never
drawn).
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

from exoccm.sim.dataplane_addresses import LoopbackNetworks

_SECOND_OCTETS = range(1, 255)


@dataclass(frozen=True)
class LoopbackBlocks:
    """Distinct /16s: NLB and instance networks for the simulator, and one for Pod IPs."""

    networks: LoopbackNetworks
    pods: str

    def pod_ip(self, index: int) -> str:
        """The ``index``-th Pod IP of the Pod block (0 is ``127.x.0.1``)."""
        return str(ipaddress.IPv4Network(self.pods).network_address + index + 1)


def random_blocks() -> LoopbackBlocks:
    load_balancers, instances, pods = random.SystemRandom().sample(_SECOND_OCTETS, 3)
    return LoopbackBlocks(
        networks=LoopbackNetworks(
            load_balancers=f"127.{load_balancers}.0.0/16", instances=f"127.{instances}.0.0/16"
        ),
        pods=f"127.{pods}.0.0/16",
    )
