"""Retries, operation waiting, rate limiting, fencing and per-NLB serialization under the
simulator's injected faults. Call counts come from the simulator's request log."""

from __future__ import annotations

import anyio
import pytest

from exoccm.exoscale import (
    ClientOptions,
    ConflictError,
    ExoscaleClients,
    NotLeaderError,
    OperationFailedError,
    OperationTimeoutError,
    ServerError,
    TransportError,
    WaitPolicy,
)
from exoccm.sim import Fault, Simulator
from tests.integration.exoscale.conftest import ZONE, SimTime, sim_clients, sim_options

pytestmark = pytest.mark.anyio


# -- retries -------------------------------------------------------------------------------------


async def test_get_is_retried_through_server_errors(
    sim: Simulator, clients: ExoscaleClients, sim_time: SimTime
) -> None:
    sim.inject("list-load-balancers", Fault.http(503), count=2)
    assert await clients.zone().list_load_balancers() == ()
    assert sim.count("list-load-balancers") == 3
    assert sim.count("list-load-balancers", status=503) == 2
    assert sim_time.sleeps == [0.5, 1.0]


async def test_get_gives_up_after_the_attempt_budget(
    sim: Simulator, clients: ExoscaleClients
) -> None:
    sim.inject("list-instances", Fault.http(502), count=10)
    with pytest.raises(ServerError) as info:
        await clients.zone().list_instances()
    assert info.value.status == 502
    assert sim.count("list-instances") == 4


async def test_501_is_not_retried(sim: Simulator, clients: ExoscaleClients) -> None:
    sim.inject("list-instance-pools", Fault.http(501), count=1)
    with pytest.raises(ServerError):
        await clients.zone().list_instance_pools()
    assert sim.count("list-instance-pools") == 1


async def test_rate_limited_get_honours_retry_after(
    sim: Simulator, clients: ExoscaleClients, sim_time: SimTime
) -> None:
    sim.inject("list-sks-clusters", Fault.rate_limited(retry_after=3.0), count=1)
    assert await clients.zone().list_sks_clusters() == ()
    assert sim.count("list-sks-clusters") == 2
    assert sim_time.sleeps == [3.0]


async def test_create_is_not_retried_after_a_server_error(
    sim: Simulator, clients: ExoscaleClients
) -> None:
    sim.inject("create-load-balancer", Fault.http(503), count=2)
    with pytest.raises(ServerError):
        await clients.zone().create_load_balancer("k8s-once")
    assert sim.count("create-load-balancer") == 1
    assert sim.load_balancers(ZONE) == []


async def test_create_is_retried_after_429(
    sim: Simulator, clients: ExoscaleClients, sim_time: SimTime
) -> None:
    sim.inject("create-load-balancer", Fault.rate_limited(retry_after=2.0), count=1)
    lb = await clients.zone().create_load_balancer("k8s-after-429")
    assert sim.count("create-load-balancer") == 2
    assert sim_time.sleeps[0] == 2.0
    assert [x["id"] for x in sim.load_balancers(ZONE)] == [lb.id]


async def test_create_whose_answer_is_lost_is_not_repeated(
    sim: Simulator, sim_time: SimTime, api_key: tuple[str, str]
) -> None:
    # The API did the work but the answer came too late: a retry would make a duplicate.
    sim.inject("create-load-balancer", Fault.hang(30.0, applied=True), count=1)
    async with sim_clients(sim, api_key, sim_options(sim_time, request_timeout=0.2)) as clients:
        with pytest.raises(TransportError) as info:
            await clients.zone().create_load_balancer("k8s-lost")
        assert info.value.sent
        assert sim.count("create-load-balancer") == 1
        sim.clear_faults()
        # The caller re-reads state and finds the NLB instead of creating another one.
        assert [lb.name for lb in await clients.zone().list_load_balancers()] == ["k8s-lost"]


async def test_hanging_get_times_out_and_is_retried(
    sim: Simulator, sim_time: SimTime, api_key: tuple[str, str]
) -> None:
    sim.inject("list-zones", Fault.hang(30.0), count=1)
    async with sim_clients(sim, api_key, sim_options(sim_time, request_timeout=0.2)) as clients:
        assert await clients.zone().list_zones()
    assert sim.count("list-zones") == 2


async def test_writes_retry_through_server_errors(sim: Simulator, clients: ExoscaleClients) -> None:
    client = clients.zone()
    lb = await client.create_load_balancer("k8s-w")
    sim.inject("update-load-balancer", Fault.http(500), count=2)
    sim.inject("delete-load-balancer", Fault.http(502), count=1)
    assert (await client.update_load_balancer(lb.id, name="k8s-w2")).name == "k8s-w2"
    await client.delete_load_balancer(lb.id)
    assert sim.count("update-load-balancer") == 3
    assert sim.count("delete-load-balancer") == 2
    assert sim.load_balancers(ZONE) == []


async def test_injected_conflict_is_typed(sim: Simulator, clients: ExoscaleClients) -> None:
    lb = await clients.zone().create_load_balancer("k8s-c")
    sim.inject("update-load-balancer", Fault.http(409, "busy elsewhere"), count=1)
    with pytest.raises(ConflictError, match="busy elsewhere"):
        await clients.zone().update_load_balancer(lb.id, description="d")
    assert sim.count("update-load-balancer") == 1


# -- operations ----------------------------------------------------------------------------------


async def test_slow_operation_is_polled_fast_then_slower(
    sim: Simulator, clients: ExoscaleClients, sim_time: SimTime
) -> None:
    sim.set_operation_latency(5.0, "create-load-balancer")
    lb = await clients.zone().create_load_balancer("k8s-slow")
    assert lb.state == "running"
    # Polls at 0.2, 0.6, 1.4, 3.0 (pending) and 6.0 s (success).
    assert sim_time.sleeps == [0.2, 0.4, 0.8, 1.6, 3.0]
    assert sim.count("get-operation") == 5


async def test_failed_operation_raises_with_reason(
    sim: Simulator, clients: ExoscaleClients
) -> None:
    sim.inject(
        "create-load-balancer", Fault.operation_failure(reason="busy", message="try later"), count=1
    )
    with pytest.raises(OperationFailedError) as info:
        await clients.zone().create_load_balancer("k8s-fail")
    error = info.value
    assert (error.state, error.reason, error.api_message) == ("failure", "busy", "try later")
    assert error.operation == "create-load-balancer"
    assert error.zone == ZONE


async def test_operation_timeout_state_raises(sim: Simulator, clients: ExoscaleClients) -> None:
    lb = await clients.zone().create_load_balancer("k8s-t")
    sim.inject("update-load-balancer", Fault.operation_timeout(), count=1)
    with pytest.raises(OperationFailedError) as info:
        await clients.zone().update_load_balancer(lb.id, name="later")
    assert info.value.state == "timeout"


async def test_stuck_operation_hits_our_deadline(
    sim: Simulator, sim_time: SimTime, api_key: tuple[str, str]
) -> None:
    sim.inject("create-load-balancer", Fault.operation_stuck(), count=1)
    options = sim_options(sim_time, wait=WaitPolicy(timeout=90.0))
    async with sim_clients(sim, api_key, options) as clients:
        with pytest.raises(OperationTimeoutError) as info:
            await clients.zone().create_load_balancer("k8s-stuck")
    assert info.value.waited == pytest.approx(90.0)
    assert sim_time.now == pytest.approx(90.0)
    assert 10 < sim.count("get-operation") < 40


async def test_transient_poll_errors_are_tolerated(
    sim: Simulator, clients: ExoscaleClients
) -> None:
    sim.set_operation_latency(2.0, "create-load-balancer")
    sim.inject("get-operation", Fault.http(503), count=4)
    lb = await clients.zone().create_load_balancer("k8s-poll")
    assert lb.name == "k8s-poll"
    assert sim.count("get-operation", status=503) == 4


async def test_too_many_poll_errors_give_up(sim: Simulator, clients: ExoscaleClients) -> None:
    sim.set_operation_latency(2.0, "create-load-balancer")
    sim.inject("get-operation", Fault.http(503), count=5)
    with pytest.raises(ServerError):
        await clients.zone().create_load_balancer("k8s-poll")
    assert sim.count("get-operation") == 5


# -- rate limit ----------------------------------------------------------------------------------


async def test_rate_limit_applies_to_every_request(
    sim: Simulator, sim_time: SimTime, api_key: tuple[str, str]
) -> None:
    options = sim_options(sim_time, rate_limit=5.0, burst=2)
    async with sim_clients(sim, api_key, options) as clients:
        client = clients.zone()
        async with anyio.create_task_group() as tg:
            for _ in range(12):
                tg.start_soon(client.list_load_balancers)
        bucket = client.session.limiter
    assert sim.count("list-load-balancers") == 12
    assert bucket.granted == 12
    # The simulator's clock is the client's: its log shows the rate it was called at.
    stamps = sorted(record.at for record in sim.requests)
    for count, at in enumerate(stamps, start=1):
        assert count <= 2 + 5.0 * at + 1e-6, (count, at)
    assert stamps[-1] == pytest.approx((12 - 2) / 5.0)


async def test_polls_take_tokens_too(
    sim: Simulator, sim_time: SimTime, api_key: tuple[str, str]
) -> None:
    sim.set_operation_latency(5.0, "create-load-balancer")
    options = sim_options(sim_time, rate_limit=1.0, burst=1)
    async with sim_clients(sim, api_key, options) as clients:
        await clients.zone().create_load_balancer("k8s-r")
        granted = clients.zone().session.limiter.granted
    assert granted == len(sim.requests)


# -- fencing -------------------------------------------------------------------------------------


async def test_guard_stops_mutations_before_they_are_sent(
    sim: Simulator, clients: ExoscaleClients
) -> None:
    client = clients.zone()
    leading = True
    clients.set_guard(lambda: leading)
    lb = await client.create_load_balancer("k8s-g")
    leading = False
    with pytest.raises(NotLeaderError):
        await client.update_load_balancer(lb.id, name="nope")
    with pytest.raises(NotLeaderError):
        await client.create_load_balancer("k8s-g2", guard=lambda: True)
    assert sim.count("update-load-balancer") == 0
    assert sim.count("create-load-balancer") == 1
    assert len(await client.list_load_balancers()) == 1


async def test_guard_is_checked_before_each_retry(sim: Simulator, clients: ExoscaleClients) -> None:
    lb = await clients.zone().create_load_balancer("k8s-g")
    checks: list[bool] = [True, False]
    sim.inject("update-load-balancer", Fault.http(503), count=1)
    with pytest.raises(NotLeaderError):
        await clients.zone().update_load_balancer(lb.id, name="x", guard=lambda: checks.pop(0))
    assert sim.count("update-load-balancer") == 1


# -- per-NLB serialization -----------------------------------------------------------------------


def _real_time_clients(sim: Simulator, key: tuple[str, str]) -> ExoscaleClients:
    return sim_clients(sim, key, ClientOptions(wait=WaitPolicy(timeout=30.0, first_delay=0.05)))


async def test_writes_to_one_nlb_are_serialized() -> None:
    sim = Simulator(seed=1, operation_latency=0.3)
    key = sim.add_api_key()
    async with _real_time_clients(sim, key) as clients:
        client = clients.zone()
        lb = await client.create_load_balancer("k8s-lock")
        start = len(sim.requests)
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: client.update_load_balancer(lb.id, name="first"))
            tg.start_soon(lambda: client.update_load_balancer(lb.id, description="second"))
    log = sim.requests[start:]
    puts = [i for i, r in enumerate(log) if r.operation_id == "update-load-balancer"]
    assert len(puts) == 2
    first_put, second_put = puts
    polls_between = [r.path for r in log[first_put:second_put] if r.operation_id == "get-operation"]
    assert polls_between, "the second write went out before the first operation was polled"
    first_operation = polls_between[-1]
    # The second write only left after the first operation's last (successful) poll...
    later_polls = [r.path for r in log[second_put:] if r.operation_id == "get-operation"]
    assert first_operation not in later_polls
    # ...and both changes landed.
    final = sim.load_balancers(ZONE)[0]
    assert (final["name"], final.get("description")) == ("first", "second")


async def test_writes_to_different_nlbs_overlap() -> None:
    sim = Simulator(seed=2, operation_latency=0.3)
    key = sim.add_api_key()
    async with _real_time_clients(sim, key) as clients:
        client = clients.zone()
        one = await client.create_load_balancer("k8s-one")
        two = await client.create_load_balancer("k8s-two")
        start = len(sim.requests)
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: client.update_load_balancer(one.id, name="one-b"))
            tg.start_soon(lambda: client.update_load_balancer(two.id, name="two-b"))
    log = sim.requests[start:]
    puts = [i for i, r in enumerate(log) if r.operation_id == "update-load-balancer"]
    first_poll = next(i for i, r in enumerate(log) if r.operation_id == "get-operation")
    assert puts[1] < first_poll
