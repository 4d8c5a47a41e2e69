"""The service reconciler in-process, one reconcile at a time: the real apiserver, the simulator
app over ASGI (see conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from exoccm.controllers.service.controller import SyncBlockedError
from exoccm.controllers.service.desired import LABEL_SERVICE_UID, ownership_labels
from exoccm.controllers.service.kubeside import FINALIZER
from exoccm.engine.controller import DONE, RetryAfterError
from exoccm.exoscale import ServerError
from exoccm.sim import Fault
from tests.integration.service.conftest import (
    ID_ANNOTATION,
    POOL_ANNOTATION,
    KubeWrite,
    ServiceWorld,
    running,
)
from tests.unit.service.cloud import OTHER_ZONE, ZONE

pytestmark = pytest.mark.anyio

Obj = dict[str, Any]


def annotations_on(service: Obj | None) -> dict[str, str]:
    assert service is not None
    return dict(service["metadata"].get("annotations") or {})


def ingress_ips(service: Obj | None) -> list[str]:
    assert service is not None
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [str(entry["ip"]) for entry in ingress]


def finalizers(service: Obj | None) -> list[str]:
    assert service is not None
    return list(service["metadata"].get("finalizers") or [])


def first_write(writes: list[KubeWrite], what: str) -> KubeWrite:
    """The first write whose body mentions ``what``."""
    return next(w for w in writes if what in repr(w.body))


async def test_a_new_service_gets_its_nlb_and_a_converged_one_costs_nothing(
    world: ServiceWorld,
) -> None:
    await world.create_service("web", 80, 443)
    async with running(world) as run:
        assert await run.reconcile("web") == DONE
        [nlb] = world.nlbs()
        assert sorted(s["port"] for s in nlb["services"]) == [80, 443]
        assert {s["instance-pool"]["id"] for s in nlb["services"]} == {world.pools[ZONE]}
        service = await world.service("web")
        assert annotations_on(service)[ID_ANNOTATION] == nlb["id"]
        assert ingress_ips(service) == [nlb["ip"]]
        assert finalizers(service) == [FINALIZER]
        writes = world.controller_kube.to_service(world.namespace, "web")
        assert first_write(writes, FINALIZER).nlb_writes_before == [], (
            "the finalizer goes on before the first cloud write"
        )
        assert await world.reasons("web") == ["EnsuredLoadBalancer", "EnsuringLoadBalancer"]

        calls, kube_writes = world.calls(), len(world.controller_kube.writes)
        assert await run.reconcile("web") == DONE
        assert world.calls() == calls, "a converged Service costs no Exoscale call"
        assert len(world.controller_kube.writes) == kube_writes, "... and no Kubernetes write"


async def test_the_plan_that_runs_is_made_on_the_apis_answer_not_on_the_listing(
    world: ServiceWorld,
) -> None:
    await world.create_service("web", 80)
    async with running(world) as run:
        await run.reconcile("web")
        [nlb] = world.nlbs()
        drift = run.drift()

        # Someone edits the NLB; the next drift pass lists the zone and sees the edit...
        world.sim.edit_load_balancer(ZONE, nlb["id"], description="edited by hand")
        world.time.advance(60)
        await drift.pass_once()
        # ...and puts it back before exoccm acts: the listing is now behind the API.
        world.sim.edit_load_balancer(ZONE, nlb["id"], description=None)
        gets, writes = world.calls("get-load-balancer"), world.nlb_writes()
        assert await run.reconcile("web") == DONE
        assert world.calls("get-load-balancer") == gets + 1, "the listing's plan is checked"
        assert world.nlb_writes() == writes, "the API's answer needs no change: nothing is sent"

        # An edit that is still there is read, then reverted.
        world.sim.edit_load_balancer(ZONE, nlb["id"], description="edited again")
        world.time.advance(60)
        await drift.pass_once()
        start = world.calls()
        await run.reconcile("web")
        operations = [r.operation_id for r in world.sim.requests][start:]
        assert operations[:2] == ["get-load-balancer", "reset-load-balancer-field"]
        assert not world.nlbs()[0].get("description")


async def test_an_nlb_of_another_cluster_is_refused_without_a_write(world: ServiceWorld) -> None:
    theirs = await world.create_nlb(
        labels=ownership_labels("other-cluster", "shop", "web", "9d1c3f6e-other")
    )
    await world.create_service("web", 80, id=theirs.id)
    async with running(world) as run:
        assert await run.reconcile("web") == DONE
        assert world.nlb_writes() == 1, "only the test's own create"
        assert world.calls("get-load-balancer") >= 1, "the refusal is judged on a read by ID"
        [(kind, reason, message)] = await world.events("web")
        assert (kind, reason) == ("Warning", "SyncLoadBalancerFailed")
        assert "belongs to cluster 'other-cluster'" in message
        service = await world.service("web")
        assert finalizers(service) == []
        assert ingress_ips(service) == []


async def test_a_namespace_not_allowed_existing_nlbs_may_not_name_one(
    world: ServiceWorld,
) -> None:
    hand_made = await world.create_nlb()
    await world.create_service("web", 80, id=hand_made.id)
    async with running(world, existing_nlb_namespaces=frozenset({"platform"})) as run:
        assert await run.reconcile("web") == DONE
        [(_, reason, message)] = await world.events("web")
        assert reason == "SyncLoadBalancerFailed"
        assert "EXOCCM_EXISTING_NLB_NAMESPACES" in message
        assert world.nlb(hand_made.id) is not None
        assert world.nlb_writes() == 1


async def test_bad_annotations_are_reported_and_cost_no_cloud_call(world: ServiceWorld) -> None:
    await world.create_service("web", 80, service_strategy="fastest")
    async with running(world) as run:
        assert await run.reconcile("web") == DONE
        [(kind, reason, message)] = await world.events("web")
        assert (kind, reason) == ("Warning", "SyncLoadBalancerFailed")
        assert "fastest" in message
        assert world.calls() == 0


async def test_a_pool_that_cannot_be_chosen_blocks_the_sync(world: ServiceWorld) -> None:
    await world.create_service("web", 80, pool=False)
    async with running(world) as run:
        with pytest.raises(SyncBlockedError, match="couldn't infer any Instance Pool"):
            await run.reconcile("web")
        assert await world.reasons("web") == ["SyncLoadBalancerFailed"]
        assert world.nlbs() == []


async def test_a_zone_move_retires_the_old_nlb_only_after_the_status_shows_the_new(
    world: ServiceWorld,
) -> None:
    for zone, name in ((ZONE, "a"), (OTHER_ZONE, "b")):
        instance = world.sim.add_instance(zone, name, pool_id=world.pools[zone])
        await world.create_node(name, str(instance["id"]))
    await world.create_service("web", 80, pool=False)
    async with running(world) as run:
        await run.nodes_caught_up(2)
        await run.reconcile("web")
        [old] = world.nlbs(ZONE)
        assert annotations_on(await world.service("web"))[POOL_ANNOTATION] == world.pools[ZONE]

        await world.annotate("web", zone=OTHER_ZONE)
        assert await run.reconcile("web") == DONE
        assert world.nlbs(ZONE) == [], "the old NLB is deleted"
        [new] = world.nlbs(OTHER_ZONE)
        # The pool exoccm wrote back for the old zone is inferred anew in the new one.
        assert {s["instance-pool"]["id"] for s in new["services"]} == {world.pools[OTHER_ZONE]}
        service = await world.service("web")
        assert annotations_on(service)[ID_ANNOTATION] == new["id"]
        assert annotations_on(service)[POOL_ANNOTATION] == world.pools[OTHER_ZONE]
        assert ingress_ips(service) == [new["ip"]]
        status = first_write(world.controller_kube.to_service(world.namespace, "web"), new["ip"])
        assert "delete-load-balancer" not in status.exoscale_before
        events = await world.events("web")
        assert ("Normal", "DeletingLoadBalancer") in {(k, r) for k, r, _ in events}
        assert any(old["id"] in m and "the Service moved" in m for _, _, m in events)


async def test_a_zone_move_away_from_an_nlb_no_longer_ours_is_refused(
    world: ServiceWorld,
) -> None:
    await world.create_service("web", 80)
    async with running(world) as run:
        await run.reconcile("web")
        [old] = world.nlbs(ZONE)
        # Someone takes the NLB over by hand; exoccm's listing still shows its own labels, but
        # the NLB a Service names in another zone is read by ID, and the answer decides.
        world.sim.edit_load_balancer(ZONE, old["id"], labels={"team": "platform"})
        await world.annotate(
            "web", zone=OTHER_ZONE, service_instancepool_id=world.pools[OTHER_ZONE]
        )
        writes = world.nlb_writes()
        with pytest.raises(SyncBlockedError, match=f"is in zone {ZONE}, not in the Service's"):
            await run.reconcile("web")
        assert world.nlb_writes() == writes
        assert world.nlbs(OTHER_ZONE) == []
        assert ingress_ips(await world.service("web")) == [old["ip"]]


async def test_a_zone_move_that_cannot_be_served_keeps_the_old_nlb(world: ServiceWorld) -> None:
    third = "at-vie-1"
    await world.create_service("web", 80)
    async with running(world, known_zones=frozenset({ZONE, OTHER_ZONE, third})) as run:
        await run.reconcile("web")
        [old] = world.nlbs(ZONE)
        # No Node runs in the third zone, and the written pool is the old zone's.
        await world.annotate("web", zone=third)
        with pytest.raises(SyncBlockedError, match=f"cannot move to zone {third}") as blocked:
            await run.reconcile("web")
        assert f"NLB {old['id']} in zone {ZONE} keeps serving" in str(blocked.value)
        assert world.nlb(old["id"]) is not None
        assert world.nlbs(third) == []
        assert ingress_ips(await world.service("web")) == [old["ip"]]


async def test_deleting_a_service_keeps_an_nlb_another_service_names_for_it_to_adopt(
    world: ServiceWorld,
) -> None:
    await world.create_service("first", 80)
    async with running(world) as run:
        await run.reconcile("first")
        [nlb] = world.nlbs()
        # A second Service names the first one's NLB: refused while the first holds it.
        await world.create_service("second", 8080, id=nlb["id"])
        await run.reconcile("second")
        [(_, reason, message)] = await world.events("second")
        assert reason == "SyncLoadBalancerFailed"
        assert f"Service {world.namespace}/first" in message

        await world.kube.delete(f"/api/v1/namespaces/{world.namespace}/services/first")
        await run.reconcile("first")
        assert await world.service("first") is None, "the finalizer is gone"
        kept = world.nlb(nlb["id"])
        assert kept is not None, "another Service names it"
        assert kept["services"] == [], "only the deleted Service's NLB services went"
        assert run.released == [f"{world.namespace}/second"]
        events = await world.events("first")
        assert any(r == "LoadBalancerKept" and "second names it too" in m for _, r, m in events)

        # Released, the NLB (and its IP) goes to the Service that names it.
        await run.reconcile("second")
        adopted = world.nlb(nlb["id"])
        assert adopted is not None
        second = await world.service("second")
        assert second is not None
        assert adopted["labels"][LABEL_SERVICE_UID] == second["metadata"]["uid"]
        assert [s["port"] for s in adopted["services"]] == [8080]
        assert ingress_ips(second) == [nlb["ip"]]


async def test_a_service_that_stops_being_a_load_balancer_loses_its_nlb(
    world: ServiceWorld,
) -> None:
    await world.create_service("web", 80)
    async with running(world) as run:
        await run.reconcile("web")
        [nlb] = world.nlbs()
        await world.kube.patch(
            f"/api/v1/namespaces/{world.namespace}/services/web", {"spec": {"type": "ClusterIP"}}
        )
        assert await run.reconcile("web") == DONE
        assert world.nlbs() == []
        service = await world.service("web")
        assert finalizers(service) == []
        assert ingress_ips(service) == []
        assert {"DeletingLoadBalancer", "DeletedLoadBalancer"} <= set(await world.reasons("web"))
        assert world.inventories.zone(ZONE).cached(nlb["id"]) is None


async def test_an_external_nlb_gets_only_this_services_nlb_services_recorded_first(
    world: ServiceWorld,
) -> None:
    shared = await world.create_nlb(name="shared")
    await world.create_service("web", 80, id=shared.id, external="true", service_name="web-http")
    async with running(world) as run:
        await run.reconcile("web")
        nlb = world.nlb(shared.id)
        assert nlb is not None
        assert [s["name"] for s in nlb["services"]] == ["web-http"]
        assert nlb.get("labels", {}) == {}, "an external NLB is not labelled"
        record = first_write(world.controller_kube.to_service(world.namespace, "web"), "web-http")
        assert "add-service-to-load-balancer" not in record.exoscale_before, (
            "the record of a custom-named NLB service is written before it is made"
        )

        await world.kube.delete(f"/api/v1/namespaces/{world.namespace}/services/web")
        await run.reconcile("web")
        after = world.nlb(shared.id)
        assert after is not None, "exoccm never deletes an external NLB"
        assert after["services"] == []
        assert world.calls("delete-load-balancer") == 0


async def test_without_leadership_nothing_is_sent_and_the_reconcile_ends_quietly(
    world: ServiceWorld,
) -> None:
    await world.create_service("web", 80)
    world.fence.leading = False
    async with running(world) as run:
        assert await run.reconcile("web") == DONE
        assert world.nlb_writes() == 0
        assert "SyncLoadBalancerFailed" not in await world.reasons("web")


async def test_an_api_that_asks_to_wait_gets_its_pause_without_a_failure(
    world: ServiceWorld,
) -> None:
    await world.create_service("web", 80)
    world.sim.inject("create-load-balancer", Fault.rate_limited(7.0))
    async with running(world) as run:
        with pytest.raises(RetryAfterError) as retry:
            await run.reconcile("web")
        assert retry.value.seconds == pytest.approx(7.0)
        assert world.nlbs() == []


async def test_a_failed_write_is_reported_and_retried(world: ServiceWorld) -> None:
    await world.create_service("web", 80)
    world.sim.inject("add-service-to-load-balancer", Fault.http(500))
    async with running(world) as run:
        with pytest.raises(ServerError):
            await run.reconcile("web")
        assert ("Warning", "SyncLoadBalancerFailed") in {
            (k, r) for k, r, _ in await world.events("web")
        }
        world.sim.clear_faults()
        assert await run.reconcile("web") == DONE
        [nlb] = world.nlbs()
        assert [s["port"] for s in nlb["services"]] == [80]
        assert world.calls("create-load-balancer") == 1, "the NLB made first is found again"


async def test_a_service_gone_from_the_cache_needs_nothing(world: ServiceWorld) -> None:
    async with running(world) as run:
        assert await run.reconciler.reconcile(f"{world.namespace}/never-existed") == DONE
        assert world.calls() == 0
