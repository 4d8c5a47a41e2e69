"""Listeners come and go with NLB services, pools and instances, and all close at shutdown;
without a data plane nothing listens at all."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from exoccm.sim import Simulator
from exoccm.sim.dataplane_addresses import LoopbackNetworks
from exoccm.testing.loopback import LoopbackBlocks
from tests.sim.dataplane_helpers import (
    TARGET_PORT,
    all_healthy,
    backends,
    eventually,
    make_nlb,
    pool_with_members,
    refused,
    served_by,
)
from tests.sim.helpers import ZONE, OfficialSigner, add_service, create_nlb

pytestmark = pytest.mark.anyio


async def test_a_listener_opens_with_its_service_and_follows_its_port(
    dp_sim: Simulator, dp_client: httpx.AsyncClient
) -> None:
    assert dp_sim.data_plane is not None
    pool_id, ips = pool_with_members(dp_sim, 1)
    async with backends(ips):
        lb_id = await create_nlb(dp_client)
        dp_sim.advance(0)
        await dp_sim.data_plane.sync()
        ip = (await dp_client.get(f"/load-balancer/{lb_id}")).json()["ip"]
        assert await refused(ip, 80)  # an NLB without services listens nowhere
        assert dp_sim.data_plane.listening == []

        service_id = await add_service(dp_client, lb_id, pool_id)
        dp_sim.advance(0)
        await dp_sim.data_plane.sync()
        assert dp_sim.data_plane.listening == [f"tcp {ip}:80 (NLB service {service_id})"]
        await eventually(lambda: _answers(ip, 80, ips[0]), what="traffic on port 80")

        url = f"/load-balancer/{lb_id}/service/{service_id}"
        assert (await dp_client.put(url, json={"port": 8080})).status_code == 200
        dp_sim.advance(0)
        await dp_sim.data_plane.sync()
        assert await refused(ip, 80)
        await eventually(lambda: _answers(ip, 8080, ips[0]), what="traffic on port 8080")

        assert (await dp_client.delete(url)).status_code == 200
        dp_sim.advance(0)
        await dp_sim.data_plane.sync()
        assert await refused(ip, 8080)
        assert dp_sim.data_plane.listening == []


async def _answers(ip: str, port: int, member: str) -> bool:
    return await served_by(ip, port) == member


async def test_an_update_takes_effect_when_its_operation_succeeds(
    dp_sim: Simulator, dp_client: httpx.AsyncClient
) -> None:
    assert dp_sim.data_plane is not None
    pool_id, ips = pool_with_members(dp_sim, 1)
    async with backends(ips), backends(ips, TARGET_PORT + 1) as moved:
        nlb = await make_nlb(dp_sim, dp_client, pool_id)
        await eventually(lambda: all_healthy(nlb, ips), what="the member healthy")
        dp_sim.set_operation_latency(5.0)
        await nlb.update_service(**{"target-port": TARGET_PORT + 1})
        await dp_sim.data_plane.sync()
        # Still updating: the old target port keeps serving.
        assert await served_by(nlb.ip, 80) == ips[0]
        assert moved.counts()[ips[0]] == 0
        dp_sim.advance(5)
        await dp_sim.data_plane.sync()
        await eventually(lambda: _answers(nlb.ip, 80, ips[0]), what="traffic after the update")
        assert moved.counts()[ips[0]] >= 1


async def test_deleting_the_nlb_closes_its_listeners(
    dp_sim: Simulator, dp_client: httpx.AsyncClient
) -> None:
    assert dp_sim.data_plane is not None
    pool_id, _ = pool_with_members(dp_sim, 1)
    nlb = await make_nlb(dp_sim, dp_client, pool_id)
    await add_service(dp_client, nlb.id, pool_id, name="svc-443", port=443)
    dp_sim.advance(0)
    await dp_sim.data_plane.sync()
    assert len(dp_sim.data_plane.listening) == 2
    assert not await refused(nlb.ip, 443)
    assert (await dp_client.delete(f"/load-balancer/{nlb.id}")).status_code == 200
    dp_sim.advance(0)
    await dp_sim.data_plane.sync()
    assert dp_sim.data_plane.listening == []
    assert await refused(nlb.ip, 80)
    assert await refused(nlb.ip, 443)


async def test_members_follow_the_pool_and_the_instances_states(
    dp_sim: Simulator, dp_client: httpx.AsyncClient
) -> None:
    assert dp_sim.data_plane is not None
    pool_id = dp_sim.add_instance_pool(ZONE, "nodes")["id"]
    first = dp_sim.add_instance(ZONE, "first", pool_id=pool_id)
    ips = [first["public-ip"]]
    newcomer = dp_sim.add_instance(ZONE, "outsider")  # in no pool
    async with backends([*ips, newcomer["public-ip"]]) as members:
        nlb = await make_nlb(dp_sim, dp_client, pool_id)
        await eventually(lambda: all_healthy(nlb, ips), what="the member healthy")
        assert set(await nlb.statuses()) == set(ips)

        joined = dp_sim.add_instance(ZONE, "joined", pool_id=pool_id)
        async with backends([joined["public-ip"]]) as joined_member:
            await dp_sim.data_plane.sync()
            everyone = [*ips, joined["public-ip"]]
            await eventually(lambda: all_healthy(nlb, everyone), what="the newcomer healthy")
            answers = {await served_by(nlb.ip, 80) for _ in range(4)}
            assert answers == set(everyone)

            dp_sim.set_instance_state(ZONE, joined["id"], "stopped")
            await dp_sim.data_plane.sync()
            assert set(await nlb.statuses()) == set(ips)  # a stopped member is not listed
            before = joined_member.counts()[joined["public-ip"]]
            assert {await served_by(nlb.ip, 80) for _ in range(4)} == set(ips)
            assert joined_member.counts()[joined["public-ip"]] == before

        dp_sim.delete_instance(ZONE, first["id"])
        await dp_sim.data_plane.sync()
        assert await nlb.statuses() == {}
        assert await served_by(nlb.ip, 80) == ""  # no member left: dropped
        assert members.counts()[newcomer["public-ip"]] == 0  # never a member, never a target


async def test_reset_closes_every_listener(dp_sim: Simulator, dp_client: httpx.AsyncClient) -> None:
    assert dp_sim.data_plane is not None
    pool_id, _ = pool_with_members(dp_sim, 1)
    nlb = await make_nlb(dp_sim, dp_client, pool_id)
    assert not await refused(nlb.ip, 80)
    dp_sim.reset()
    await dp_sim.data_plane.sync()
    assert dp_sim.data_plane.listening == []
    assert await refused(nlb.ip, 80)


async def test_everything_closes_when_the_data_plane_stops(blocks: LoopbackBlocks) -> None:
    sim = Simulator(seed=0, clock="manual", data_plane=True, networks=blocks.networks)
    assert sim.data_plane is not None
    key, secret = sim.add_api_key()
    pool_id, ips = pool_with_members(sim, 2)
    async with (
        backends(ips) as members,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=sim.app),
            base_url=f"http://sim/{ZONE}/v2",
            auth=OfficialSigner(key, secret),
        ) as client,
    ):
        async with sim.data_plane.running():
            nlb = await make_nlb(sim, client, pool_id)
            await add_service(client, nlb.id, pool_id, name="dns", protocol="udp", port=53)
            sim.advance(0)
            await sim.data_plane.sync()
            assert len(sim.data_plane.listening) == 2
            await eventually(lambda: all_healthy(nlb, ips), what="members healthy")
        assert await refused(nlb.ip, 80)
        assert sim.data_plane.listening == []
        assert members.counts()  # (the members were probed while it ran)
    # The same simulator can carry traffic again (a new listener on the same address).
    async with sim.data_plane.running():
        assert len(sim.data_plane.listening) == 2


# -- without a data plane -----------------------------------------------------------------------


def _listening_sockets() -> set[str]:
    """Local addresses of this process's listening TCP sockets (from /proc)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
            found.add(fields[1])
    return found


async def test_without_a_data_plane_nothing_listens(
    sim: Simulator, client: httpx.AsyncClient, pool: dict[str, object]
) -> None:
    assert sim.data_plane is None
    before = _listening_sockets()
    lb_id = await create_nlb(client)
    await add_service(client, lb_id, str(pool["id"]))
    sim.advance(0)
    nlb = (await client.get(f"/load-balancer/{lb_id}")).json()
    assert nlb["ip"].startswith("194.182.")  # the public-looking ranges, as before
    assert {s["status"] for s in nlb["services"][0]["healthcheck-status"]} == {"success"}
    assert _listening_sockets() == before


def test_data_plane_addresses_are_loopback_and_distinct(blocks: LoopbackBlocks) -> None:
    sim = Simulator(seed=0, clock="manual", data_plane=True, networks=blocks.networks)
    instance = sim.add_instance(ZONE, "node")
    assert instance["public-ip"] == blocks.networks.instances.replace("0.0/16", "0.1")
    default = Simulator(seed=0, clock="manual", data_plane=True)
    assert default.data_plane is not None
    assert default.data_plane.networks == LoopbackNetworks("127.10.0.0/16", "127.20.0.0/16")
    assert default.add_instance(ZONE, "node")["public-ip"] == "127.20.0.1"


@pytest.mark.parametrize(
    ("load_balancers", "instances", "message"),
    [
        ("10.0.0.0/16", "127.20.0.0/16", "the NLB network 10.0.0.0/16 must lie within 127.0.0.0/8"),
        ("127.10.0.0/16", "127.0.0.0/8", "must not contain 127.0.0.1"),
        ("127.10.0.0/16", "127.10.128.0/17", "overlap"),
        ("127.10.0.0/32", "127.20.0.0/16", "too small"),
        ("127.10.0.0/33", "127.20.0.0/16", "is not an IPv4 network"),
    ],
)
def test_bad_networks_are_named(load_balancers: str, instances: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        LoopbackNetworks(load_balancers, instances)


def test_networks_need_a_data_plane() -> None:
    with pytest.raises(ValueError, match="data_plane=True"):
        Simulator(networks=LoopbackNetworks())
