"""How an NLB service picks a healthy member for a new connection, by its ``strategy``.

The strategy names are IPVS's scheduler names, and they behave like those schedulers:

- ``round-robin``: each new connection goes to the next member in turn;
- ``source-hash``: a hash of the client's IP address picks the member, so one client keeps
  reaching the same member while the set of healthy members stays the same;
- ``maglev-hash``: a hash of the client's IP address indexes a Maglev lookup table (Eisenbud
  et al., "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016, section
  3.4), which spreads clients evenly and moves few of them when a member comes or goes.

All of it is pure: members are opaque strings (an ``ip:port``), and a picker is rebuilt
whenever the set of healthy members changes.
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
from collections.abc import Callable, Sequence
from typing import Protocol

# The lookup table's size: a prime, and much larger than any member count a test uses, so each
# member's share of the table stays within one entry of the others' (the paper uses 65537).
MAGLEV_TABLE_SIZE = 65537


class Picker(Protocol):
    def pick(self, client_ip: str) -> str | None:
        """The member for a new connection from ``client_ip``; None when there is none."""
        ...


def _digest(data: bytes, purpose: bytes) -> int:
    """A stable 64-bit hash; ``purpose`` makes independent hash functions from one algorithm."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, person=purpose).digest(), "big")


def source_key(client_ip: str) -> int:
    """The hash of a client address that source-hash and maglev-hash look members up by."""
    return _digest(ipaddress.ip_address(client_ip).packed, b"exoccm-source")


class RoundRobin:
    def __init__(self, members: Sequence[str]) -> None:
        self._members = tuple(members)
        self._turns = itertools.cycle(self._members)

    def pick(self, client_ip: str) -> str | None:  # noqa: ARG002 - the client does not matter
        return next(self._turns) if self._members else None


class SourceHash:
    def __init__(self, members: Sequence[str]) -> None:
        self._members = tuple(members)

    def pick(self, client_ip: str) -> str | None:
        if not self._members:
            return None
        return self._members[source_key(client_ip) % len(self._members)]


def maglev_table(members: Sequence[str], size: int = MAGLEV_TABLE_SIZE) -> list[int]:
    """The Maglev lookup table: entry ``i`` is the index of the member that owns slot ``i``.

    Each member's preference list is the permutation ``(offset + j * skip) mod size`` of the
    slots (``size`` prime, so every ``skip`` in 1..size-1 visits every slot). Members take turns
    claiming their next preferred free slot until the table is full, so their shares differ by
    at most one slot, and a member's slots depend only on its own name and its neighbours'
    claims: removing one member mostly frees its own slots.
    """
    if not members:
        return []
    if len(set(members)) != len(members):
        raise ValueError(f"Maglev members must be distinct, got {list(members)!r}")
    offsets = [_digest(m.encode(), b"maglev-offset") % size for m in members]
    skips = [_digest(m.encode(), b"maglev-skip") % (size - 1) + 1 for m in members]
    next_choice = [0] * len(members)
    table = [-1] * size
    filled = 0
    while True:
        for index in range(len(members)):
            offset, skip, choice = offsets[index], skips[index], next_choice[index]
            slot = (offset + choice * skip) % size
            while table[slot] >= 0:
                choice += 1
                slot = (offset + choice * skip) % size
            table[slot] = index
            next_choice[index] = choice + 1
            filled += 1
            if filled == size:
                return table


class MaglevHash:
    def __init__(self, members: Sequence[str], size: int = MAGLEV_TABLE_SIZE) -> None:
        self._members = tuple(members)
        self._table = maglev_table(self._members, size)

    def pick(self, client_ip: str) -> str | None:
        if not self._members:
            return None
        return self._members[self._table[source_key(client_ip) % len(self._table)]]


STRATEGIES: dict[str, Callable[[Sequence[str]], Picker]] = {
    "round-robin": RoundRobin,
    "source-hash": SourceHash,
    "maglev-hash": MaglevHash,
}


def picker(strategy: str, members: Sequence[str]) -> Picker:
    """A picker for ``strategy`` (an NLB service's ``strategy`` value) over ``members``."""
    try:
        factory = STRATEGIES[strategy]
    except KeyError:
        raise ValueError(
            f"unknown strategy {strategy!r}; use one of {', '.join(sorted(STRATEGIES))}"
        ) from None
    return factory(members)
