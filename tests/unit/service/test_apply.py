"""Applying plans against the in-process simulator: answers kept in the zone's listing, and the
bookkeeping that keeps a create whose answer was lost from ever making a second NLB.

Plans come from the decision code the controller and ``exoccm plan`` use, for plain Service
objects; the simulator app is reached through ``httpx.ASGITransport`` on virtual time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from exoccm.controllers.inventory import Inventories, ZoneInventory
from exoccm.controllers.service.annotations import PREFIX
from exoccm.controllers.service.apply import apply_plan
from exoccm.controllers.service.authority import Authority
from exoccm.controllers.service.decide import Decision, ServiceContext, decide_confirmed
from exoccm.controllers.service.diff import plan_deletion
from exoccm.controllers.service.ownership import ListedServices
from exoccm.exoscale import (
    ExoscaleClients,
    ExoscaleError,
    InvalidRequestError,
    LoadBalancer,
    NotLeaderError,
)
from exoccm.sim import Fault, Simulator
from tests.unit.service.cloud import (
    ZONE,
    Fence,
    VirtualTime,
    inventories_of,
    same_nlb,
    sim_clients,
)

pytestmark = pytest.mark.anyio

CLUSTER = "test-cluster"
UID = "5b0c4d3e-8f4f-4a57-9c55-0e3c8b9d1a20"
CONTEXT = ServiceContext(ZONE, frozenset({ZONE}), CLUSTER)
SETTLE = 15.0  # seconds after a lost create before a listing is believed (docs/architecture.md)


@dataclass
class Cloud:
    sim: Simulator
    time: VirtualTime
    fence: Fence
    clients: ExoscaleClients
    inventories: Inventories
    pool: str

    @property
    def inventory(self) -> ZoneInventory:
        return self.inventories.zone(ZONE)

    async def decide(self, service: dict[str, Any]) -> Decision:
        return await decide_confirmed(
            service,
            [],
            self.inventories,
            CONTEXT,
            authority=Authority(self.inventories),
            directory=ListedServices([service]),
        )

    async def converge(self, service: dict[str, Any]) -> LoadBalancer | None:
        decision = await self.decide(service)
        assert decision.found is not None, decision
        return await apply_plan(decision.plan, decision.found.load_balancer, self.inventory)

    def nlbs(self) -> list[dict[str, Any]]:
        return self.sim.load_balancers(ZONE)


@pytest.fixture
async def cloud() -> AsyncIterator[Cloud]:
    sim = Simulator(seed=21)
    pool = str(sim.add_instance_pool(ZONE, "workers")["id"])
    time = VirtualTime()
    fence = Fence()
    async with sim_clients(sim, time, guard=fence) as clients:
        yield Cloud(sim, time, fence, clients, inventories_of(clients, time), pool)


def service(pool: str, *ports: tuple[int, int], **annotations: str) -> dict[str, Any]:
    """A LoadBalancer Service with ``(port, nodePort)`` pairs, targeting ``pool``."""
    return {
        "metadata": {
            "uid": UID,
            "name": "web",
            "namespace": "shop",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {
                PREFIX + "service-instancepool-id": pool,
                **{PREFIX + k.replace("_", "-"): v for k, v in annotations.items()},
            },
        },
        "spec": {
            "type": "LoadBalancer",
            "ports": [
                {"name": f"p{p}", "protocol": "TCP", "port": p, "targetPort": p, "nodePort": n}
                for p, n in ports
            ],
        },
    }


async def test_each_answer_replaces_the_cached_nlb_so_no_listing_is_needed(cloud: Cloud) -> None:
    web = service(cloud.pool, (80, 30080), (443, 30443), description="shop front")
    created = await cloud.converge(web)
    assert created is not None
    [nlb] = cloud.nlbs()
    assert sorted(s["port"] for s in nlb["services"]) == [80, 443]
    assert same_nlb(cloud.inventory.cached(created.id), nlb)
    # Nothing is read back between the steps: one read after the last shows the NLB and the
    # IDs of the services added to it.
    assert cloud.sim.count("add-service-to-load-balancer") == 2
    assert cloud.sim.count("get-load-balancer") == 1
    assert cloud.inventory.pending_create(UID) is None

    # Every kind of change: a port replaced, the description cleared, one service updated.
    changed = service(cloud.pool, (80, 30081), (8443, 30444))
    await cloud.converge(changed)
    [nlb] = cloud.nlbs()
    assert sorted((s["port"], s["target-port"]) for s in nlb["services"]) == [
        (80, 30081),
        (8443, 30444),
    ]
    assert not nlb.get("description")
    assert same_nlb(cloud.inventory.cached(created.id), nlb)
    assert cloud.sim.count("list-load-balancers") == 1, "the listing was never taken again"

    again = await cloud.decide(changed)
    assert not again.plan, again.plan.describe()


async def test_a_create_whose_answer_is_lost_is_settled_by_a_listing_taken_later(
    cloud: Cloud,
) -> None:
    web = service(cloud.pool, (80, 30080))
    cloud.sim.inject("create-load-balancer", Fault.malformed(), count=1)
    with pytest.raises(ExoscaleError):
        await cloud.converge(web)
    assert len(cloud.nlbs()) == 1, "the API made the NLB; only its answer was lost"
    assert cloud.inventory.pending_create(UID) is not None

    # Listings that do not show the NLB prove nothing while they may predate it: no second
    # create, however often the Service is looked at.
    cloud.sim.inject("list-load-balancers", Fault.listing_empty())
    for _ in range(2):
        blocked = await cloud.decide(web)
        assert blocked.blocked is not None
        assert "was lost" in blocked.blocked
        cloud.time.advance(SETTLE / 3)
    assert cloud.sim.count("create-load-balancer") == 1

    # A listing started after the settling time has its say: it shows the NLB.
    cloud.sim.clear_faults()
    cloud.time.advance(SETTLE)
    lb = await cloud.converge(web)
    assert lb is not None
    [nlb] = cloud.nlbs()
    assert lb.id == nlb["id"]
    assert [s["port"] for s in nlb["services"]] == [80]
    assert cloud.sim.count("create-load-balancer") == 1
    assert cloud.inventory.pending_create(UID) is None


async def test_after_the_settling_time_a_listing_without_the_nlb_lets_it_be_made_anew(
    cloud: Cloud,
) -> None:
    web = service(cloud.pool, (80, 30080))
    cloud.sim.inject("create-load-balancer", Fault.malformed(), count=1)
    with pytest.raises(ExoscaleError):
        await cloud.converge(web)
    [lost] = cloud.nlbs()
    cloud.sim.delete_load_balancer_out_of_band(ZONE, lost["id"])

    # Honest listings without the NLB are not believed before the settling time either.
    assert (await cloud.decide(web)).blocked is not None
    cloud.time.advance(SETTLE)
    decision = await cloud.decide(web)
    assert decision.blocked is None
    assert decision.plan.describe()[0].startswith("create NLB")
    assert cloud.inventory.pending_create(UID) is None


async def test_a_create_the_api_named_before_failing_is_read_by_id(cloud: Cloud) -> None:
    web = service(cloud.pool, (80, 30080))
    cloud.sim.inject("create-load-balancer", Fault.operation_timeout(), count=1)
    with pytest.raises(ExoscaleError):
        await cloud.converge(web)
    pending = cloud.inventory.pending_create(UID)
    assert pending is not None
    [nlb] = cloud.nlbs()
    assert pending.lb_id == nlb["id"]

    # The listing leaves it out, but the ID is known: one read finds it, no settling wait.
    cloud.sim.inject("list-load-balancers", Fault.listing_empty(), count=1)
    decision = await cloud.decide(web)
    assert decision.found is not None
    assert decision.found.load_balancer is not None
    assert decision.found.load_balancer.id == nlb["id"]
    assert cloud.sim.count("get-load-balancer") >= 1
    assert cloud.inventory.pending_create(UID) is None
    await apply_plan(decision.plan, decision.found.load_balancer, cloud.inventory)
    assert [s["port"] for s in cloud.nlbs()[0]["services"]] == [80]
    assert cloud.sim.count("create-load-balancer") == 1


async def test_a_refused_create_is_forgotten_and_the_listing_read_again(cloud: Cloud) -> None:
    web = service(cloud.pool, (80, 30080))
    cloud.sim.inject("create-load-balancer", Fault.http(400, "quota reached"), count=1)
    with pytest.raises(InvalidRequestError):
        await cloud.converge(web)
    assert cloud.inventory.pending_create(UID) is None, "the API made nothing"
    assert cloud.nlbs() == []

    lists = cloud.sim.count("list-load-balancers")
    decision = await cloud.decide(web)
    assert decision.blocked is None
    assert cloud.sim.count("list-load-balancers") == lists + 1, "a failed write re-lists"
    assert decision.plan.describe()[0].startswith("create NLB")


async def test_nothing_is_sent_once_leadership_is_lost(cloud: Cloud) -> None:
    web = service(cloud.pool, (80, 30080))
    cloud.fence.leading = False
    with pytest.raises(NotLeaderError):
        await cloud.converge(web)
    assert cloud.sim.count("create-load-balancer") == 0
    assert cloud.inventory.pending_create(UID) is None

    lists = cloud.sim.count("list-load-balancers")
    cloud.fence.leading = True
    await cloud.converge(web)
    assert cloud.sim.count("list-load-balancers") == lists, "nothing was sent: no re-listing"
    assert len(cloud.nlbs()) == 1


async def test_deleting_what_is_already_gone_counts_as_done(cloud: Cloud) -> None:
    web = service(cloud.pool, (80, 30080), (443, 30443))
    lb = await cloud.converge(web)
    assert lb is not None
    # Someone deletes one NLB service behind exoccm's back; the cached NLB still shows it.
    gone = lb.services[0]
    await cloud.clients.zone(ZONE).delete_load_balancer_service(lb.id, gone.id)
    left = await apply_plan(plan_deletion(lb, whole=False, service_uid=UID), lb, cloud.inventory)
    assert left is not None
    assert left.services == ()
    assert cloud.nlbs()[0]["services"] == []
    assert same_nlb(cloud.inventory.cached(lb.id), cloud.nlbs()[0])

    cloud.sim.delete_load_balancer_out_of_band(ZONE, lb.id)
    assert (
        await apply_plan(plan_deletion(left, whole=True, service_uid=UID), left, cloud.inventory)
        is None
    )
    assert cloud.inventory.cached(lb.id) is None
    assert cloud.sim.count("delete-load-balancer", status=404) == 1
