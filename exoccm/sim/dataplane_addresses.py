"""Where NLBs and instances get their public IPs when the simulator carries traffic.

With a data plane every address is on this machine's loopback: NLBs in one /16 of
127.0.0.0/8, instances in another (Linux routes all of 127.0.0.0/8 to the loopback interface,
so these addresses need no setup). 127.0.0.1 itself is left out: many local services listen on
it. Tests running side by side pick different networks so their listeners never clash.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
DEFAULT_LOAD_BALANCER_NETWORK = "127.10.0.0/16"
DEFAULT_INSTANCE_NETWORK = "127.20.0.0/16"
_LOCALHOST = ipaddress.IPv4Address("127.0.0.1")
_MAX_PREFIX_LENGTH = 30  # at least two usable addresses


@dataclass(frozen=True, slots=True)
class LoopbackNetworks:
    load_balancers: str = DEFAULT_LOAD_BALANCER_NETWORK
    instances: str = DEFAULT_INSTANCE_NETWORK

    def __post_init__(self) -> None:
        lb = _loopback_network(self.load_balancers, "the NLB network")
        instances = _loopback_network(self.instances, "the instance network")
        if lb.overlaps(instances):
            raise ValueError(
                f"the NLB network {lb} and the instance network {instances} overlap; "
                "give them distinct ranges, e.g. 127.10.0.0/16 and 127.20.0.0/16"
            )


def _loopback_network(text: str, what: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.IPv4Network(text)
    except ValueError as error:
        raise ValueError(
            f"{what} {text!r} is not an IPv4 network such as 127.10.0.0/16: {error}"
        ) from None
    if not network.subnet_of(LOOPBACK):
        raise ValueError(f"{what} {network} must lie within 127.0.0.0/8 (loopback)")
    if _LOCALHOST in network:
        raise ValueError(f"{what} {network} must not contain 127.0.0.1; use e.g. 127.10.0.0/16")
    if network.prefixlen > _MAX_PREFIX_LENGTH:
        raise ValueError(f"{what} {network} is too small; use a /{_MAX_PREFIX_LENGTH} or larger")
    return network
