"""Node lifecycle end to end: vanished instances, the shutdown taint, address refresh, API cost."""

from __future__ import annotations

from typing import Any

import pytest

from exoccm.config.cloudconfig import InstanceOverride, InstancesConfig
from exoccm.controllers.node.runner import NodeControllerConfig
from exoccm.controllers.node.state import SHUTDOWN_TAINT, UNINITIALIZED_TAINT, has_taint
from exoccm.kube.objects import Obj
from exoccm.kube.resources import NODES

from .conftest import OTHER_ZONE, ZONE, NodeWorld, config_for, running, settled, until

pytestmark = pytest.mark.anyio


async def gone(world: NodeWorld, suffix: str) -> bool:
    return await world.node(suffix) is None


async def tainted(world: NodeWorld, suffix: str, key: str) -> bool:
    node = await world.node(suffix)
    return node is not None and has_taint(node, key)


async def initialized_node(world: NodeWorld, suffix: str, zone: str = ZONE, **kw: Any) -> Obj:
    """An instance and its Node as the node controller leaves it (providerID set, no taint)."""
    instance = world.sim.add_instance(zone, world.name(suffix), **kw)
    await world.create_node(
        suffix,
        provider_id=f"exoscale://{instance['id']}",
        system_uuid=instance["id"],
        addresses=[("Hostname", world.name(suffix))],
    )
    return instance


async def test_node_of_deleted_instance_is_deleted_once_not_ready(world: NodeWorld) -> None:
    doomed = await initialized_node(world, "doomed")
    await initialized_node(world, "survivor")
    async with running(world, config_for()) as run:
        await until(lambda: settled(run.controllers))
        world.sim.delete_instance(ZONE, doomed["id"])
        await run.controllers.refresh()
        await until(lambda: settled(run.controllers))
        # The kubelet is still heartbeating (Ready): nothing is deleted, nothing is asked.
        assert await world.node("doomed") is not None
        assert world.sim.count("get-instance") == 0
        # Its kubelet went silent: the Node is judged at once, confirmed 404, deleted.
        await world.set_ready("doomed", False)
        await until(lambda: gone(world, "doomed"))
    assert await world.node("survivor") is not None
    assert world.sim.count("get-instance", status=404) >= 1
    [event] = [e for e in await world.events("doomed") if e["reason"] == "DeletingNode"]
    assert event["type"] == "Normal"
    assert event["message"] == (
        f"Deleting node {world.name('doomed')} because it does not exist in the cloud provider"
    )


async def test_nodes_never_deleted(world: NodeWorld) -> None:
    """NotReady Nodes without an exoscale://<uuid> providerID, or with an external override,
    are never judged (no API call either)."""
    await world.create_node("foreign", provider_id="aws:///eu-west-1a/i-0123", ready=False)
    await world.create_node("bare", ready=False)
    await world.create_node("edge", provider_id="exoscale://edge-1", ready=False)
    await world.create_node("odd", provider_id="exoscale://not-a-uuid", ready=False)
    await world.create_node(
        "hashed", provider_id="exoscale://0b5c6c5e-7d0a-4f43-9d8e-2a2f0c6f8a11", ready=False
    )
    overrides = (
        InstanceOverride(name=world.name("edge"), external=True, external_id="edge-1"),
        InstanceOverride(name=f"/^{world.tag}-hash/", external=True),
    )
    config = config_for(instances=InstancesConfig(overrides=overrides))
    async with running(world, config) as run:
        await until(lambda: settled(run.controllers))
        await run.controllers.refresh()
        await until(lambda: settled(run.controllers))
    for suffix in ("foreign", "bare", "edge", "odd", "hashed"):
        assert await world.node(suffix) is not None, suffix
    assert world.sim.count("get-instance") == 0


async def test_instance_newer_than_the_listing_is_not_taken_for_gone(world: NodeWorld) -> None:
    async with running(world, config_for()) as run:
        await until(lambda: settled(run.controllers))  # the first pass listed the zone
        late = await initialized_node(world, "late")
        await world.set_ready("late", False)  # judged at once, against a stale listing
        await until(lambda: settled(run.controllers))
        await run.controllers.refresh()
        await until(lambda: settled(run.controllers))
    assert await world.node("late") is not None
    assert world.sim.count("get-instance", status=404) == 0
    assert late["id"]


# The acceptance figures ("within 1 s", "within 10 s") are measured by bench/node_lifecycle.py;
# here they are checked with the production timings and a generous deadline each.
PROMPTLY = 10.0


def production_timing() -> NodeControllerConfig:
    return config_for(monitor_period=5.0, miss_refresh_age=2.0)


async def test_ready_node_gets_no_shutdown_taint(world: NodeWorld) -> None:
    """The kubelet still heartbeats while its instance shuts down: no taint yet (upstream's
    rule: the taint is for NotReady Nodes)."""
    instance = await initialized_node(world, "stopping")
    async with running(world, config_for()) as run:
        await until(lambda: settled(run.controllers))
        world.sim.set_instance_state(ZONE, instance["id"], "stopping")
        await run.controllers.refresh()
        await until(lambda: settled(run.controllers))
    assert not await tainted(world, "stopping", SHUTDOWN_TAINT)


async def test_shutdown_taint_follows_readiness(world: NodeWorld) -> None:
    """No refresh pass: the kubelet going silent gets the zone listed again, and the taint
    goes as soon as the kubelet reports Ready, whatever the listing says."""
    instance = await initialized_node(world, "napper")
    async with running(world, production_timing()) as run:
        await until(lambda: settled(run.controllers))
        world.sim.set_instance_state(ZONE, instance["id"], "stopped")
        await world.set_ready("napper", False)
        await until(lambda: tainted(world, "napper", SHUTDOWN_TAINT), timeout=PROMPTLY)
        node = await world.node("napper")
        assert node is not None
        [taint] = [t for t in node["spec"]["taints"] if t["key"] == SHUTDOWN_TAINT]
        assert taint["effect"] == "NoSchedule"

        # The kubelet reports Ready: the taint goes at once, with no listing to say the
        # instance runs (the simulator still says stopped: no call could have told us).
        gets = world.sim.count("get-instance")
        await world.set_ready("napper", True)
        await until(lambda: _not(tainted(world, "napper", SHUTDOWN_TAINT)), timeout=PROMPTLY)
        assert world.sim.count("get-instance") == gets
        assert run.controllers.lifecycle is not None
        assert run.controllers.lifecycle.passes == 1  # only the one at start
    node = await world.node("napper")
    assert node is not None
    assert [t["key"] for t in node["spec"].get("taints") or []] == ["node.kubernetes.io/not-ready"]


async def test_running_instance_of_not_ready_node_gets_no_taint(world: NodeWorld) -> None:
    """A silent kubelet on a running instance: nothing to do (upstream's rule)."""
    await initialized_node(world, "silent")
    async with running(world, config_for()) as run:
        await until(lambda: settled(run.controllers))
        lists = world.sim.count("list-instances")
        await world.set_ready("silent", False)
        await until(lambda: _more(world, "list-instances", lists))  # checked...
        await until(lambda: settled(run.controllers))
    node = await world.node("silent")
    assert node is not None
    assert not has_taint(node, SHUTDOWN_TAINT)  # ...and left alone


async def test_node_of_instance_deleted_behind_a_ready_node(world: NodeWorld) -> None:
    """No refresh pass: the Node turning Unknown is what gets its zone listed again."""
    doomed = await initialized_node(world, "doomed")
    async with running(world, production_timing()) as run:
        await until(lambda: settled(run.controllers))
        world.sim.delete_instance(ZONE, doomed["id"])
        await world.set_ready("doomed", False)
        await until(lambda: gone(world, "doomed"), timeout=PROMPTLY)
        assert run.controllers.lifecycle is not None
        assert run.controllers.lifecycle.passes == 1  # only the one at start
    assert world.sim.count("get-instance", status=404) >= 1


async def _more(world: NodeWorld, operation: str, than: int) -> bool:
    return world.sim.count(operation) > than


async def _not(awaitable: Any) -> bool:
    return not await awaitable


async def test_addresses_refreshed_and_patched_only_on_change(world: NodeWorld) -> None:
    instance = await initialized_node(world, "addr")
    expected = [
        {"type": "Hostname", "address": world.name("addr")},
        {"type": "ExternalIP", "address": instance["public-ip"]},
        {"type": "InternalIP", "address": instance["public-ip"]},
    ]

    async def has_expected() -> bool:
        node = await world.node("addr")
        return node is not None and node["status"].get("addresses") == expected

    async with running(world, config_for()) as run:
        await until(has_expected)  # the kubelet's lone Hostname was completed
        await until(lambda: settled(run.controllers))
        # Someone overwrites the addresses: put right at once (the Node update re-queues it).
        await world.kube.patch(
            NODES.path(name=world.name("addr"), subresource="status"),
            {"status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.1"}]}},
        )
        await until(has_expected)
        await until(lambda: settled(run.controllers))
        writes = len(world.controller_kube.node_writes())
        for _ in range(3):
            await run.controllers.refresh()
            await until(lambda: settled(run.controllers))
        assert len(world.controller_kube.node_writes()) == writes  # converged: no write


async def test_refresh_costs_one_list_per_zone_whatever_the_node_count(world: NodeWorld) -> None:
    world.inventories.zone(OTHER_ZONE)  # a second zone exoccm lists
    for i in range(20):
        instance = world.sim.add_instance(ZONE, world.name(f"a{i}"), ipv6="auto")
        await world.create_node(f"a{i}", system_uuid=instance["id"], uninitialized=True)
    for i in range(10):
        instance = world.sim.add_instance(OTHER_ZONE, world.name(f"b{i}"))
        await world.create_node(f"b{i}", system_uuid=instance["id"], uninitialized=True)
    suffixes = [f"a{i}" for i in range(20)] + [f"b{i}" for i in range(10)]

    async def all_initialized() -> bool:
        for suffix in suffixes:
            node = await world.node(suffix)
            if node is None or has_taint(node, UNINITIALIZED_TAINT):
                return False
        return True

    async with running(world, config_for()) as run:
        await until(all_initialized, timeout=60)
        await until(lambda: settled(run.controllers))
        lists = {zone: world.sim.count("list-instances", zone=zone) for zone in (ZONE, OTHER_ZONE)}
        gets = world.sim.count("get-instance")
        writes = len(world.controller_kube.node_writes())
        passes = 4
        for _ in range(passes):
            await run.controllers.refresh()
            await until(lambda: settled(run.controllers))
        assert run.controllers.lifecycle is not None
        assert run.controllers.lifecycle.passes == passes + 1  # + the one at start
    for zone in (ZONE, OTHER_ZONE):
        assert world.sim.count("list-instances", zone=zone) - lists[zone] == passes
    assert world.sim.count("get-instance") == gets == 0
    assert len(world.controller_kube.node_writes()) == writes  # and no Kubernetes write
