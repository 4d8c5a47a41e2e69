"""The drift pass and the orphan collector in-process, pass by pass, on virtual time: the real
apiserver for the Services, the simulator app over ASGI (see conftest.py).

A pass re-lists a zone only when its listing is older than half a drift period (60 s here), so
a test advances the clock by a period to make the next pass list again, or does not, to have
the next pass decide on the listing the last one took.
"""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from exoccm.controllers.service.drift import CollectorLimits
from exoccm.engine.controller import DONE
from exoccm.sim import Fault
from tests.integration.service.conftest import ServiceWorld, running
from tests.unit.service.cloud import OTHER_ZONE, ZONE

pytestmark = pytest.mark.anyio

PERIOD = 60.0


def deleted_metric(zone: str = ZONE) -> float:
    return REGISTRY.get_sample_value("exoccm_orphan_nlbs_deleted_total", {"zone": zone}) or 0.0


def blocked_metric() -> float | None:
    return REGISTRY.get_sample_value("exoccm_orphan_collection_blocked")


def calls_on(world: ServiceWorld, operation: str, lb_id: str, since: int = 0) -> list[int]:
    """Positions in the simulator's request log of ``operation`` calls about NLB ``lb_id``,
    from position ``since`` on."""
    return [
        n
        for n, r in enumerate(world.sim.requests)
        if n >= since and r.operation_id == operation and r.path.rstrip("/").endswith(lb_id)
    ]


async def test_an_orphan_goes_on_the_second_pass_after_a_read_by_id(world: ServiceWorld) -> None:
    async with running(world) as run:
        orphan = await world.orphan_nlb()
        drift = run.drift()
        before, start = deleted_metric(), world.calls()
        await drift.pass_once()
        assert world.nlb(orphan.id) is not None, "one pass only suspects"
        assert calls_on(world, "get-load-balancer", orphan.id, start) == []

        world.time.advance(PERIOD)
        await drift.pass_once()
        assert world.nlb(orphan.id) is None
        [delete] = calls_on(world, "delete-load-balancer", orphan.id)
        [read] = calls_on(world, "get-load-balancer", orphan.id, start)
        assert read < delete, "the API is asked before deleting"
        assert deleted_metric() == before + 1
        assert world.inventories.zone(ZONE).cached(orphan.id) is None


async def test_the_read_before_deleting_overrules_the_listing(world: ServiceWorld) -> None:
    async with running(world) as run:
        relabelled = await world.orphan_nlb()
        vanished = await world.orphan_nlb()
        drift = run.drift()
        start = world.calls()
        await drift.pass_once()
        # Between the passes, one is taken over by hand, the other deleted. The next pass comes
        # within half a period: it decides on the listing the first took, which still shows
        # both as exoccm's orphans.
        world.sim.edit_load_balancer(ZONE, relabelled.id, labels={"team": "platform"})
        world.sim.delete_load_balancer_out_of_band(ZONE, vanished.id)
        await drift.pass_once()
        assert world.calls("delete-load-balancer") == 0
        assert world.nlb(relabelled.id) is not None
        assert calls_on(world, "get-load-balancer", relabelled.id, start)
        assert calls_on(world, "get-load-balancer", vanished.id, start)
        assert world.inventories.zone(ZONE).cached(vanished.id) is None, "a 404 is proof"

        # Neither is a suspect any more: the next passes delete nothing.
        world.time.advance(PERIOD)
        await drift.pass_once()
        world.time.advance(PERIOD)
        await drift.pass_once()
        assert world.calls("delete-load-balancer") == 0


async def test_a_pass_deletes_at_most_its_limit(world: ServiceWorld) -> None:
    async with running(world) as run:
        orphans = [await world.orphan_nlb() for _ in range(3)]
        drift = run.drift(CollectorLimits(delete_limit=2, max_share=1.0))
        await drift.pass_once()
        world.time.advance(PERIOD)
        await drift.pass_once()
        assert world.calls("delete-load-balancer") == 2
        assert len(world.nlbs()) == 1
        world.time.advance(PERIOD)
        await drift.pass_once()
        assert world.calls("delete-load-balancer") == 3
        assert world.nlbs() == []
        assert all(world.inventories.zone(ZONE).cached(o.id) is None for o in orphans)


async def test_a_pass_that_would_delete_too_many_deletes_none_and_says_so_once(
    world: ServiceWorld,
) -> None:
    warnings: list[str] = []

    async def warn(message: str) -> None:
        warnings.append(message)

    await world.create_service("web", 80)
    async with running(world) as run:
        await run.reconcile("web")
        orphans = [await world.orphan_nlb() for _ in range(3)]
        drift = run.drift(warn=warn)
        for _ in range(3):  # suspected, refused, refused again
            world.time.advance(PERIOD)
            await drift.pass_once()
        assert world.calls("delete-load-balancer") == 0
        assert len(world.nlbs()) == 4
        assert blocked_metric() == 1
        [message] = warnings
        assert message.startswith("Not deleting 3 of exoccm's 4 NLBs")
        assert "EXOCCM_ORPHAN_MAX_SHARE (0.5)" in message
        assert all(f"{ZONE}/{o.id}" in message for o in orphans)

        # Once the NLBs are gone (deleted by hand), the collector is no longer blocked.
        for orphan in orphans:
            world.sim.delete_load_balancer_out_of_band(ZONE, orphan.id)
        world.time.advance(PERIOD)
        await drift.pass_once()
        assert not drift.blocked
        assert blocked_metric() == 0
        assert len(warnings) == 1


async def test_one_orphan_of_one_is_not_a_blast(world: ServiceWorld) -> None:
    """The share rule needs at least two NLBs to delete: a lone leftover is collected."""
    async with running(world) as run:
        orphan = await world.orphan_nlb()
        drift = run.drift()
        await drift.pass_once()
        world.time.advance(PERIOD)
        await drift.pass_once()
        assert world.nlb(orphan.id) is None
        assert not drift.blocked


async def test_nlbs_two_listings_left_out_are_read_by_id_and_only_a_404_removes_them(
    world: ServiceWorld,
) -> None:
    await world.create_service("web", 80)
    async with running(world) as run:
        await run.reconcile("web")
        [nlb] = world.nlbs()
        enqueued: list[list[str]] = []
        drift = run.drift(enqueued=enqueued)
        start = world.calls()
        world.sim.inject("list-load-balancers", Fault.listing_empty(), zone=ZONE)

        world.time.advance(PERIOD)
        await drift.pass_once()
        assert calls_on(world, "get-load-balancer", nlb["id"], start) == [], "one omission is not"
        world.time.advance(PERIOD)
        await drift.pass_once()
        assert len(calls_on(world, "get-load-balancer", nlb["id"], start)) == 1, "two: read by ID"
        assert world.inventories.zone(ZONE).cached(nlb["id"]) is not None, "it exists"
        calls = world.calls()
        assert await run.reconcile("web") == DONE
        assert world.calls() == calls, "the Service is still converged, from the cache"

        # Now it is really gone: two omissions later, the 404 removes it and the Service that
        # names it is queued.
        world.sim.delete_load_balancer_out_of_band(ZONE, nlb["id"])
        world.time.advance(PERIOD)
        await drift.pass_once()
        assert world.inventories.zone(ZONE).cached(nlb["id"]) is not None
        enqueued.clear()
        world.time.advance(PERIOD)
        await drift.pass_once()
        key = run.key("web")
        assert enqueued == [[key], [key]], "queued as gone, then as every pass queues it"
        assert world.inventories.zone(ZONE).cached(nlb["id"]) is None

        world.sim.clear_faults()
        await run.reconcile("web")
        [new] = world.nlbs()
        assert new["id"] != nlb["id"]
        assert "LoadBalancerNotFound" in await world.reasons("web")


async def test_the_first_pass_surveys_every_zone_and_later_ones_only_those_in_use(
    world: ServiceWorld,
) -> None:
    idle = "at-vie-1"
    async with running(world, known_zones=frozenset({ZONE, OTHER_ZONE, idle})) as run:
        elsewhere = await world.orphan_nlb(OTHER_ZONE)
        drift = run.drift()
        await drift.pass_once()
        assert world.calls("list-load-balancers", zone=idle) == 1
        world.time.advance(PERIOD)
        await drift.pass_once()
        assert world.calls("list-load-balancers", zone=idle) == 1, "nothing of exoccm's there"
        assert world.nlbs(OTHER_ZONE) == [], "the zone holding exoccm's NLB is watched"
        assert calls_on(world, "delete-load-balancer", elsewhere.id)


async def test_a_zone_that_cannot_be_listed_does_not_stop_the_pass(world: ServiceWorld) -> None:
    async with running(world) as run:
        orphan = await world.orphan_nlb()
        world.sim.inject("list-load-balancers", Fault.http(503), zone=OTHER_ZONE)
        drift = run.drift()
        await drift.pass_once()
        world.time.advance(PERIOD)
        await drift.pass_once()
        assert drift.passes == 2
        assert world.nlb(orphan.id) is None
