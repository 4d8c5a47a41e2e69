"""The NotReady monitor's API cost, on the real apiserver and the simulator, with a fake clock.

The inventories and the monitor run on a FakeClock, so "a period passes" is one ``advance``,
and the monitor's ``rounds`` counter tells when it has looked at the new time.
"""

from __future__ import annotations

import pytest

from exoccm.controllers.node.monitor import NotReadyMonitor
from exoccm.controllers.node.runner import NodeControllers
from exoccm.controllers.node.state import SHUTDOWN_TAINT, has_taint, is_ready
from exoccm.engine.clock import FakeClock
from exoccm.kube.objects import Obj
from exoccm.sim.faults import Fault

from .conftest import OTHER_ZONE, ZONE, NodeWorld, Running, config_for, running, settled, until

pytestmark = pytest.mark.anyio

PERIOD = 5.0
MIN_GAP = 2.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def fake(world: NodeWorld) -> FakeClock:
    assert isinstance(world.clock, FakeClock)
    return world.clock


async def initialized_node(world: NodeWorld, suffix: str, zone: str = ZONE) -> Obj:
    instance = world.sim.add_instance(zone, world.name(suffix))
    await world.create_node(
        suffix,
        provider_id=f"exoscale://{instance['id']}",
        system_uuid=instance["id"],
        labels={"topology.kubernetes.io/zone": zone},
        addresses=[("Hostname", world.name(suffix))],
    )
    return instance


def monitor_of(controllers: NodeControllers) -> NotReadyMonitor:
    assert controllers.monitor is not None
    return controllers.monitor


async def quiet(world: NodeWorld, controllers: NodeControllers) -> None:
    """Until the monitor waits with every Node change taken into account, and the controllers
    have worked through their queues."""

    async def monitor_idle() -> bool:
        return monitor_of(controllers).idle

    await until(monitor_idle)
    await until(lambda: settled(controllers))


async def set_ready(world: NodeWorld, run: Running, suffix: str, ready: bool) -> None:
    """Write the Node's Ready condition, and wait until the monitor has taken it into account."""
    await world.set_ready(suffix, ready)

    async def seen() -> bool:
        node = run.nodes.get(world.name(suffix))
        return node is not None and is_ready(node) == ready

    await until(seen)
    await quiet(world, run.controllers)


async def advance(world: NodeWorld, controllers: NodeControllers, seconds: float) -> None:
    """Move the clock; if that wakes the monitor, wait for its round; then until quiet."""
    monitor = monitor_of(controllers)
    before = monitor.rounds
    clock = fake(world)
    clock.advance(seconds)
    if monitor.next_at is not None and monitor.next_at <= clock.monotonic():

        async def woke() -> bool:
            return monitor.rounds > before

        await until(woke)
    await quiet(world, controllers)


def lists(world: NodeWorld, zone: str) -> int:
    return world.sim.count("list-instances", zone=zone)


async def test_no_call_between_refreshes_while_every_node_is_ready(world: NodeWorld) -> None:
    for i in range(3):
        await initialized_node(world, f"r{i}")
    async with running(world, config_for(monitor_period=PERIOD, miss_refresh_age=MIN_GAP)) as run:
        await quiet(world, run.controllers)
        calls = world.sim.count()
        for _ in range(12):  # a minute of monitor periods
            await advance(world, run.controllers, PERIOD)
        assert world.sim.count() == calls


async def test_one_list_per_zone_per_period_while_nodes_are_not_ready(world: NodeWorld) -> None:
    for i in range(3):
        await initialized_node(world, f"a{i}")
    await initialized_node(world, "b0", zone=OTHER_ZONE)
    await initialized_node(world, "b1", zone=OTHER_ZONE)
    world.inventories.zone(OTHER_ZONE)
    async with running(world, config_for(monitor_period=PERIOD, miss_refresh_age=MIN_GAP)) as run:
        await quiet(world, run.controllers)
        # Three silent kubelets in one zone: its instances are listed once, not three times.
        before = {zone: lists(world, zone) for zone in (ZONE, OTHER_ZONE)}
        for i in range(3):
            await set_ready(world, run, f"a{i}", False)
        await advance(world, run.controllers, MIN_GAP)
        assert lists(world, ZONE) == before[ZONE] + 1
        assert lists(world, OTHER_ZONE) == before[OTHER_ZONE]  # all Ready there
        # Then one list per period, for the zone with NotReady Nodes only.
        for k in range(1, 4):
            await advance(world, run.controllers, PERIOD)
            assert lists(world, ZONE) == before[ZONE] + 1 + k
        assert lists(world, OTHER_ZONE) == before[OTHER_ZONE]
        # One NotReady Node in the other zone adds that zone's list, still one per period.
        await set_ready(world, run, "b0", False)
        await advance(world, run.controllers, PERIOD)
        now = {zone: lists(world, zone) for zone in (ZONE, OTHER_ZONE)}
        await advance(world, run.controllers, PERIOD)
        assert lists(world, ZONE) == now[ZONE] + 1
        assert lists(world, OTHER_ZONE) == now[OTHER_ZONE] + 1
        # Every kubelet back: no list any more.
        for suffix in ("a0", "a1", "a2", "b0"):
            await set_ready(world, run, suffix, True)
        calls = world.sim.count()
        for _ in range(6):
            await advance(world, run.controllers, PERIOD)
        assert world.sim.count() == calls
        assert world.sim.count("get-instance") == 0


async def test_node_turning_not_ready_is_checked_within_the_minimum_gap(world: NodeWorld) -> None:
    instance = await initialized_node(world, "napper")
    async with running(world, config_for(monitor_period=PERIOD, miss_refresh_age=MIN_GAP)) as run:
        await quiet(world, run.controllers)
        world.sim.set_instance_state(ZONE, instance["id"], "stopped")
        before = lists(world, ZONE)
        # The zone was listed a moment ago (fake time has not moved since the first pass):
        # the listing predates the kubelet going silent, so a new one is taken MIN_GAP later.
        await set_ready(world, run, "napper", False)
        assert lists(world, ZONE) == before
        assert not has_taint(await _node(world, "napper"), SHUTDOWN_TAINT)
        await advance(world, run.controllers, MIN_GAP)
        assert lists(world, ZONE) == before + 1
        await until(lambda: _tainted(world, "napper"))


async def test_a_refused_listing_is_retried_when_the_api_asks(world: NodeWorld) -> None:
    """A 429 does not make the monitor spin: the zone waits for the Retry-After."""
    await initialized_node(world, "flaky")
    async with running(world, config_for(monitor_period=PERIOD, miss_refresh_age=MIN_GAP)) as run:
        await quiet(world, run.controllers)
        world.sim.inject("list-instances", Fault.rate_limited(retry_after=120), zone=ZONE)
        before = lists(world, ZONE)
        await set_ready(world, run, "flaky", False)
        await advance(world, run.controllers, MIN_GAP)
        assert lists(world, ZONE) == before + 1  # refused
        for _ in range(20):  # 100 s: neither the gap nor the period brings a retry...
            await advance(world, run.controllers, PERIOD)
        assert lists(world, ZONE) == before + 1
        world.sim.clear_faults()
        await advance(world, run.controllers, 20.0)  # ...the Retry-After does
        assert lists(world, ZONE) == before + 2


async def _node(world: NodeWorld, suffix: str) -> Obj:
    node = await world.node(suffix)
    assert node is not None
    return node


async def _tainted(world: NodeWorld, suffix: str) -> bool:
    return has_taint(await _node(world, suffix), SHUTDOWN_TAINT)
