"""The Exoscale side of in-process service-controller tests: the simulator's ASGI app reached
through ``httpx.ASGITransport``, on virtual time.

exoccm's :class:`~exoccm.engine.clock.FakeClock` is the time of the zone inventories and of the
API client; the client's own sleeps (operation polls, retry pauses, the rate limiter) move it
on, so nothing waits in real time, and a test moves it by hand to age a listing.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio.lowlevel
import httpx

from exoccm.controllers.inventory import Inventories
from exoccm.engine.clock import FakeClock
from exoccm.exoscale import ClientOptions, Credentials, ExoscaleClients, RetryPolicy
from exoccm.exoscale.models import LoadBalancer
from exoccm.sim import Simulator

ZONE = "de-muc-1"
OTHER_ZONE = "ch-gva-2"
SIM_ENDPOINT = "http://sim.invalid/{zone}/v2"


class VirtualTime:
    """A :class:`FakeClock` that the client's sleeps advance."""

    def __init__(self) -> None:
        self.clock = FakeClock()

    def monotonic(self) -> float:
        return self.clock.monotonic()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    async def sleep(self, seconds: float) -> None:
        self.clock.advance(max(0.0, seconds))
        # Still a checkpoint, so other tasks run and cancellation works as with a real sleep.
        await anyio.lowlevel.checkpoint()


class Fence:
    """A leadership check the test opens and closes (the elector's ``still_leading``)."""

    def __init__(self) -> None:
        self.leading = True

    def __call__(self) -> bool:
        return self.leading


def sim_clients(
    sim: Simulator, time: VirtualTime, *, guard: Callable[[], bool] | None = None
) -> ExoscaleClients:
    """Clients of a fresh API key on ``sim``, on ``time``, retrying without jitter."""
    return ExoscaleClients(
        Credentials.of(*sim.add_api_key()),
        zone=ZONE,
        endpoint=SIM_ENDPOINT,
        options=ClientOptions(
            clock=time.monotonic,
            sleep=time.sleep,
            retry=RetryPolicy(max_attempts=3, initial_backoff=0.5, max_backoff=2.0, jitter=0.0),
        ),
        transport=httpx.ASGITransport(app=sim.app),
        guard=guard,
    )


def inventories_of(clients: ExoscaleClients, time: VirtualTime) -> Inventories:
    return Inventories(clients.zone, clock=time.monotonic)


def same_nlb(cached: LoadBalancer | None, listed: dict[str, object]) -> bool:
    """Whether the inventory's copy matches the simulator's NLB in what exoccm plans on."""
    if cached is None:
        return False
    services = listed.get("services") or []
    assert isinstance(services, list)
    return (
        cached.id == listed["id"]
        and cached.name == listed["name"]
        and (cached.description or "") == (listed.get("description") or "")
        and dict(cached.labels) == (listed.get("labels") or {})
        and sorted(s.id for s in cached.services) == sorted(str(s["id"]) for s in services)
    )
