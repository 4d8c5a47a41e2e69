"""Fixtures for the simulator's tests: a manual-clock simulator and a spec-checking client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from exoccm.sim import Simulator
from tests.sim.helpers import ZONE, api_client


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
