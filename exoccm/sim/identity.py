"""Identifiers and addresses: UUIDs, MAC addresses and public IPs, reproducible from a seed."""

from __future__ import annotations

import ipaddress
import random
import uuid
from collections import deque
from collections.abc import Iterable


class IdSource:
    """Random UUIDv4s and MAC addresses drawn from a seeded generator.

    The same seed and the same sequence of calls give the same identifiers, which keeps request
    logs and failures of a test run comparable between runs.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def mac_address(self) -> str:
        # 06: locally administered unicast, as Exoscale's own MACs are.
        tail = [self._rng.randrange(256) for _ in range(5)]
        return "06:" + ":".join(f"{octet:02x}" for octet in tail)


class AddressPool:
    """Hands out addresses from a list of networks in order; reuses released ones at the end.

    Handing out in order keeps addresses stable for a given sequence of calls; reuse only starts
    once every address has been handed out once, so a deleted NLB's IP does not reappear at once
    on the next one (a stale client cache would otherwise look correct by accident).
    """

    def __init__(self, networks: Iterable[str]) -> None:
        self._networks = [ipaddress.ip_network(net) for net in networks]
        self._network_index = 0
        self._next_host = 1  # skip the network address
        self._released: deque[str] = deque()
        self._in_use: set[str] = set()

    def allocate(self) -> str:
        while self._network_index < len(self._networks):
            network = self._networks[self._network_index]
            # Skip the network and broadcast addresses (IPv4) for realism.
            if self._next_host < network.num_addresses - 1:
                address = str(network.network_address + self._next_host)
                self._next_host += 1
                if address not in self._in_use:
                    self._in_use.add(address)
                    return address
                continue
            self._network_index += 1
            self._next_host = 1
        if self._released:
            address = self._released.popleft()
            self._in_use.add(address)
            return address
        ranges = ", ".join(str(net) for net in self._networks)
        raise RuntimeError(f"the simulator ran out of addresses in {ranges}; call reset()")

    def claim(self, address: str) -> None:
        """Mark an address chosen by a test as taken so it is never handed out."""
        self._in_use.add(address)

    def release(self, address: str) -> None:
        if address in self._in_use:
            self._in_use.discard(address)
            self._released.append(address)
