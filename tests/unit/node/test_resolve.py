"""Finding instances across zones from the listings, against the in-process simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from exoccm.controllers.inventory import Inventories
from exoccm.controllers.node.resolve import InstanceLocator, Located, Miss
from exoccm.exoscale import Credentials, ExoscaleClients
from exoccm.sim import Simulator

pytestmark = pytest.mark.anyio

ZONE = "de-muc-1"
OTHER = "ch-gva-2"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim() -> Simulator:
    return Simulator(seed=3)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def locator(sim: Simulator, clock: Clock) -> AsyncIterator[InstanceLocator]:
    key = sim.add_api_key()
    async with ExoscaleClients(
        Credentials.of(*key),
        zone=ZONE,
        endpoint="http://sim.invalid/{zone}/v2",
        transport=httpx.ASGITransport(app=sim.app),
    ) as clients:
        yield InstanceLocator(Inventories(clients.zone, clock=clock), ZONE, miss_refresh_age=10)


def node(system_uuid: str = "", **parts: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "n", "labels": parts.get("labels", {})},
        "spec": {"providerID": parts["provider_id"]} if "provider_id" in parts else {},
        "status": {
            "nodeInfo": {"systemUUID": system_uuid},
            "addresses": [{"type": "InternalIP", "address": ip} for ip in parts.get("ips", [])],
        },
    }


async def test_lookups_list_once_then_use_the_cache(
    sim: Simulator, locator: InstanceLocator
) -> None:
    a = sim.add_instance(ZONE, "a")
    b = sim.add_instance(ZONE, "b")
    found = await locator.locate_node(node(a["id"]))
    assert isinstance(found, Located)
    assert (found.instance.id, found.zone) == (a["id"], ZONE)
    by_ip = await locator.locate_node(node(ips=[b["public-ip"]]))
    assert isinstance(by_ip, Located)
    assert by_ip.instance.id == b["id"]
    assert locator.locate_node_cached(node(provider_id=f"exoscale://{a['id']}")) is not None
    assert sim.count("list-instances") == 1


async def test_a_miss_refreshes_only_a_listing_old_enough(
    sim: Simulator, locator: InstanceLocator, clock: Clock
) -> None:
    await locator.locate_node(node("0b5c6c5e-7d0a-4f43-9d8e-2a2f0c6f8a11"))  # lists: a miss
    late = sim.add_instance(ZONE, "late")
    young = await locator.locate_node(node(late["id"]))
    assert isinstance(young, Miss)
    assert not young.conclusive  # the listing may predate the instance
    assert young.retry_in is not None
    assert 10 <= young.retry_in < 11
    assert sim.count("list-instances") == 1
    clock.now += 10.5
    found = await locator.locate_node(node(late["id"]))
    assert isinstance(found, Located)
    assert sim.count("list-instances") == 2
    clock.now += 10.5
    unknown = await locator.locate_node(node("0b5c6c5e-7d0a-4f43-9d8e-2a2f0c6f8a11"))
    assert isinstance(unknown, Miss)
    assert unknown.conclusive  # a listing fetched for this very lookup
    assert unknown.zones == (ZONE,)


async def test_zones_searched_default_first_then_label_then_listed(
    sim: Simulator, locator: InstanceLocator
) -> None:
    there = sim.add_instance(OTHER, "there")
    assert isinstance(await locator.locate_node(node(there["id"])), Miss)  # OTHER not known
    labelled = node(there["id"], labels={"topology.kubernetes.io/zone": OTHER})
    found = await locator.locate_node(labelled)
    assert isinstance(found, Located)
    assert found.zone == OTHER
    # Now OTHER is a listed zone: any Node's search includes it.
    zones, complete = locator.zones_for(node())
    assert [z.zone for z in zones] == [ZONE, OTHER]
    assert complete
    # Labels that are not zones are no reason to create a client.
    zones, _ = locator.zones_for(node(labels={"topology.kubernetes.io/zone": "on-prem"}))
    assert [z.zone for z in zones] == [ZONE, OTHER]


async def test_unservable_zone_makes_the_search_incomplete(sim: Simulator) -> None:
    key = sim.add_api_key()
    async with ExoscaleClients(
        Credentials.of(*key),
        zone=ZONE,
        endpoint=f"http://sim.invalid/{ZONE}/v2",  # no {zone}: serves ZONE only
        transport=httpx.ASGITransport(app=sim.app),
    ) as clients:
        locator = InstanceLocator(Inventories(clients.zone), ZONE)
        labelled = node(labels={"topology.kubernetes.io/zone": OTHER})
        zones, complete = locator.zones_for(labelled)
        assert [z.zone for z in zones] == [ZONE]
        assert not complete
        assert not await locator.confirm_gone("0b5c6c5e-7d0a-4f43-9d8e-2a2f0c6f8a11", labelled)
    assert sim.count("get-instance") == 0


async def test_confirm_gone(sim: Simulator, locator: InstanceLocator, clock: Clock) -> None:
    kept = sim.add_instance(ZONE, "kept")
    doomed = sim.add_instance(ZONE, "doomed")
    assert not await locator.confirm_gone(kept["id"], node())  # listed: no get-instance
    assert sim.count("get-instance") == 0
    sim.delete_instance(ZONE, doomed["id"])
    clock.now += 11  # the listing may be refreshed
    assert await locator.confirm_gone(doomed["id"], node())
    assert sim.count("get-instance", status=404) == 1
    # Created after a listing too young to refresh: get-instance says it exists.
    newer = sim.add_instance(ZONE, "newer")
    assert not await locator.confirm_gone(newer["id"], node())
    assert sim.count("get-instance", status=200) == 1


async def test_instances_named_case_insensitively(sim: Simulator, locator: InstanceLocator) -> None:
    sim.add_instance(ZONE, "Worker-1")
    sim.add_instance(ZONE, "twin")
    sim.add_instance(ZONE, "twin")
    found = await locator.instances_named("worker-1")
    assert isinstance(found, list)
    assert [located.instance.name for located in found] == ["Worker-1"]
    twins = await locator.instances_named("TWIN")
    assert isinstance(twins, list)
    assert len(twins) == 2
    assert isinstance(await locator.instances_named("nobody"), Miss)


async def test_instance_type_looked_up_once(sim: Simulator, locator: InstanceLocator) -> None:
    instance = sim.add_instance(ZONE, "typed", instance_type=("memory", "huge"))
    found = await locator.locate_node(node(instance["id"]))
    assert isinstance(found, Located)
    assert found.instance.instance_type is not None
    type_id = found.instance.instance_type.id
    names: list[str] = []

    async def lookup() -> None:
        names.append(await locator.instance_type_name(ZONE, type_id))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(lookup)
    assert names == ["memory.huge"] * 5
    assert sim.count("get-instance-type") == 1


async def test_unlisted_zones_are_listed_before_stale_ones_are_refreshed(
    sim: Simulator, locator: InstanceLocator, clock: Clock
) -> None:
    here = sim.add_instance(ZONE, "here")
    there = sim.add_instance(OTHER, "there")
    assert isinstance(await locator.locate_node(node(here["id"])), Located)
    clock.now += 60  # ZONE's listing is now old enough to refresh
    locator.inventories.zone(OTHER)  # a zone exoccm works in, not listed yet
    found = await locator.locate_node(node(there["id"]))
    assert isinstance(found, Located)
    assert found.zone == OTHER
    assert sim.count("list-instances", zone=ZONE) == 1  # not re-listed for nothing
    assert sim.count("list-instances", zone=OTHER) == 1
