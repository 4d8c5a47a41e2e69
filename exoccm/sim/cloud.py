"""The simulated cloud's whole state: zones, keys, operations, faults and the request log.

One :class:`Cloud` sits behind a :class:`~exoccm.sim.Simulator`. Its ``lock`` guards all of
it: requests may arrive on a server thread while a test thread edits state, so every reader
and writer takes the lock (briefly: nothing inside it blocks or awaits).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from exoccm.sim.auth import ApiKey
from exoccm.sim.clock import Clock
from exoccm.sim.constants import ZONES
from exoccm.sim.errors import SimulatorLookupError
from exoccm.sim.faults import FaultBook
from exoccm.sim.history import History
from exoccm.sim.identity import AddressPool, IdSource
from exoccm.sim.operations import Latency, OperationScheduler, check_latency
from exoccm.sim.state import Fields, Zone

# Public-looking ranges (Exoscale's own blocks are in 194.182.0.0/16 and 159.100.0.0/16); big
# enough for a benchmark's thousand NLBs and nodes.
LOAD_BALANCER_NETWORKS = ("194.182.160.0/19",)
INSTANCE_NETWORKS = ("159.100.224.0/19",)
IPV6_PREFIX = "2001:db8:e0::"  # the IPv6 documentation range


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One call to an Exoscale endpoint, as the simulator saw and answered it.

    ``operation_id`` is None when the path matched no operation; ``fault`` names the injected
    fault that shaped the call (e.g. ``"http-503"``, ``"operation-failure"``), if any; ``at`` is
    the simulator clock's monotonic reading.
    """

    zone: str | None
    operation_id: str | None
    method: str
    path: str
    status: int
    fault: str | None
    at: float


class Cloud:
    """State and services shared by the request handlers and the control surface."""

    def __init__(
        self,
        *,
        seed: int,
        zones: tuple[str, ...] | None,
        clock: Clock,
        operation_latency: Latency,
        load_balancer_networks: tuple[str, ...] = LOAD_BALANCER_NETWORKS,
        instance_networks: tuple[str, ...] = INSTANCE_NETWORKS,
        measure_health: bool = False,
    ) -> None:
        requested = ZONES if zones is None else tuple(zones)
        served = tuple(zone for zone in ZONES if zone in requested)  # in the spec's order
        if not served or any(zone not in ZONES for zone in requested):
            raise ValueError(
                f"zones must be a non-empty list of Exoscale zones ({', '.join(ZONES)}); "
                f"got {list(zones or [])!r}"
            )
        self.lock = threading.RLock()
        self.clock = clock
        self.seed = seed
        self.zone_names = served
        self.keys: dict[str, ApiKey] = {}
        self.initial_latency = check_latency(operation_latency)
        self.load_balancer_networks = load_balancer_networks
        self.instance_networks = instance_networks
        # With a data plane, healthcheck-status reports what its probes measured.
        self.measure_health = measure_health
        # Bumped by reset() and clear_faults() to release requests hanging on an injected fault.
        self.hang_generation = 0
        self.reset()

    def reset(self) -> None:
        """Forget every resource, operation, fault and logged request; keep keys and zones."""
        self.ids = IdSource(_random_stream(self.seed, "ids"))
        self.zones = {
            name: Zone(
                name,
                History(self.change_time),
                measured_health={} if self.measure_health else None,
            )
            for name in self.zone_names
        }
        self.load_balancer_addresses = AddressPool(self.load_balancer_networks)
        self.instance_addresses = AddressPool(self.instance_networks)
        self._ipv6_counter = 0
        self.operations = OperationScheduler(
            self.clock,
            self.ids,
            _random_stream(self.seed, "latency"),
            self.initial_latency,
        )
        self.faults = FaultBook(_random_stream(self.seed, "faults"))
        # Which items a partial listing leaves out; apart from the faults' own draws, so that
        # adding a partial rule does not change when the other rules fire.
        self.listing_rng = _random_stream(self.seed, "listings")
        self.requests: list[RequestRecord] = []
        self.template: Fields = {"id": self.ids.uuid(), "name": "Linux Ubuntu 24.04 LTS 64-bit"}
        self.hang_generation += 1

    def zone(self, name: str) -> Zone:
        found = self.zones.get(name)
        if found is None:
            raise SimulatorLookupError(
                f"zone {name!r} is not served by this simulator (it serves "
                f"{', '.join(self.zone_names)})"
            )
        return found

    def change_time(self) -> float:
        """When a change being made happens on the simulator's clock (for lagging listings): now,
        or, for an Operation completed by lazy settling, the moment it was due."""
        due = self.operations.completing
        return self.clock.monotonic() if due is None else due

    def timestamp(self) -> str:
        """Now on the simulator clock, as the API writes dates."""
        return datetime.fromtimestamp(self.clock.time(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def allocate_ipv6(self) -> str:
        self._ipv6_counter += 1
        return f"{IPV6_PREFIX}{self._ipv6_counter:x}"


def _random_stream(seed: int, purpose: str) -> random.Random:
    """An independent generator per purpose, so drawing e.g. an ID never shifts the fault
    sequence. Reproducibility is the point here, not unpredictability."""
    return random.Random(f"{seed}:{purpose}")  # noqa: S311
