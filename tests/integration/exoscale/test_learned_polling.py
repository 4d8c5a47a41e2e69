"""Polling that learns, against the simulator on virtual time: per operation kind and zone, the
first poll moves to when operations are done, and polls go before other requests at the rate
limiter."""

from __future__ import annotations

import pytest

from exoccm.exoscale import ExoscaleClients, LoadBalancerServiceSpec
from exoccm.exoscale.models import Healthcheck
from exoccm.exoscale.ratelimit import Priority
from exoccm.sim import Simulator
from tests.integration.exoscale.conftest import ZONE, SimTime

pytestmark = pytest.mark.anyio

OTHER_ZONE = "ch-gva-2"


def spec(pool_id: str) -> LoadBalancerServiceSpec:
    return LoadBalancerServiceSpec(
        name="web",
        instance_pool_id=pool_id,
        protocol="tcp",
        strategy="round-robin",
        port=80,
        target_port=30080,
        healthcheck=Healthcheck(mode="tcp", port=30080, interval=10, timeout=5, retries=1),
    )


async def test_creates_are_polled_once_when_they_are_done_after_a_few(
    sim: Simulator, clients: ExoscaleClients, sim_time: SimTime
) -> None:
    sim.set_operation_latency(1.0)
    client = clients.zone()
    polls_per_create = []
    for index in range(12):
        before = sim.count("get-operation")
        await client.create_load_balancer(f"k8s-{index}", read_back=False)
        polls_per_create.append(sim.count("get-operation") - before)
    assert polls_per_create[0] == 3  # nothing known yet: 0.2, 0.6 and 1.4 s
    assert sum(polls_per_create[4:]) <= 10  # then mostly one poll each
    learned = client.durations["create-load-balancer"].first_poll
    assert learned == pytest.approx(1.0, abs=0.1)
    # Another kind, and another zone, start from nothing.
    assert client.durations["add-service-to-load-balancer"].first_poll is None
    assert clients.zone(OTHER_ZONE).durations["create-load-balancer"].first_poll is None


async def test_each_kind_learns_its_own_duration(
    sim: Simulator, clients: ExoscaleClients, sim_time: SimTime
) -> None:
    sim.set_operation_latency(0.5, "create-load-balancer")
    sim.set_operation_latency(3.0, "add-service-to-load-balancer")
    pool = sim.add_instance_pool(ZONE, "workers")
    client = clients.zone()
    for index in range(8):
        lb = await client.create_load_balancer(f"k8s-{index}", read_back=False)
        await client.add_load_balancer_service(lb.id, spec(pool["id"]))
    create = client.durations["create-load-balancer"].first_poll
    add = client.durations["add-service-to-load-balancer"].first_poll
    assert create == pytest.approx(0.5, rel=0.2)
    assert add == pytest.approx(3.0, rel=0.2)


async def test_polls_wait_for_the_limiter_ahead_of_other_requests(
    sim: Simulator, clients: ExoscaleClients, sim_time: SimTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = clients.zone()
    limiter = client.session.limiter
    asked: list[Priority] = []
    acquire = limiter.acquire

    async def recording(priority: Priority = Priority.NORMAL) -> float:
        asked.append(priority)
        return await acquire(priority)

    monkeypatch.setattr(limiter, "acquire", recording)
    sim.set_operation_latency(1.0)
    await client.create_load_balancer("k8s-p", read_back=False)
    polls = sim.count("get-operation")
    assert polls >= 1
    assert asked == [Priority.NORMAL] + [Priority.FINISH] * polls
    assert limiter.granted == 1 + polls  # one token per request, polls included
