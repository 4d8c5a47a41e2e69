"""Choosing a Service's target Instance Pool against the in-process simulator: SKS node pools,
the pool annotation (a listing that leaves a pool out is no proof it does not exist), and
inference from the Nodes' instances."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from exoccm.controllers.inventory import ZoneInventory
from exoccm.controllers.service.annotations import PREFIX
from exoccm.controllers.service.decide import ServiceContext
from exoccm.controllers.service.pool import PoolChoice, PoolError, choose_pool
from exoccm.sim import Fault, Simulator
from tests.unit.service.cloud import ZONE, VirtualTime, inventories_of, sim_clients

pytestmark = pytest.mark.anyio

CONTEXT = ServiceContext(ZONE, frozenset({ZONE}), "test-cluster")


@dataclass
class Zone:
    sim: Simulator
    inventory: ZoneInventory
    pools: list[str]

    async def choose(
        self, nodes: list[Mapping[str, Any]] | None = None, **annotations: str
    ) -> PoolChoice:
        service = {
            "metadata": {
                "annotations": {PREFIX + k.replace("_", "-"): v for k, v in annotations.items()}
            }
        }
        settings, problems = CONTEXT.settings_of(service)
        assert problems == []
        return await choose_pool(settings, nodes or [], self.inventory)


@pytest.fixture
async def zone() -> AsyncIterator[Zone]:
    sim = Simulator(seed=9)
    pools = [str(sim.add_instance_pool(ZONE, name)["id"]) for name in ("blue", "green")]
    time = VirtualTime()
    async with sim_clients(sim, time) as clients:
        yield Zone(sim, inventories_of(clients, time).zone(ZONE), pools)


def node_on(instance: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": instance["name"]},
        "spec": {"providerID": f"exoscale://{instance['id']}"},
    }


async def test_an_sks_node_pool_targets_its_instance_pool(zone: Zone) -> None:
    zone.sim.add_sks_cluster(
        ZONE, "prod", nodepools=[{"name": "Workers", "instance_pool_id": zone.pools[1]}]
    )
    choice = await zone.choose(sks_cluster_name="prod", service_sks_nodepool_name="workers")
    assert choice == PoolChoice(zone.pools[1], "sks-nodepool")

    with pytest.raises(PoolError, match=r"no node pool named 'db'.*its node pools: Workers"):
        await zone.choose(sks_cluster_name="prod", service_sks_nodepool_name="db")
    with pytest.raises(PoolError, match=r"SKS cluster 'staging' .* was not found in zone"):
        await zone.choose(sks_cluster_name="staging", service_sks_nodepool_name="workers")
    assert zone.sim.count("list-sks-clusters") == 1, "misses re-list at most every 2 seconds"


async def test_an_annotated_pool_left_out_of_the_listing_is_confirmed_by_id(zone: Zone) -> None:
    zone.sim.inject("list-instance-pools", Fault.listing_partial(ids=[zone.pools[0]]))
    choice = await zone.choose(service_instancepool_id=zone.pools[0])
    assert choice == PoolChoice(zone.pools[0], "annotation")
    assert zone.sim.count("get-instance-pool") == 1


async def test_an_annotated_pool_that_does_not_exist_is_named_in_the_error(zone: Zone) -> None:
    missing = "0c0ffee0-0000-4000-8000-000000000000"
    with pytest.raises(PoolError, match=rf"Instance Pool {missing} .* does not exist in zone"):
        await zone.choose(service_instancepool_id=missing)
    assert zone.sim.count("get-instance-pool", status=404) == 1


async def test_nodes_on_several_pools_ask_for_the_annotation(zone: Zone) -> None:
    nodes: list[Mapping[str, Any]] = [
        node_on(zone.sim.add_instance(ZONE, f"n{i}", pool_id=pool))
        for i, pool in enumerate(zone.pools)
    ]
    with pytest.raises(PoolError, match="multiple Instance Pools detected"):
        await zone.choose(nodes)
    assert await zone.choose(nodes[1:]) == PoolChoice(zone.pools[1], "inferred")
