"""Load balancer behaviour: state transitions, operation outcomes, backends' health."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from exoccm.sim import Fault, Simulator
from tests.sim.helpers import (
    ZONE,
    OfficialSigner,
    add_service,
    check_httpx_response,
    create_nlb,
    expect_400,
    service_body,
)

pytestmark = pytest.mark.anyio


# -- state transitions --------------------------------------------------------------------------


@pytest.fixture
def slow_sim(sim: Simulator) -> Simulator:
    sim.set_operation_latency(5.0)
    return sim


async def operation_state(client: httpx.AsyncClient, operation: dict[str, Any]) -> str:
    state: str = (await client.get(f"/operation/{operation['id']}")).json()["state"]
    return state


async def test_load_balancer_lifecycle(
    slow_sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    sim = slow_sim
    created = (await client.post("/load-balancer", json={"name": "nlb"})).json()
    lb = created["reference"]["id"]
    assert created["state"] == "pending"
    assert (await client.get(f"/load-balancer/{lb}")).json()["state"] == "creating"
    sim.advance(4.9)
    assert await operation_state(client, created) == "pending"
    sim.advance(0.1)
    assert await operation_state(client, created) == "success"
    nlb = (await client.get(f"/load-balancer/{lb}")).json()
    assert nlb["state"] == "running"

    deleting = (await client.delete(f"/load-balancer/{lb}")).json()
    assert (await client.get(f"/load-balancer/{lb}")).json()["state"] == "deleting"
    conflict = await client.put(f"/load-balancer/{lb}", json={"name": "late"})
    assert conflict.status_code == 409
    sim.advance(5)
    assert await operation_state(client, deleting) == "success"
    assert (await client.get(f"/load-balancer/{lb}")).status_code == 404


async def test_service_lifecycle(
    slow_sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    sim = slow_sim
    lb = await create_nlb(client)
    sim.advance(5)
    await client.post(f"/load-balancer/{lb}/service", json=service_body(pool["id"]))
    [service] = (await client.get(f"/load-balancer/{lb}")).json()["services"]
    url = f"/load-balancer/{lb}/service/{service['id']}"
    assert service["state"] == "creating"
    sim.advance(5)
    assert (await client.get(url)).json()["state"] == "running"

    await client.put(url, json={"port": 8080, "healthcheck": {"interval": 20}})
    during = (await client.get(url)).json()
    # The change lands when the operation completes.
    assert (during["state"], during["port"]) == ("updating", 80)
    sim.advance(5)
    after = (await client.get(url)).json()
    assert (after["state"], after["port"]) == ("running", 8080)
    assert after["healthcheck"] == {
        "mode": "tcp",
        "port": 30080,
        "interval": 20,
        "timeout": 5,
        "retries": 1,
    }

    await client.delete(url)
    assert (await client.get(url)).json()["state"] == "deleting"
    assert (await client.put(url, json={"port": 81})).status_code == 409
    sim.advance(5)
    assert (await client.get(url)).status_code == 404


async def test_per_operation_latency(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.set_operation_latency(1.0)
    sim.set_operation_latency(30.0, "create-load-balancer")
    created = (await client.post("/load-balancer", json={"name": "nlb"})).json()
    renamed = (
        await client.put(f"/load-balancer/{created['reference']['id']}", json={"name": "x"})
    ).json()
    sim.advance(1)
    assert await operation_state(client, renamed) == "success"
    assert await operation_state(client, created) == "pending"
    sim.advance(29)
    assert await operation_state(client, created) == "success"


async def test_partial_updates_keep_omitted_fields(
    client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    lb = await create_nlb(client, description="keep", labels={"a": "b"})
    await client.put(f"/load-balancer/{lb}", json={"name": "renamed"})
    nlb = (await client.get(f"/load-balancer/{lb}")).json()
    assert (nlb["name"], nlb["description"], nlb["labels"]) == ("renamed", "keep", {"a": "b"})
    await client.delete(f"/load-balancer/{lb}/description")
    assert "description" not in (await client.get(f"/load-balancer/{lb}")).json()


async def test_each_load_balancer_gets_its_own_ip(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    for index in range(5):
        await create_nlb(client, name=f"nlb-{index}")
    ips = [lb["ip"] for lb in sim.load_balancers(ZONE)]
    assert len(set(ips)) == 5


async def test_zones_hold_separate_state(
    sim: Simulator, client: httpx.AsyncClient, credentials: tuple[str, str]
) -> None:
    await create_nlb(client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim/ch-gva-2/v2",
        auth=OfficialSigner(*credentials),
        event_hooks={"response": [check_httpx_response]},
    ) as geneva:
        assert (await geneva.get("/load-balancer")).json() == {"load-balancers": []}
        lb = (await client.get("/load-balancer")).json()["load-balancers"][0]["id"]
        assert (await geneva.get(f"/load-balancer/{lb}")).status_code == 404
    assert sim.count("get-load-balancer", zone="ch-gva-2", status=404) == 1


# -- operation outcomes -------------------------------------------------------------------------


async def test_failed_create_leaves_the_load_balancer_in_error(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("create-load-balancer", Fault.operation_failure("unavailable", "no capacity"))
    op = (await client.post("/load-balancer", json={"name": "nlb"})).json()
    done = (await client.get(f"/operation/{op['id']}")).json()
    assert (done["state"], done["reason"], done["message"]) == (
        "failure",
        "unavailable",
        "no capacity",
    )
    [lb] = sim.load_balancers(ZONE)
    assert lb["state"] == "error"
    sim.clear_faults()
    await client.delete(f"/load-balancer/{lb['id']}")
    assert sim.load_balancers(ZONE) == []


async def test_failed_service_update_keeps_old_values_until_a_later_success(
    sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    lb = await create_nlb(client)
    service = await add_service(client, lb, pool["id"])
    url = f"/load-balancer/{lb}/service/{service}"
    sim.inject("update-load-balancer-service", Fault.operation_failure(), count=1)
    await client.put(url, json={"port": 81})
    failed = (await client.get(url)).json()
    assert (failed["state"], failed["port"]) == ("error", 80)
    await client.put(url, json={"port": 82})
    repaired = (await client.get(url)).json()
    assert (repaired["state"], repaired["port"]) == ("running", 82)


async def test_failed_add_service_leaves_an_errored_service_holding_its_port(
    sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    lb = await create_nlb(client)
    sim.inject("add-service-to-load-balancer", Fault.operation_failure(), count=1)
    await client.post(f"/load-balancer/{lb}/service", json=service_body(pool["id"]))
    [service] = (await client.get(f"/load-balancer/{lb}")).json()["services"]
    assert service["state"] == "error"
    retry = await client.post(f"/load-balancer/{lb}/service", json=service_body(pool["id"]))
    await expect_400(retry, "already used")


async def test_timed_out_operation_still_made_the_change(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    lb = await create_nlb(client)
    sim.inject("update-load-balancer", Fault.operation_timeout(), count=1)
    op = (await client.put(f"/load-balancer/{lb}", json={"name": "renamed"})).json()
    done = (await client.get(f"/operation/{op['id']}")).json()
    assert done["state"] == "timeout"
    assert (await client.get(f"/load-balancer/{lb}")).json()["name"] == "renamed"


async def test_stuck_operation_never_completes(
    sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    lb = await create_nlb(client)
    service = await add_service(client, lb, pool["id"])
    sim.inject("delete-load-balancer-service", Fault.operation_stuck())
    op = (await client.delete(f"/load-balancer/{lb}/service/{service}")).json()
    sim.advance(10**6)
    assert (await client.get(f"/operation/{op['id']}")).json()["state"] == "pending"
    url = f"/load-balancer/{lb}/service/{service}"
    assert (await client.get(url)).json()["state"] == "deleting"
    assert sim.requests[-3].fault == "operation-stuck"


async def test_failed_delete_keeps_the_load_balancer(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    lb = await create_nlb(client)
    sim.inject("delete-load-balancer", Fault.operation_failure(), count=1)
    await client.delete(f"/load-balancer/{lb}")
    assert (await client.get(f"/load-balancer/{lb}")).json()["state"] == "error"


# -- backends' health ---------------------------------------------------------------------------


async def test_healthcheck_status_follows_the_pool(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    pool = sim.add_instance_pool(ZONE, "nodes")
    a = sim.add_instance(ZONE, "a", pool_id=pool["id"], public_ip="203.0.113.1")
    b = sim.add_instance(ZONE, "b", pool_id=pool["id"], public_ip="203.0.113.2")
    sim.add_instance(ZONE, "private", pool_id=pool["id"], public_ip=None)
    c = sim.add_instance(ZONE, "c", pool_id=pool["id"], public_ip="203.0.113.3")
    lb = await create_nlb(client)
    service = await add_service(client, lb, pool["id"])
    url = f"/load-balancer/{lb}/service/{service}"

    async def status() -> list[tuple[str, str]]:
        got = (await client.get(url)).json()["healthcheck-status"]
        return [(entry["public-ip"], entry["status"]) for entry in got]

    assert await status() == [
        ("203.0.113.1", "success"),
        ("203.0.113.2", "success"),
        ("203.0.113.3", "success"),
    ]
    sim.set_instance_health(ZONE, a["id"], healthy=False)
    sim.set_instance_state(ZONE, b["id"], "stopped")
    sim.delete_instance(ZONE, c["id"])
    assert await status() == [("203.0.113.1", "failure")]
