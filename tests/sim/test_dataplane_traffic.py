"""Traffic through simulated NLBs: forwarding, strategies on real sockets, health-driven routing,
the measured ``healthcheck-status``, UDP, and members outside loopback."""

from __future__ import annotations

import logging
from collections import Counter

import anyio
import httpx
import pytest

from exoccm.sim import Simulator
from exoccm.testing.loopback import LoopbackBlocks
from tests.sim.dataplane_helpers import (
    all_healthy,
    backends,
    eventually,
    fetch,
    make_nlb,
    pool_with_members,
    served_by,
)
from tests.sim.helpers import ZONE

pytestmark = pytest.mark.anyio

HEALTH_PORT = 30081
# Probes on their own port, so that the members' connection counts are traffic only.
FAST_CHECK = {"mode": "tcp", "port": HEALTH_PORT, "interval": 5, "timeout": 2, "retries": 1}


async def test_a_connection_reaches_a_member_and_comes_back(
    dp_sim: Simulator, dp_client: httpx.AsyncClient, blocks: LoopbackBlocks
) -> None:
    pool_id, ips = pool_with_members(dp_sim, 2)
    async with backends(ips) as members:
        nlb = await make_nlb(dp_sim, dp_client, pool_id)
        assert nlb.ip == blocks.networks.load_balancers.replace("0.0/16", "0.1")
        await eventually(lambda: all_healthy(nlb, ips), what="both members healthy")
        answer = await fetch(nlb.ip, 80, payload=b"x" * 200_000)
    member, echoed = answer.split("|", 1)
    assert member in ips
    assert echoed == "x" * 200_000  # both directions, and the half-close, went through
    # The member saw the connection (and the tcp health probes) come from the NLB's address.
    assert set(members.seen[member]) == {nlb.ip}


async def test_round_robin_takes_members_in_turn(
    dp_sim: Simulator, dp_client: httpx.AsyncClient
) -> None:
    pool_id, ips = pool_with_members(dp_sim, 3)
    async with backends(ips):
        nlb = await make_nlb(dp_sim, dp_client, pool_id, strategy="round-robin")
        await eventually(lambda: all_healthy(nlb, ips), what="all members healthy")
        order = [await served_by(nlb.ip, 80) for _ in range(9)]
    assert sorted(order[:3]) == sorted(ips)
    assert order == order[:3] * 3


@pytest.mark.parametrize("strategy", ["source-hash", "maglev-hash"])
async def test_hashing_strategies_keep_each_client_on_one_member(
    dp_sim: Simulator, dp_client: httpx.AsyncClient, blocks: LoopbackBlocks, strategy: str
) -> None:
    pool_id, ips = pool_with_members(dp_sim, 3)
    clients = [blocks.client_ip(i) for i in range(24)]
    async with backends(ips):
        nlb = await make_nlb(dp_sim, dp_client, pool_id, strategy=strategy)
        await eventually(lambda: all_healthy(nlb, ips), what="all members healthy")
        first = {c: await served_by(nlb.ip, 80, source=c) for c in clients}
        again = {c: await served_by(nlb.ip, 80, source=c) for c in clients}
    assert first == again
    assert set(first.values()) == set(ips)  # 24 clients over 3 members: every member gets some


async def test_only_members_that_pass_the_health_check_get_traffic(
    dp_sim: Simulator, dp_client: httpx.AsyncClient
) -> None:
    """The health check probes its own port; the traffic goes to the target port."""
    pool_id, ips = pool_with_members(dp_sim, 2)
    up, down = ips
    async with backends(ips) as members, backends([up], HEALTH_PORT):
        nlb = await make_nlb(dp_sim, dp_client, pool_id, healthcheck=FAST_CHECK)
        await eventually(lambda: nlb.has_status(up, "success"), what="the member up")
        assert await nlb.statuses() == {up: "success", down: "failure"}
        answers = Counter([await served_by(nlb.ip, 80) for _ in range(6)])
    assert answers == {up: 6}
    assert members.counts()[down] == 0


async def test_a_member_that_stops_answering_is_taken_out_and_put_back(
    dp_sim: Simulator, dp_client: httpx.AsyncClient
) -> None:
    pool_id, ips = pool_with_members(dp_sim, 2)
    failing, steady = ips
    async with backends(ips) as members, backends(ips, HEALTH_PORT) as health:
        nlb = await make_nlb(dp_sim, dp_client, pool_id, healthcheck=FAST_CHECK)
        await eventually(lambda: all_healthy(nlb, ips), what="both members healthy")

        await health.stop(failing)
        # Detected within interval x (retries + 1), plus one interval of slack.
        await eventually(
            lambda: nlb.has_status(failing, "failure"), timeout=5 * 2 + 5, what="the failure"
        )
        before = members.counts()[steady]
        answers = [await served_by(nlb.ip, 80) for _ in range(6)]
        assert answers == [steady] * 6
        assert members.counts()[steady] == before + 6

        await health.start(failing)
        await eventually(lambda: nlb.has_status(failing, "success"), timeout=15, what="recovery")
        answers = [await served_by(nlb.ip, 80) for _ in range(6)]
    assert Counter(answers) == {failing: 3, steady: 3}


async def test_nothing_healthy_means_connections_are_dropped(
    dp_sim: Simulator, dp_client: httpx.AsyncClient
) -> None:
    pool_id, _ = pool_with_members(dp_sim, 2)
    nlb = await make_nlb(dp_sim, dp_client, pool_id, healthcheck=FAST_CHECK)
    assert set((await nlb.statuses()).values()) == {"failure"}
    assert await fetch(nlb.ip, 80) == ""  # accepted, then closed without an answer


async def test_a_member_marked_unhealthy_by_the_test_gets_no_traffic(
    dp_sim: Simulator, dp_client: httpx.AsyncClient
) -> None:
    pool = dp_sim.add_instance_pool(ZONE, "nodes")
    marked = dp_sim.add_instance(ZONE, "marked", pool_id=pool["id"])
    steady = dp_sim.add_instance(ZONE, "steady", pool_id=pool["id"])
    ips = [marked["public-ip"], steady["public-ip"]]
    dp_sim.set_instance_health(ZONE, marked["id"], healthy=False)
    async with backends(ips) as members, backends(ips, HEALTH_PORT):
        nlb = await make_nlb(dp_sim, dp_client, pool["id"], healthcheck=FAST_CHECK)
        await eventually(lambda: nlb.has_status(steady["public-ip"], "success"), what="probe")
        answers = {await served_by(nlb.ip, 80) for _ in range(4)}
        assert (await nlb.statuses())[marked["public-ip"]] == "failure"
    assert answers == {steady["public-ip"]}
    assert members.seen[marked["public-ip"]] == []


async def test_a_member_outside_loopback_is_never_contacted(
    dp_sim: Simulator, dp_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="exoccm.sim.dataplane")
    pool = dp_sim.add_instance_pool(ZONE, "nodes")
    outside = dp_sim.add_instance(ZONE, "outside", pool_id=pool["id"], public_ip="192.0.2.10")
    inside = dp_sim.add_instance(ZONE, "inside", pool_id=pool["id"])
    async with backends([inside["public-ip"]]):
        nlb = await make_nlb(dp_sim, dp_client, pool["id"])
        await eventually(lambda: nlb.has_status(inside["public-ip"], "success"), what="probe")
        assert (await nlb.statuses())[outside["public-ip"]] == "failure"
        assert {await served_by(nlb.ip, 80) for _ in range(4)} == {inside["public-ip"]}
    refusals = [r.getMessage() for r in caplog.records if "refusing" in r.getMessage()]
    assert refusals
    assert all("192.0.2.10" in message for message in refusals)


async def test_udp_datagrams_are_forwarded_and_answered(
    dp_sim: Simulator, dp_client: httpx.AsyncClient, blocks: LoopbackBlocks
) -> None:
    pool_id, ips = pool_with_members(dp_sim, 2)
    # UDP services are checked over TCP (or HTTP).
    async with backends(ips, udp=True) as members, backends(ips, HEALTH_PORT):
        nlb = await make_nlb(
            dp_sim, dp_client, pool_id, protocol="udp", port=53, name="dns", healthcheck=FAST_CHECK
        )
        await eventually(lambda: all_healthy(nlb, ips), what="both members healthy")
        replies = []
        for index in range(4):
            async with await anyio.create_connected_udp_socket(
                nlb.ip, 53, local_host=blocks.client_ip(index)
            ) as sock:
                for attempt in (b"one", b"two"):
                    await sock.send(attempt)
                    with anyio.fail_after(5):
                        replies.append(await sock.receive())
    members_seen = {reply.split(b"|")[0].decode() for reply in replies}
    assert members_seen == set(ips)  # round-robin: flows alternate between the members
    assert [reply.split(b"|")[1] for reply in replies] == [b"one", b"two"] * 4
    # Both datagrams of a flow went to the same member.
    assert all(replies[i].split(b"|")[0] == replies[i + 1].split(b"|")[0] for i in (0, 2, 4, 6))
    assert sum(members.counts().values()) == 8
