"""cloud-config ``instances``: overrides (exact, regex, non-external), externalOnly, disabled."""

from __future__ import annotations

import hashlib

import pytest
import structlog

from exoccm.config.cloudconfig import InstanceOverride, InstancesConfig, NodeAddress
from exoccm.controllers.node.state import UNINITIALIZED_TAINT, has_taint
from exoccm.kube.objects import Obj

from .conftest import ZONE, NodeWorld, config_for, running, settled, until

pytestmark = pytest.mark.anyio


async def initialized(world: NodeWorld, *suffixes: str) -> bool:
    for suffix in suffixes:
        node = await world.node(suffix)
        if node is None or has_taint(node, UNINITIALIZED_TAINT):
            return False
    return True


def addresses(node: Obj) -> list[tuple[str, str]]:
    return [(a["type"], a["address"]) for a in node["status"].get("addresses") or []]


def topology(node: Obj) -> tuple[str, str, str]:
    labels = node["metadata"]["labels"]
    return (
        labels["node.kubernetes.io/instance-type"],
        labels["topology.kubernetes.io/zone"],
        labels["topology.kubernetes.io/region"],
    )


async def test_exact_and_regex_external_overrides(world: NodeWorld) -> None:
    kubelet_hostname = ("Hostname", "edge-host")
    await world.create_node("edge", uninitialized=True, addresses=[kubelet_hostname])
    await world.create_node("rx-1", uninitialized=True, addresses=[("InternalIP", "10.9.0.1")])
    await world.create_node("rx-2", uninitialized=True, addresses=[("InternalIP", "10.9.0.2")])
    overrides = (
        # Listed first and matching "edge" too, but an exact name wins over any regex.
        InstanceOverride(name=f"/^{world.tag}-(rx-|edge)/", external=True),
        InstanceOverride(
            name=world.name("edge"),
            external=True,
            external_id="edge-1",
            type="bare-metal",
            region="on-prem",
            addresses=(NodeAddress(type="InternalIP", address="10.0.0.5"),),
        ),
    )
    config = config_for(instances=InstancesConfig(overrides=overrides))
    async with running(world, config):
        await until(lambda: initialized(world, "edge", "rx-1", "rx-2"))

    edge = await world.node("edge")
    assert edge is not None
    assert edge["spec"]["providerID"] == "exoscale://edge-1"
    assert topology(edge) == ("bare-metal", "on-prem", "on-prem")
    # The override's addresses, plus the kubelet's Hostname (none in the override), as upstream.
    assert addresses(edge) == [("InternalIP", "10.0.0.5"), kubelet_hostname]
    provider_ids = set()
    for suffix, ip in (("rx-1", "10.9.0.1"), ("rx-2", "10.9.0.2")):
        node = await world.node(suffix)
        assert node is not None
        digest = hashlib.sha256(world.name(suffix).encode()).hexdigest()
        assert node["spec"]["providerID"] == f"exoscale://external-{digest}"
        provider_ids.add(node["spec"]["providerID"])
        assert topology(node) == ("external", "external", "external")
        assert addresses(node) == [("InternalIP", ip)]  # no override addresses: kubelet's kept
    assert len(provider_ids) == 2  # each regex-matched Node its own providerID
    # External Nodes cost no API call (the one listing is the lifecycle's startup pass).
    assert world.sim.count() == world.sim.count("list-instances") <= 1


async def test_non_external_override_adjusts_the_instance(world: NodeWorld) -> None:
    instance = world.sim.add_instance(ZONE, world.name("tuned"))
    await world.create_node("tuned", system_uuid=instance["id"], uninitialized=True)
    overrides = (
        InstanceOverride(
            name=world.name("tuned"),
            type="gpu.special",
            region="my-region",
            addresses=(
                NodeAddress(type="Hostname", address="tuned.example"),
                NodeAddress(type="InternalIP", address="10.1.2.3"),
            ),
        ),
    )
    config = config_for(instances=InstancesConfig(overrides=overrides))
    async with running(world, config) as run:
        await until(lambda: initialized(world, "tuned"))
        await until(lambda: settled(run.controllers))
        await run.controllers.refresh()  # the lifecycle's addresses agree with the override
        await until(lambda: settled(run.controllers))

    node = await world.node("tuned")
    assert node is not None
    assert node["spec"]["providerID"] == f"exoscale://{instance['id']}"
    assert topology(node) == ("gpu.special", "my-region", "my-region")
    assert addresses(node) == [("Hostname", "tuned.example"), ("InternalIP", "10.1.2.3")]
    assert world.sim.count("get-instance-type") == 0  # the override gives the type


async def test_external_only(world: NodeWorld) -> None:
    instance = world.sim.add_instance(ZONE, world.name("plain"))
    await world.create_node("plain", system_uuid=instance["id"], uninitialized=True)
    await world.create_node("edge", uninitialized=True)
    # Initialized before externalOnly was turned on; its kubelet is silent now.
    await world.create_node(
        "stale", provider_id=f"exoscale://{instance['id']}", system_uuid=instance["id"], ready=False
    )
    instances = InstancesConfig(
        external_only=True,
        overrides=(InstanceOverride(name=world.name("edge"), external=True),),
    )
    async with running(world, config_for(instances=instances)):
        await until(lambda: initialized(world, "edge"))
        await until(lambda: _reason(world, "plain", "InstanceNotFound"))
        # As the Go CCM: InstanceExists is false for it, so the NotReady one is deleted.
        await until(lambda: _gone(world, "stale"))

    plain = await world.node("plain")
    assert plain is not None
    assert has_taint(plain, UNINITIALIZED_TAINT)
    [event] = [e for e in await world.events("plain") if e["reason"] == "InstanceNotFound"]
    assert "externalOnly" in event["message"]
    assert world.sim.count() == 0  # the Exoscale API is not used for instances


async def _reason(world: NodeWorld, suffix: str, reason: str) -> bool:
    return reason in await world.event_reasons(suffix)


async def _gone(world: NodeWorld, suffix: str) -> bool:
    return await world.node(suffix) is None


async def test_disabled_instances(world: NodeWorld) -> None:
    instance = world.sim.add_instance(ZONE, world.name("idle"))
    await world.create_node("idle", system_uuid=instance["id"], uninitialized=True)
    # As Settings.enabled_controllers gives it: node and lifecycle already dropped, csr kept.
    config = config_for(instances=InstancesConfig(disabled=True), enabled=frozenset({"csr"}))
    with structlog.testing.capture_logs() as logs:
        async with running(world, config) as run:
            assert [c.name for c in run.controllers.controllers] == ["node-csr"]
            assert run.controllers.enabled == frozenset({"csr"})
    assert [e for e in logs if e["event"] == "Cloud provider does not support instances"]
    node = await world.node("idle")
    assert node is not None
    assert has_taint(node, UNINITIALIZED_TAINT)
    assert world.sim.count() == 0
