"""No call for what an answer already gave: plans applied against the simulator (virtual time).

The NLB exoccm works out after each write must equal what the API then reports; only a new
NLB's IP and new NLB services' IDs cost a read, once per plan. Call counts come from the
simulator's request log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest

from exoccm.controllers.inventory import ZoneInventory
from exoccm.controllers.service.apply import apply_plan
from exoccm.controllers.service.desired import (
    DesiredLoadBalancer,
    DesiredService,
)
from exoccm.controllers.service.diff import plan_changes
from exoccm.exoscale import ExoscaleClients
from exoccm.exoscale.models import Healthcheck, LoadBalancer
from exoccm.sim import Simulator
from tests.integration.exoscale.conftest import ZONE, SimTime

pytestmark = pytest.mark.anyio

UID = "3f0c6f9e-7a51-4b5e-8d1b-2c9f6e0a4d11"


def port(number: int, pool_id: str, **changes: object) -> DesiredService:
    service = DesiredService(
        name=f"{UID}-{number}",
        description="",
        protocol="tcp",
        port=number,
        target_port=30000 + number,
        strategy="round-robin",
        healthcheck=Healthcheck(mode="tcp", port=30000 + number, interval=10, timeout=5, retries=1),
        instance_pool_id=pool_id,
    )
    return dataclasses.replace(service, **changes)  # type: ignore[arg-type]


def nlb(*services: DesiredService, **changes: object) -> DesiredLoadBalancer:
    desired = DesiredLoadBalancer(
        zone=ZONE,
        name=f"k8s-{UID}",
        description="",
        external=False,
        services=services,
        labels={"k8s-service-uid": UID},
    )
    return dataclasses.replace(desired, **changes)  # type: ignore[arg-type]


def calls(sim: Simulator, since: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in sim.requests[since:]:
        name = str(record.operation_id)
        counts[name] = counts.get(name, 0) + 1
    return counts


def comparable(lb: LoadBalancer) -> Mapping[str, object]:
    """What the controllers compare (the API's own state fields and health lists aside)."""
    return lb.model_dump(
        exclude={"state": True, "services": {"__all__": {"state", "healthcheck_status"}}}
    )


async def converge(
    inventory: ZoneInventory, desired: DesiredLoadBalancer, observed: LoadBalancer | None
) -> LoadBalancer | None:
    plan = plan_changes(desired, observed, service_uid=UID)
    assert plan, "the test means a change"
    return await apply_plan(plan, observed, inventory)


async def test_a_new_one_port_nlb_costs_its_writes_and_one_read(
    sim: Simulator, clients: ExoscaleClients, sim_time: SimTime
) -> None:
    pool = sim.add_instance_pool(ZONE, "nodes")
    inventory = ZoneInventory(clients.zone(), clock=sim_time.clock)
    since = len(sim.requests)
    lb = await converge(inventory, nlb(port(80, pool["id"])), None)
    assert lb is not None
    assert lb.ip
    assert lb.service_named(f"{UID}-80") is not None
    used = calls(sim, since)
    assert used.pop("get-operation") >= 2
    assert used == {
        "create-load-balancer": 1,
        "add-service-to-load-balancer": 1,
        "get-load-balancer": 1,
    }
    assert comparable(lb) == comparable(await clients.zone().get_load_balancer(lb.id))
    assert (
        plan_changes(nlb(port(80, pool["id"])), inventory.cached(lb.id), service_uid=UID).steps
        == ()
    )


async def test_a_new_three_port_nlb_is_read_once_after_its_last_step(
    sim: Simulator, clients: ExoscaleClients, sim_time: SimTime
) -> None:
    pool = sim.add_instance_pool(ZONE, "nodes")
    inventory = ZoneInventory(clients.zone(), clock=sim_time.clock)
    since = len(sim.requests)
    desired = nlb(*(port(n, pool["id"]) for n in (80, 443, 8080)))
    lb = await converge(inventory, desired, None)
    assert lb is not None
    assert {s.name for s in lb.services} == {f"{UID}-{n}" for n in (80, 443, 8080)}
    used = calls(sim, since)
    assert used["add-service-to-load-balancer"] == 3
    assert used["get-load-balancer"] == 1


@pytest.mark.parametrize(
    "change",
    [
        "rename",
        "describe",
        "label",
        "clear-description",
        "update-service",
        "change-health-check",
        "clear-service-description",
        "delete-service",
    ],
)
async def test_changes_to_an_existing_nlb_read_nothing_and_match_what_the_api_reports(
    change: str, sim: Simulator, clients: ExoscaleClients, sim_time: SimTime
) -> None:
    pool = sim.add_instance_pool(ZONE, "nodes")
    inventory = ZoneInventory(clients.zone(), clock=sim_time.clock)
    web = port(80, pool["id"], description="web")
    admin = port(8443, pool["id"])
    start = nlb(web, admin, description="shop")
    await converge(inventory, start, None)
    observed = (await clients.zone().list_load_balancers())[0]  # as a plan sees it
    desired = {
        "rename": nlb(web, admin, description="shop", name="k8s-renamed"),
        "describe": nlb(web, admin, description="the shop"),
        "label": nlb(web, admin, description="shop", labels={"k8s-service-uid": UID, "x": "y"}),
        "clear-description": nlb(web, admin),
        "update-service": nlb(dataclasses.replace(web, target_port=31999), admin),
        "change-health-check": nlb(
            dataclasses.replace(
                web,
                healthcheck=Healthcheck(
                    mode="http", port=30080, interval=20, timeout=3, retries=2, uri="/healthz"
                ),
            ),
            admin,
            description="shop",
        ),
        "clear-service-description": nlb(
            dataclasses.replace(web, description=""), admin, description="shop"
        ),
        "delete-service": nlb(web, description="shop"),
    }[change]
    since = len(sim.requests)
    after = await converge(inventory, desired, observed)
    assert after is not None
    used = calls(sim, since)
    assert "get-load-balancer" not in used
    assert "list-load-balancers" not in used
    assert comparable(after) == comparable(await clients.zone().get_load_balancer(after.id))
    assert inventory.cached(after.id) == after


async def test_a_health_check_update_is_merged_as_the_api_merges_it(
    sim: Simulator, clients: ExoscaleClients, sim_time: SimTime
) -> None:
    pool = sim.add_instance_pool(ZONE, "nodes")
    inventory = ZoneInventory(clients.zone(), clock=sim_time.clock)
    http = Healthcheck(mode="http", port=30080, interval=20, timeout=3, retries=2, uri="/ok")
    lb = await converge(inventory, nlb(port(80, pool["id"], healthcheck=http)), None)
    tcp = Healthcheck(mode="tcp", port=30080, interval=10, timeout=5, retries=1)
    after = await converge(inventory, nlb(port(80, pool["id"], healthcheck=tcp)), lb)
    assert after is not None
    check = after.services[0].healthcheck
    assert check is not None
    assert (check.mode, check.uri) == ("tcp", "/ok")  # an update cannot clear the URI
    assert comparable(after) == comparable(await clients.zone().get_load_balancer(after.id))
