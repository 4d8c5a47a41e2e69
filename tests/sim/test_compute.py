"""Instances, pools, instance types, SKS clusters and zones."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from exoccm.sim import Simulator
from tests.sim.helpers import ZONE, OfficialSigner, check_httpx_response

pytestmark = pytest.mark.anyio


async def instance_names(client: httpx.AsyncClient, **params: str) -> list[str]:
    response = await client.get("/instance", params=params)
    assert response.status_code == 200, response.text
    return [instance["name"] for instance in response.json()["instances"]]


@pytest.fixture
def fleet(sim: Simulator) -> dict[str, Any]:
    workers = sim.add_instance_pool(ZONE, "workers")
    infra = sim.add_instance_pool(ZONE, "infra")
    sim.add_instance(ZONE, "w0", pool_id=workers["id"], public_ip="203.0.113.10", labels={"a": "1"})
    sim.add_instance(ZONE, "w1", pool_id=workers["id"], ipv6="2001:db8::10", labels={"a": "2"})
    sim.add_instance(ZONE, "i0", pool_id=infra["id"], labels={"b": "x"})
    sim.add_instance(ZONE, "solo", public_ip=None)
    return {"workers": workers, "infra": infra}


async def test_list_instances_filters(client: httpx.AsyncClient, fleet: dict[str, Any]) -> None:
    workers = fleet["workers"]["id"]
    assert await instance_names(client) == ["w0", "w1", "i0", "solo"]
    assert await instance_names(client, **{"ip-address": "203.0.113.10"}) == ["w0"]
    # IPv6 matches whatever the spelling.
    assert await instance_names(client, **{"ip-address": "2001:0db8:0:0::10"}) == ["w1"]
    assert await instance_names(client, **{"ip-address": "198.51.100.99"}) == []
    assert await instance_names(client, **{"manager-id": workers}) == ["w0", "w1"]
    assert await instance_names(client, **{"manager-type": "instance-pool"}) == ["w0", "w1", "i0"]
    assert await instance_names(
        client, **{"manager-id": workers, "ip-address": "203.0.113.10"}
    ) == ["w0"]
    assert await instance_names(client, labels="a=2") == ["w1"]
    assert await instance_names(client, labels="a") == ["w0", "w1"]
    assert await instance_names(client, labels="a,b") == []


async def test_list_instances_rejects_bad_filters(client: httpx.AsyncClient) -> None:
    bad_id = await client.get("/instance", params={"manager-id": "pool-1"})
    assert bad_id.status_code == 400
    assert "manager-id: must be a UUID" in bad_id.json()["message"]
    twice = await client.get("/instance?manager-type=instance-pool&manager-type=instance-pool")
    assert twice.status_code in (400, 403)  # the signature cannot cover a repeated parameter


async def test_instance_representations(
    sim: Simulator, client: httpx.AsyncClient, fleet: dict[str, Any]
) -> None:
    listed = {i["name"]: i for i in (await client.get("/instance")).json()["instances"]}
    w0 = (await client.get(f"/instance/{listed['w0']['id']}")).json()
    assert w0["manager"] == {"id": fleet["workers"]["id"], "type": "instance-pool"}
    assert (w0["instance-type"]["family"], w0["instance-type"]["size"]) == ("standard", "medium")
    assert w0["public-ip-assignment"] == "inet4"
    assert "disk-size" in w0
    assert "disk-size" not in listed["w0"]  # list items are the spec's narrower schema
    w1 = (await client.get(f"/instance/{listed['w1']['id']}")).json()
    assert (w1["ipv6-address"], w1["public-ip-assignment"]) == ("2001:db8::10", "dual")
    solo = (await client.get(f"/instance/{listed['solo']['id']}")).json()
    assert "manager" not in solo
    assert "public-ip" not in solo
    assert solo["public-ip-assignment"] == "none"
    with_networks = sim.add_instance(ZONE, "pn", private_networks=2)
    assert len(with_networks["private-networks"]) == 2
    assert all(set(pn) == {"id", "mac-address"} for pn in with_networks["private-networks"])


async def test_instance_pools_list_their_members(
    sim: Simulator, client: httpx.AsyncClient, fleet: dict[str, Any]
) -> None:
    workers = (await client.get(f"/instance-pool/{fleet['workers']['id']}")).json()
    assert len(workers["instances"]) == 2
    assert workers["size"] == 2
    sim.delete_instance(ZONE, workers["instances"][0]["id"])
    after = (await client.get(f"/instance-pool/{fleet['workers']['id']}")).json()
    assert [m["id"] for m in after["instances"]] == [workers["instances"][1]["id"]]
    pools = (await client.get("/instance-pool")).json()["instance-pools"]
    assert {p["name"] for p in pools} == {"workers", "infra"}
    assert (await client.get(f"/instance/{workers['instances'][0]['id']}")).status_code == 404


async def test_instance_types(sim: Simulator, client: httpx.AsyncClient) -> None:
    big = sim.add_instance_type(ZONE, "memory", "huge", cpus=16, memory=128 * 2**30)
    again = sim.add_instance_type(ZONE, "memory", "huge", cpus=32)
    assert again["id"] == big["id"]
    got = (await client.get(f"/instance-type/{big['id']}")).json()
    assert (got["cpus"], got["memory"]) == (32, 4294967296)
    gpu = sim.add_instance_type(ZONE, "gpu3", "small")
    listed = (await client.get("/instance-type")).json()["instance-types"]
    assert {(t["family"], t["size"]) for t in listed} == {("memory", "huge"), ("gpu3", "small")}
    assert gpu["gpus"] == 1
    with pytest.raises(ValueError, match="unknown instance type family"):
        sim.add_instance_type(ZONE, "quantum", "small")
    with pytest.raises(ValueError, match="size"):
        sim.add_instance_type(ZONE, "standard", "enormous")


async def test_sks_clusters_embed_their_nodepools(
    sim: Simulator, client: httpx.AsyncClient, fleet: dict[str, Any]
) -> None:
    cluster = sim.add_sks_cluster(
        ZONE,
        "prod",
        nodepools=[
            {"name": "workers", "instance_pool_id": fleet["workers"]["id"]},
            {
                "name": "infra",
                "instance_pool_id": fleet["infra"]["id"],
                "id": "11111111-2222-4333-8444-555555555555",
            },
        ],
    )
    listed = (await client.get("/sks-cluster")).json()["sks-clusters"]
    assert [c["name"] for c in listed] == ["prod"]
    got = (await client.get(f"/sks-cluster/{cluster['id']}")).json()
    pools = {np["name"]: (np["instance-pool"]["id"], np["size"]) for np in got["nodepools"]}
    assert pools == {
        "workers": (fleet["workers"]["id"], 2),
        "infra": (fleet["infra"]["id"], 1),
    }
    nodepool = await client.get(
        f"/sks-cluster/{cluster['id']}/nodepool/11111111-2222-4333-8444-555555555555"
    )
    assert nodepool.json()["name"] == "infra"
    pool = (await client.get(f"/instance-pool/{fleet['infra']['id']}")).json()
    assert pool["manager"] == {"id": "11111111-2222-4333-8444-555555555555", "type": "sks-nodepool"}
    with pytest.raises(LookupError, match="does not exist"):
        sim.add_sks_cluster(
            ZONE, "x", nodepools=[{"name": "np", "instance_pool_id": cluster["id"]}]
        )


async def test_served_zones_can_be_limited() -> None:
    sim = Simulator(zones=["de-muc-1", "ch-gva-2"])
    key = sim.add_api_key()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://localhost:9999",
        auth=OfficialSigner(*key),
        event_hooks={"response": [check_httpx_response]},
    ) as client:
        zones = (await client.get("/ch-gva-2/v2/zone")).json()["zones"]
        assert zones == [
            {
                "name": "ch-gva-2",
                "api-endpoint": "http://localhost:9999/ch-gva-2/v2",
                "sos-endpoint": "https://sos-ch-gva-2.exoscale.com",
            },
            {
                "name": "de-muc-1",
                "api-endpoint": "http://localhost:9999/de-muc-1/v2",
                "sos-endpoint": "https://sos-de-muc-1.exoscale.com",
            },
        ]
        unserved = await client.get("/at-vie-1/v2/load-balancer")
        assert unserved.status_code == 404
        assert "unknown zone 'at-vie-1'" in unserved.json()["message"]
    with pytest.raises(ValueError, match="zones must be"):
        Simulator(zones=["mars-1"])
    with pytest.raises(LookupError, match="not served"):
        sim.add_instance_pool("at-vie-1", "p")


def test_identifiers_are_reproducible_from_the_seed() -> None:
    def build(seed: int) -> list[str]:
        sim = Simulator(seed=seed)
        pool = sim.add_instance_pool(ZONE, "p")
        node = sim.add_instance(ZONE, "n", pool_id=pool["id"])
        return [pool["id"], node["id"], node["mac-address"], node["public-ip"]]

    assert build(7) == build(7)
    assert build(7) != build(8)


def test_control_surface_rejects_bad_arguments(sim: Simulator) -> None:
    pool = sim.add_instance_pool(ZONE, "p")
    with pytest.raises(ValueError, match="unknown instance state"):
        sim.add_instance(ZONE, "n", state="asleep")
    with pytest.raises(ValueError, match="public_ip"):
        sim.add_instance(ZONE, "n", public_ip="256.1.1.1")
    with pytest.raises(ValueError, match="UUID"):
        sim.add_instance(ZONE, "n", id="node-1")
    with pytest.raises(ValueError, match="already exists"):
        sim.add_instance_pool(ZONE, "again", id=pool["id"])
    with pytest.raises(LookupError, match="instance pool"):
        sim.add_instance(ZONE, "n", pool_id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(LookupError, match="instance"):
        sim.set_instance_state(ZONE, "00000000-0000-4000-8000-000000000000", "running")
    with pytest.raises(ValueError, match="name"):
        sim.add_instance(ZONE, "")
