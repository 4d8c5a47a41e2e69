"""Validation of load balancer requests, as the API documents it (400 with a message)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exoccm.sim import Simulator
from exoccm.sim.errors import ApiError
from exoccm.sim.validation import validate_add_service
from tests.sim.helpers import (
    MISSING,
    ZONE,
    add_service,
    create_nlb,
    expect_400,
    service_body,
)

pytestmark = pytest.mark.anyio


# -- request validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "missing required field(s) name"),
        ({"name": ""}, "name: must be 1 to 255"),
        ({"name": "n" * 256}, "name: must be 1 to 255"),
        ({"name": "n", "description": "d" * 256}, "description: must be 0 to 255"),
        ({"name": "n", "labels": {"a": 1}}, "labels: must be an object mapping strings"),
        ({"name": "n", "labels": ["a"]}, "labels: must be an object"),
        ({"name": 5}, "name: must be a string"),
        ({"name": "n", "targetPort": 1}, "unknown field 'targetPort'"),
        (["name"], "must be a JSON object"),
    ],
)
async def test_create_load_balancer_validation(
    client: httpx.AsyncClient, sim: Simulator, body: Any, fragment: str
) -> None:
    await expect_400(await client.post("/load-balancer", json=body), fragment)
    assert sim.load_balancers(ZONE) == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"{not json", "malformed JSON"), (b"", "needs a JSON object")],
)
async def test_malformed_or_missing_body_is_400(
    client: httpx.AsyncClient, content: bytes, fragment: str
) -> None:
    response = await client.post(
        "/load-balancer", content=content, headers={"Content-Type": "application/json"}
    )
    await expect_400(response, fragment)


@pytest.mark.parametrize(
    "field",
    ["name", "instance-pool", "protocol", "strategy", "port", "target-port", "healthcheck"],
)
async def test_add_service_requires_each_field(
    client: httpx.AsyncClient, pool: dict[str, Any], field: str
) -> None:
    lb = await create_nlb(client)
    body = service_body(pool["id"])
    del body[field]
    response = await client.post(f"/load-balancer/{lb}/service", json=body)
    await expect_400(response, f"missing required field(s) {field}")


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"protocol": "sctp"}, "protocol: must be one of tcp, udp"),
        ({"strategy": "random"}, "strategy: must be one of"),
        ({"port": 0}, "port: must be between 1 and 65535, got 0"),
        ({"port": 65536}, "port: must be between 1 and 65535"),
        ({"port": "80"}, "port: must be an integer"),
        ({"port": True}, "port: must be an integer"),
        ({"port": 80.0}, "port: must be an integer"),
        ({"target-port": 0}, "target-port: must be between 1 and 65535"),
        ({"name": ""}, "name: must be 1 to 255"),
        ({"instance-pool": {"id": "nope"}}, "instance-pool.id: must be a UUID"),
        ({"instance-pool": {"id": MISSING}}, "does not exist in zone de-muc-1"),
        ({"healthcheck": {"mode": "udp"}}, "healthcheck.mode: must be one of http, https, tcp"),
        ({"healthcheck": {"interval": 4}}, "healthcheck.interval: must be between 5 and 300"),
        ({"healthcheck": {"interval": 301}}, "healthcheck.interval"),
        ({"healthcheck": {"timeout": 1}}, "healthcheck.timeout: must be between 2 and 60"),
        ({"healthcheck": {"interval": 60, "timeout": 61}}, "healthcheck.timeout"),
        ({"healthcheck": {"retries": 0}}, "healthcheck.retries: must be between 1 and 20"),
        ({"healthcheck": {"retries": 21}}, "healthcheck.retries"),
        ({"healthcheck": {"port": 70000}}, "healthcheck.port"),
        ({"healthcheck": {"uri": ""}}, "healthcheck.uri: must be 1 to 255"),
        ({"healthcheck": {"interval": 5, "timeout": 6}}, "lower than or equal to"),
        ({"healthcheck": {"path": "/"}}, "unknown field 'path'"),
    ],
)
async def test_add_service_validation(
    client: httpx.AsyncClient, pool: dict[str, Any], overrides: dict[str, Any], fragment: str
) -> None:
    lb = await create_nlb(client)
    response = await client.post(
        f"/load-balancer/{lb}/service", json=service_body(pool["id"], **overrides)
    )
    await expect_400(response, fragment)
    assert (await client.get(f"/load-balancer/{lb}")).json()["services"] == []


async def test_pool_of_another_zone_is_rejected(sim: Simulator, client: httpx.AsyncClient) -> None:
    elsewhere = sim.add_instance_pool("ch-gva-2", "far")
    lb = await create_nlb(client)
    response = await client.post(f"/load-balancer/{lb}/service", json=service_body(elsewhere["id"]))
    await expect_400(response, "does not exist in zone de-muc-1")


async def test_at_most_ten_services(client: httpx.AsyncClient, pool: dict[str, Any]) -> None:
    lb = await create_nlb(client)
    for port in range(1, 11):
        await add_service(client, lb, pool["id"], name=f"s{port}", port=port)
    response = await client.post(
        f"/load-balancer/{lb}/service", json=service_body(pool["id"], name="s11", port=11)
    )
    await expect_400(response, "the maximum is 10")


async def test_port_and_protocol_are_unique_per_load_balancer(
    client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    lb = await create_nlb(client)
    await add_service(client, lb, pool["id"])
    duplicate = await client.post(
        f"/load-balancer/{lb}/service", json=service_body(pool["id"], name="again")
    )
    await expect_400(duplicate, "port 80/tcp is already used")
    await add_service(client, lb, pool["id"], name="udp", protocol="udp")
    other = await create_nlb(client)
    await add_service(client, other, pool["id"])  # another NLB may use the same port


async def test_update_service_rules(client: httpx.AsyncClient, pool: dict[str, Any]) -> None:
    lb = await create_nlb(client)
    first = await add_service(client, lb, pool["id"])
    await add_service(client, lb, pool["id"], name="svc-443", port=443)
    url = f"/load-balancer/{lb}/service/{first}"
    await expect_400(
        await client.put(url, json={"instance-pool": {"id": pool["id"]}}), "cannot be changed"
    )
    await expect_400(await client.put(url, json={"port": 443}), "port 443/tcp is already used")
    await expect_400(await client.put(url, json={"healthcheck": {"timeout": 11}}), "lower than")
    await expect_400(await client.put(url, json={"name": ""}), "name: must be 1 to 255")
    await expect_400(await client.put(url, json={"weight": 2}), "unknown field 'weight'")
    ok = await client.put(url, json={"port": 8080, "protocol": "udp"})
    assert ok.status_code == 200


async def test_reset_field_names_are_checked(
    client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    lb = await create_nlb(client)
    service = await add_service(client, lb, pool["id"])
    await expect_400(await client.delete(f"/load-balancer/{lb}/name"), "cannot be reset")
    response = await client.delete(f"/load-balancer/{lb}/service/{service}/port")
    await expect_400(response, "resettable: description")


async def test_unknown_query_parameters_are_rejected(client: httpx.AsyncClient) -> None:
    response = await client.get("/load-balancer", params={"name": "nlb"})
    await expect_400(response, "unknown query parameter 'name'")


_HEALTHCHECK = st.fixed_dictionaries(
    {},
    optional={
        "interval": st.integers(0, 400),
        "timeout": st.integers(0, 80),
        "retries": st.integers(-1, 25),
        "port": st.integers(-1, 70000),
    },
)


@given(healthcheck=_HEALTHCHECK, port=st.integers(-5, 70000))
def test_add_service_accepts_exactly_the_documented_ranges(
    healthcheck: dict[str, int], port: int
) -> None:
    merged = {"interval": 10, "timeout": 2, "retries": 1, "port": 30080, **healthcheck}
    valid = (
        1 <= port <= 65535
        and 5 <= merged["interval"] <= 300
        and 2 <= merged["timeout"] <= 60
        and 1 <= merged["retries"] <= 20
        and 1 <= merged["port"] <= 65535
        and merged["timeout"] <= merged["interval"]
    )
    body = service_body(MISSING, port=port, healthcheck=healthcheck)
    if valid:
        checked = validate_add_service(body)
        assert checked["healthcheck"] == {"mode": "tcp", **merged}
    else:
        with pytest.raises(ApiError) as caught:
            validate_add_service(body)
        assert caught.value.status == 400
