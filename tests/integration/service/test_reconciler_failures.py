"""The service reconciler when things go wrong: a stale cache, an API that fails, a Service
deleted mid-way, an NLB that became someone else's (see conftest.py for the set-up)."""

from __future__ import annotations

import pytest

from exoccm.controllers.service.desired import ownership_labels
from exoccm.engine.controller import DONE, RetryAfterError
from exoccm.exoscale import ServerError
from exoccm.kube.resources import SERVICES
from exoccm.sim import Fault
from tests.integration.service.conftest import ServiceWorld, running
from tests.unit.service.cloud import ZONE

pytestmark = pytest.mark.anyio


async def test_a_stale_cache_fails_the_finalizer_patch_before_any_cloud_write(
    world: ServiceWorld,
) -> None:
    await world.create_service("web", 80)
    async with running(world) as run:
        await run.caught_up("web")
        run.freeze()
        await world.kube.patch(
            SERVICES.path(world.namespace, "web"), {"metadata": {"labels": {"team": "shop"}}}
        )
        with pytest.raises(RetryAfterError, match="conflict writing the Service") as retry:
            await run.reconciler.reconcile(run.key("web"))
        assert retry.value.seconds == 1.0
        assert world.nlb_writes() == 0


async def test_a_service_deleted_while_it_is_reconciled_needs_nothing_more(
    world: ServiceWorld,
) -> None:
    await world.create_service("web", 80)
    async with running(world) as run:
        await run.caught_up("web")
        run.freeze()
        await world.kube.delete(SERVICES.path(world.namespace, "web"))
        assert await run.reconciler.reconcile(run.key("web")) == DONE
        assert world.nlb_writes() == 0


async def test_a_listing_that_cannot_be_read_is_reported_and_retried(world: ServiceWorld) -> None:
    await world.create_service("web", 80)
    world.sim.inject("list-load-balancers", Fault.http(500))
    async with running(world) as run:
        with pytest.raises(ServerError):
            await run.reconcile("web")
        [(kind, reason, _)] = await world.events("web")
        assert (kind, reason) == ("Warning", "SyncLoadBalancerFailed")
        world.sim.clear_faults()
        assert await run.reconcile("web") == DONE
        assert len(world.nlbs()) == 1


async def test_a_failed_cleanup_is_reported_and_keeps_the_finalizer(world: ServiceWorld) -> None:
    await world.create_service("web", 80)
    async with running(world) as run:
        await run.reconcile("web")
        [nlb] = world.nlbs()
        await world.kube.delete(SERVICES.path(world.namespace, "web"))
        world.sim.inject("delete-load-balancer", Fault.http(500))
        with pytest.raises(ServerError):
            await run.reconcile("web")
        assert "DeleteLoadBalancerFailed" in await world.reasons("web")
        assert await world.service("web") is not None, "the finalizer holds the Service"

        world.sim.clear_faults()
        await run.reconcile("web")
        assert await world.service("web") is None
        assert world.nlb(nlb["id"]) is None


async def test_deleting_a_service_leaves_an_nlb_the_api_shows_as_someone_elses(
    world: ServiceWorld,
) -> None:
    await world.create_service("web", 80)
    async with running(world) as run:
        await run.reconcile("web")
        [nlb] = world.nlbs()
        # Someone relabels it for another cluster; exoccm's listing still shows its own labels.
        labels = ownership_labels("other-cluster", "shop", "web", "a-uid-elsewhere")
        world.sim.edit_load_balancer(ZONE, nlb["id"], labels=labels)
        await world.kube.delete(SERVICES.path(world.namespace, "web"))
        await run.reconcile("web")
        assert await world.service("web") is None
        kept = world.nlb(nlb["id"])
        assert kept is not None
        assert len(kept["services"]) == 1
        events = await world.events("web")
        assert any(
            reason == "LoadBalancerKept" and "belongs to cluster 'other-cluster'" in message
            for _, reason, message in events
        )
