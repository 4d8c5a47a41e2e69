"""The test ground's share-out of 127.0.0.0/8: fixed, per-session and per-test /16s never meet."""

from __future__ import annotations

import ipaddress
from itertools import combinations

import pytest

from exoccm.sim.dataplane_addresses import LoopbackNetworks
from exoccm.testing.loopback import (
    FIXED_OCTETS,
    PER_TEST_OCTETS,
    LoopbackBlocks,
    random_blocks,
)
from exoccm.testing.podnet import SESSION_OCTETS, PodNetwork


def second_octet(network: str | ipaddress.IPv4Network) -> int:
    return ipaddress.IPv4Network(network).network_address.packed[1]


def test_the_ranges_are_disjoint_and_leave_out_the_fixed_16s() -> None:
    assert {0, 10, 20} == FIXED_OCTETS
    assert not set(PER_TEST_OCTETS) & set(SESSION_OCTETS)
    assert not FIXED_OCTETS & (set(PER_TEST_OCTETS) | set(SESSION_OCTETS))
    assert set(PER_TEST_OCTETS) | set(SESSION_OCTETS) | FIXED_OCTETS == set(range(255))


def test_random_blocks_are_distinct_16s_of_their_ranges() -> None:
    for _ in range(50):
        blocks = random_blocks()
        per_test = [
            ipaddress.IPv4Network(blocks.networks.load_balancers),
            ipaddress.IPv4Network(blocks.networks.instances),
            blocks.clients,
        ]
        assert all(second_octet(n) in PER_TEST_OCTETS for n in per_test)
        assert second_octet(blocks.pods.loopback) in SESSION_OCTETS
        networks = [*per_test, blocks.pods.loopback]
        assert all(n.prefixlen == 16 for n in networks)
        assert not any(a.overlaps(b) for a, b in combinations(networks, 2))


def test_a_given_pod_network_is_kept() -> None:
    session = PodNetwork.of("10.123.0.0/16", "127.123.0.0/16")
    blocks = random_blocks(session)
    assert blocks.pods is session
    assert blocks.pod_ip(0) == "10.123.0.1"
    assert blocks.pods.loopback_address(blocks.pod_ip(6)) == "127.123.0.7"


@pytest.mark.parametrize(
    ("lbs", "instances", "carrier", "clients", "complaint"),
    [
        ("127.41.0.0/16", "127.42.0.0/16", "127.41.0.0/16", "127.43.0.0/16", "NLB network"),
        ("127.41.0.0/16", "127.42.0.0/16", "127.150.0.0/16", "127.42.0.0/24", "instance network"),
        ("127.41.0.0/16", "127.42.0.0/16", "127.150.0.0/16", "127.150.0.0/16", "client network"),
        ("127.41.0.0/16", "127.42.0.0/16", "127.150.0.0/16", "127.0.0.0/16", "outside 127.0.0.0"),
        ("127.41.0.0/16", "127.42.0.0/16", "127.150.0.0/16", "10.43.0.0/16", "in 127.0.0.0/8"),
    ],
)
def test_blocks_that_meet_are_refused_naming_both(
    lbs: str, instances: str, carrier: str, clients: str, complaint: str
) -> None:
    pods = PodNetwork.of(f"10.{second_octet(carrier)}.0.0/16", carrier)
    with pytest.raises(ValueError, match=complaint):
        LoopbackBlocks(LoopbackNetworks(lbs, instances), pods, ipaddress.IPv4Network(clients))
