"""Fixtures: the simulator in-process, and clients on virtual time tied to its manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import anyio
import httpx
import pytest

from exoccm.exoscale import ClientOptions, Credentials, ExoscaleClients, RetryPolicy, WaitPolicy
from exoccm.sim import Simulator
from tests.unit.exoscale.faketime import FakeTime

ZONE = "de-muc-1"
SIM_ENDPOINT = "http://sim.invalid/{zone}/v2"


class SimTime(FakeTime):
    """Virtual time shared by the client and a simulator with a manual clock: a client sleep
    moves the simulator's clock too, so operations complete after the virtual delay."""

    def __init__(self, sim: Simulator) -> None:
        super().__init__(start=0.0)
        self.sim = sim

    async def sleep(self, seconds: float) -> None:
        self.sim.advance(max(0.0, seconds))
        await super().sleep(seconds)


@pytest.fixture
def sim() -> Simulator:
    return Simulator(seed=0, operation_latency=0.0, clock="manual")


@pytest.fixture
def api_key(sim: Simulator) -> tuple[str, str]:
    return sim.add_api_key()


@pytest.fixture
def sim_time(sim: Simulator) -> SimTime:
    return SimTime(sim)


def sim_options(time: FakeTime, **changes: object) -> ClientOptions:
    """Client options on virtual time, with a short operation deadline and no jitter."""
    base: dict[str, object] = {
        "clock": time.clock,
        "sleep": time.sleep,
        "retry": RetryPolicy(max_attempts=4, initial_backoff=0.5, max_backoff=4.0, jitter=0.0),
        "wait": WaitPolicy(timeout=60.0),
    }
    return ClientOptions(**(base | changes))  # type: ignore[arg-type]


def sim_clients(
    sim: Simulator, key: tuple[str, str], options: ClientOptions, **kwargs: object
) -> ExoscaleClients:
    return ExoscaleClients(
        Credentials.of(*key),
        zone=ZONE,
        endpoint=SIM_ENDPOINT,
        options=options,
        transport=httpx.ASGITransport(app=sim.app),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def clients(
    sim: Simulator, api_key: tuple[str, str], sim_time: SimTime
) -> AsyncIterator[ExoscaleClients]:
    async with sim_clients(sim, api_key, sim_options(sim_time)) as registry:
        yield registry


async def eventually(condition: Callable[[], bool], interval: float = 0.01) -> None:
    """Return once ``condition()`` holds; callers bound the wait with ``anyio.fail_after``."""
    while not condition():  # noqa: ASYNC110 - the conditions are plain state, not events
        await anyio.sleep(interval)
