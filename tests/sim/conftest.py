"""Fixtures for the simulator's tests: a manual-clock simulator and a spec-checking client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from exoccm.sim import Simulator
from exoccm.testing.loopback import LoopbackBlocks, random_blocks
from tests.sim.helpers import ZONE, OfficialSigner, api_client, check_httpx_response


@pytest.fixture
def sim() -> Simulator:
    return Simulator(seed=0, clock="manual")


@pytest.fixture
def credentials(sim: Simulator) -> tuple[str, str]:
    return sim.add_api_key()


@pytest.fixture
async def client(sim: Simulator, credentials: tuple[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """Signed by the official signer; every response is checked against the spec."""
    async with api_client(sim, credentials) as client:
        yield client


@pytest.fixture
def pool(sim: Simulator) -> dict[str, Any]:
    """An instance pool of three running members with public IPs."""
    created = sim.add_instance_pool(ZONE, "nodes")
    for index in range(3):
        sim.add_instance(ZONE, f"node-{index}", pool_id=created["id"])
    return created


# -- the data plane -----------------------------------------------------------------------------


@pytest.fixture
def blocks() -> LoopbackBlocks:
    """Loopback /16s of this test's own (tests on one machine must not share addresses)."""
    return random_blocks()


@pytest.fixture
async def dp_sim(blocks: LoopbackBlocks) -> AsyncIterator[Simulator]:
    """A simulator whose data plane carries traffic in this test's event loop."""
    sim = Simulator(seed=0, clock="manual", data_plane=True, networks=blocks.networks)
    assert sim.data_plane is not None
    async with sim.data_plane.running():
        yield sim


@pytest.fixture
async def dp_client(dp_sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``client``, for ``dp_sim``: signed officially, every answer checked against the spec."""
    key, secret = dp_sim.add_api_key()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=dp_sim.app),
        base_url=f"http://sim/{ZONE}/v2",
        auth=OfficialSigner(key, secret),
        event_hooks={"response": [check_httpx_response]},
    ) as client:
        yield client
