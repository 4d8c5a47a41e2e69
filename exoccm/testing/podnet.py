"""The test ground's Pod network: Pod IPs as Kubernetes records them, and where their traffic goes.

Traffic in the test ground stays on loopback, so whatever serves a Pod listens on a 127.0.0.0/8
address. Kubernetes, though, refuses loopback addresses in EndpointSlices (and Endpoints): the
apiserver's validation of endpoint addresses rejects 127.0.0.0/8, ``::1``, link-local and
unspecified addresses (``ValidateEndpointIP`` in ``k8s.io/kubernetes/pkg/apis/core/validation``),
so with loopback Pod IPs the endpointslice controller could never publish a Service's endpoints.

The Pod network therefore pairs a private range that KWOK hands out as Pod IPs, for example
``10.150.0.0/16``, with a loopback range of the same size, ``127.150.0.0/16``: the Pod IP
``10.150.0.7`` is carried by ``127.150.0.7``. This stands in for what a CNI plugin does in a real
cluster, routing Pod IPs to where the Pods run. A Pod's stand-in binds
:meth:`PodNetwork.loopback_address` of its Pod IP, and anything that sends to a Pod IP read from
the API (an EndpointSlice, a Pod's status) sends to that loopback address instead.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
#: Where the control plane, the simulator's API and exoccm listen (127.0.0.1): no Pod here.
CONTROL_PLANE_NETWORK = ipaddress.IPv4Network("127.0.0.0/16")
#: The second octets N of the Pod networks drawn for test sessions: ``10.N.0.0/16`` carried by
#: ``127.N.0.0/16``. Nothing else in the test ground draws loopback /16s from this range (see
#: :mod:`exoccm.testing.loopback`).
SESSION_OCTETS = range(100, 200)
# Addresses that EndpointSlice validation refuses, besides loopback.
_REFUSED_BY_THE_API = (
    ipaddress.IPv4Network("0.0.0.0/8"),
    ipaddress.IPv4Network("169.254.0.0/16"),
    ipaddress.IPv4Network("224.0.0.0/4"),
)


def _network(value: str, what: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value)
    except ipaddress.AddressValueError:
        raise ValueError(
            f"{what} {value!r} is not an IPv4 network; the test ground's Pod network is IPv4"
        ) from None
    except ValueError as exc:
        raise ValueError(f"{what} {value!r} is not a network: {exc}") from None


@dataclass(frozen=True)
class PodNetwork:
    """Pod IPs from ``cidr``; the traffic of each is carried by its twin in ``loopback``."""

    cidr: ipaddress.IPv4Network
    loopback: ipaddress.IPv4Network

    def __post_init__(self) -> None:
        pods, carrier = self.cidr, self.loopback
        if pods.overlaps(_LOOPBACK) or any(pods.overlaps(n) for n in _REFUSED_BY_THE_API):
            raise ValueError(
                f"pod CIDR {pods} holds addresses the apiserver refuses in EndpointSlices "
                "(loopback, link-local, multicast or unspecified); choose a private range such "
                "as 10.150.0.0/16 (its traffic is carried on loopback anyway)"
            )
        if not carrier.subnet_of(_LOOPBACK) or carrier.overlaps(CONTROL_PLANE_NETWORK):
            raise ValueError(
                f"loopback range {carrier} must lie in 127.0.0.0/8 outside 127.0.0.0/16 (where "
                "the control plane listens); choose a range such as 127.150.0.0/16"
            )
        if carrier.prefixlen != pods.prefixlen:
            raise ValueError(
                f"loopback range {carrier} and pod CIDR {pods} differ in size; give both the same "
                "prefix length"
            )

    @classmethod
    def of(cls, cidr: str, loopback: str) -> PodNetwork:
        """Parsed and checked, or ValueError naming the range at fault and what to pick instead."""
        return cls(_network(cidr, "pod CIDR"), _network(loopback, "loopback range"))

    @classmethod
    def for_session(cls, rng: random.Random | None = None) -> PodNetwork:
        """``10.N.0.0/16`` carried by ``127.N.0.0/16`` for a random N in :data:`SESSION_OCTETS`,
        so that test sessions running side by side on one machine rarely bind the same
        addresses."""
        second = (rng or random.SystemRandom()).choice(SESSION_OCTETS)
        return cls.of(f"10.{second}.0.0/16", f"127.{second}.0.0/16")

    def loopback_address(self, pod_ip: str) -> str:
        """The loopback address carrying ``pod_ip``'s traffic (ValueError outside the CIDR)."""
        address = ipaddress.IPv4Address(pod_ip)
        if address not in self.cidr:
            raise ValueError(f"{pod_ip} is not a Pod IP of this Pod network ({self.cidr})")
        offset = int(address) - int(self.cidr.network_address)
        return str(self.loopback.network_address + offset)

    def pod_ip(self, loopback_address: str) -> str:
        """The Pod IP whose traffic ``loopback_address`` carries (ValueError outside the range)."""
        address = ipaddress.IPv4Address(loopback_address)
        if address not in self.loopback:
            raise ValueError(f"{loopback_address} is not in this Pod network's {self.loopback}")
        offset = int(address) - int(self.loopback.network_address)
        return str(self.cidr.network_address + offset)
