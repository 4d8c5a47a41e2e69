"""Node initialization end to end: real Nodes on the real apiserver, instances in the simulator."""

from __future__ import annotations

import anyio
import pytest

from exoccm.controllers.node.runner import NodeControllers
from exoccm.controllers.node.state import UNINITIALIZED_TAINT, has_taint
from exoccm.controllers.projections import project_node
from exoccm.engine.informer import Informer
from exoccm.kube.events import EventRecorder
from exoccm.kube.objects import Obj
from exoccm.kube.resources import NODES

from .conftest import OTHER_ZONE, TEST_LABEL, ZONE, NodeWorld, config_for, running, until

pytestmark = pytest.mark.anyio


def addresses(node: Obj) -> list[tuple[str, str]]:
    return [(a["type"], a["address"]) for a in node["status"].get("addresses") or []]


async def initialized(world: NodeWorld, *suffixes: str) -> bool:
    for suffix in suffixes:
        node = await world.node(suffix)
        if node is None or has_taint(node, UNINITIALIZED_TAINT):
            return False
    return True


async def test_provider_id_labels_and_taint(world: NodeWorld) -> None:
    instance = world.sim.add_instance(ZONE, world.name("a"), instance_type=("cpu", "huge"))
    await world.create_node(
        "a", system_uuid=instance["id"].upper(), uninitialized=True, labels={"keep": "me"}
    )
    async with running(world, config_for()):
        await until(lambda: initialized(world, "a"))
        await until(lambda: _has_reason(world, "a", "Synced"))

    node = await world.node("a")
    assert node is not None
    assert node["spec"]["providerID"] == f"exoscale://{instance['id']}"
    # Only our taint went; the apiserver's admission added not-ready, which stays.
    assert [t["key"] for t in node["spec"].get("taints") or []] == ["node.kubernetes.io/not-ready"]
    labels = node["metadata"]["labels"]
    assert labels["keep"] == "me"
    assert labels["node.kubernetes.io/instance-type"] == "cpu.huge"
    assert labels["beta.kubernetes.io/instance-type"] == "cpu.huge"
    for key in (
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
    ):
        assert labels[key] == ZONE


async def _has_reason(world: NodeWorld, suffix: str, reason: str) -> bool:
    return reason in await world.event_reasons(suffix)


async def test_lookup_by_ip_and_other_zone(world: NodeWorld) -> None:
    by_ip = world.sim.add_instance(ZONE, world.name("by-ip"))
    elsewhere = world.sim.add_instance(OTHER_ZONE, world.name("elsewhere"))
    world.inventories.zone(OTHER_ZONE)  # a zone exoccm lists (e.g. for a Service)
    # No systemUUID: only the kubelet's address identifies the instance.
    await world.create_node(
        "by-ip", uninitialized=True, addresses=[("InternalIP", by_ip["public-ip"])]
    )
    await world.create_node("elsewhere", system_uuid=elsewhere["id"], uninitialized=True)
    async with running(world, config_for()):
        await until(lambda: initialized(world, "by-ip", "elsewhere"))

    node = await world.node("by-ip")
    assert node is not None
    assert node["spec"]["providerID"] == f"exoscale://{by_ip['id']}"
    node = await world.node("elsewhere")
    assert node is not None
    assert node["spec"]["providerID"] == f"exoscale://{elsewhere['id']}"
    assert node["metadata"]["labels"]["topology.kubernetes.io/zone"] == OTHER_ZONE
    assert node["metadata"]["labels"]["topology.kubernetes.io/region"] == OTHER_ZONE


async def test_unknown_node_stays_uninitialized_with_warning(world: NodeWorld) -> None:
    known = world.sim.add_instance(ZONE, world.name("known"))
    await world.create_node(
        "unknown",
        system_uuid="0b5c6c5e-7d0a-4f43-9d8e-2a2f0c6f8a11",
        uninitialized=True,
        addresses=[("InternalIP", "192.0.2.77")],
    )
    await world.create_node("known", system_uuid=known["id"], uninitialized=True)
    # Its instance exists, but the kubelet registered it for another cloud provider.
    await world.create_node(
        "foreign", system_uuid=known["id"], uninitialized=True, provider_id="aws:///i-0123"
    )
    async with running(world, config_for()) as run:
        await until(lambda: initialized(world, "known"))
        await until(lambda: _has_reason(world, "foreign", "InstanceNotFound"))
        # Retried with backoff: the (deduplicated) Event's count grows.
        await until(lambda: _not_found_count(world, "unknown", at_least=2))
        assert all(controller.running for controller in run.controllers.controllers)

    node = await world.node("unknown")
    assert node is not None
    assert has_taint(node, UNINITIALIZED_TAINT)
    assert not node["spec"].get("providerID")
    [event] = [e for e in await world.events("unknown") if e["reason"] == "InstanceNotFound"]
    assert event["type"] == "Warning"
    assert "0b5c6c5e-7d0a-4f43-9d8e-2a2f0c6f8a11" in event["message"]
    assert "192.0.2.77" in event["message"]
    assert ZONE in event["message"]
    assert world.sim.count("get-instance") == 0  # never one call per Node
    foreign = await world.node("foreign")
    assert foreign is not None
    assert has_taint(foreign, UNINITIALIZED_TAINT)
    assert foreign["spec"]["providerID"] == "aws:///i-0123"


async def _not_found_count(world: NodeWorld, suffix: str, at_least: int) -> bool:
    events = [e for e in await world.events(suffix) if e["reason"] == "InstanceNotFound"]
    return bool(events) and int(events[0].get("count") or 0) >= at_least


async def test_burst_of_new_nodes_costs_one_listing(world: NodeWorld) -> None:
    instances = [world.sim.add_instance(ZONE, world.name(f"n{i}")) for i in range(12)]
    for i, instance in enumerate(instances):
        await world.create_node(f"n{i}", system_uuid=instance["id"], uninitialized=True)
    async with running(world, config_for(enabled=frozenset({"node"}))):
        await until(lambda: initialized(world, *(f"n{i}" for i in range(12))))
    assert world.sim.count("list-instances", zone=ZONE) == 1
    assert world.sim.count("get-instance-type", zone=ZONE) == 1  # one type, cached
    assert world.sim.count("get-instance") == 0


async def test_initialized_nodes_keep_correct_labels_from_the_cache(world: NodeWorld) -> None:
    instances = [world.sim.add_instance(ZONE, world.name(f"i{i}")) for i in range(5)]
    for i, instance in enumerate(instances):
        await world.create_node(
            f"i{i}",
            provider_id=f"exoscale://{instance['id']}",
            labels={"node.kubernetes.io/instance-type": "stale.value"},
        )

    async def labelled() -> bool:
        for i in range(5):
            node = await world.node(f"i{i}")
            labels = (node or {}).get("metadata", {}).get("labels", {})
            if labels.get("node.kubernetes.io/instance-type") != "standard.medium":
                return False
            if labels.get("failure-domain.beta.kubernetes.io/zone") != ZONE:
                return False
        return True

    async with running(world, config_for(enabled=frozenset({"node"}))):
        await until(labelled)
    # One listing at a cold start for all of them, one type lookup, no per-Node call.
    assert world.sim.count("list-instances") == 1
    assert world.sim.count("get-instance-type") == 1
    assert world.sim.count("get-instance") == 0


async def test_a_reconcile_on_a_cache_still_showing_the_tainted_node_writes_and_reports_nothing(
    world: NodeWorld,
) -> None:
    """A Node queued again while its initialization runs (a kubelet status report arrives) can
    be reconciled before the initializing write's watch event reaches the cache."""
    instance = world.sim.add_instance(ZONE, world.name("a"))
    await world.create_node("a", system_uuid=instance["id"], uninitialized=True)
    nodes = Informer(
        world.controller_kube,
        NODES,
        transform=project_node,
        label_selector=f"{TEST_LABEL}={world.tag}",
        name=f"nodes-{world.tag}",
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(nodes.run)
        with anyio.fail_after(30):
            await nodes.wait_synced()
        tg.cancel_scope.cancel()  # the cache stays as it was: the Node still tainted
    controllers = NodeControllers(
        kube=world.controller_kube,
        nodes=nodes,
        csrs=nodes,
        inventories=world.inventories,
        recorder=EventRecorder(world.controller_kube, "exoccm-test"),
        config=config_for(enabled=frozenset({"node"})),
    )
    assert controllers.initializer is not None
    key = world.name("a")

    await controllers.initializer.reconcile(key)
    assert await initialized(world, "a")
    writes = len(world.controller_kube.node_writes())
    await controllers.initializer.reconcile(key)  # the same stale cached Node

    assert len(world.controller_kube.node_writes()) == writes + 1, "one patch, refused as stale"
    synced = [e for e in await world.events("a") if e.get("reason") == "Synced"]
    assert len(synced) == 1, "the Node was reported initialized twice"
    assert synced[0].get("count", 1) == 1
