"""The Pod network: Pod IPs that EndpointSlices accept, each carried by a loopback address."""

from __future__ import annotations

import ipaddress
import random

import pytest

from exoccm.testing.podnet import PodNetwork


def test_a_pod_ip_and_its_loopback_address_map_both_ways() -> None:
    network = PodNetwork.of("10.150.0.0/16", "127.150.0.0/16")
    assert network.loopback_address("10.150.0.7") == "127.150.0.7"
    assert network.loopback_address("10.150.3.200") == "127.150.3.200"
    assert network.pod_ip("127.150.3.200") == "10.150.3.200"
    other = PodNetwork.of("192.168.64.0/20", "127.77.16.0/20")
    assert other.loopback_address("192.168.65.1") == "127.77.17.1"
    assert other.pod_ip(other.loopback_address("192.168.79.254")) == "192.168.79.254"


def test_addresses_outside_the_network_are_refused() -> None:
    network = PodNetwork.of("10.150.0.0/16", "127.150.0.0/16")
    with pytest.raises(ValueError, match=r"10\.151\.0\.1 is not a Pod IP"):
        network.loopback_address("10.151.0.1")
    with pytest.raises(ValueError, match=r"127\.151\.0\.1 is not in"):
        network.pod_ip("127.151.0.1")


@pytest.mark.parametrize(
    ("cidr", "loopback", "complaint"),
    [
        ("127.150.0.0/16", "127.151.0.0/16", "refuses in EndpointSlices"),
        ("169.254.0.0/16", "127.150.0.0/16", "refuses in EndpointSlices"),
        ("0.0.0.0/0", "127.0.0.0/8", "refuses in EndpointSlices"),
        ("10.150.0.0/16", "10.151.0.0/16", "must lie in 127.0.0.0/8"),
        ("10.150.0.0/16", "127.0.0.0/16", "outside 127.0.0.0/16"),
        ("10.150.0.0/16", "127.150.0.0/24", "differ in size"),
        ("10.150.0.1/16", "127.150.0.0/16", "not a network"),
        ("fd00::/64", "127.150.0.0/16", "not an IPv4 network"),
        ("10.150.0.0/16", "banana", "loopback range 'banana' is not an IPv4 network"),
    ],
)
def test_bad_ranges_are_refused_naming_the_culprit(
    cidr: str, loopback: str, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        PodNetwork.of(cidr, loopback)


def test_sessions_get_a_random_pair_of_16s() -> None:
    seen = {PodNetwork.for_session(random.Random(seed)) for seed in range(50)}
    assert len(seen) > 1
    for network in seen:
        assert network.cidr.prefixlen == network.loopback.prefixlen == 16
        second = network.cidr.network_address.packed[1]
        assert 100 <= second < 200
        assert network.cidr.network_address.packed[0] == 10
        assert network.loopback == ipaddress.IPv4Network(f"127.{second}.0.0/16")


def test_something_that_is_not_an_address_is_refused() -> None:
    network = PodNetwork.of("10.150.0.0/16", "127.150.0.0/16")
    with pytest.raises(ValueError, match="not-an-ip"):
        network.loopback_address("not-an-ip")
