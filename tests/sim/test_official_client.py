"""The official Python client (`exoscale.api.v2.Client`) drives the simulator over a socket.

The client builds every URL, including the one `wait()` polls, from the `url=` it was given,
so pointing it at `http://127.0.0.1:PORT/<zone>/v2` is all it needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from exoscale.api.exceptions import (
    ExoscaleAPIAuthException,
    ExoscaleAPIClientException,
    ExoscaleAPIServerException,
)
from exoscale.api.v2 import Client

from exoccm.sim import Fault, Simulator
from exoccm.sim.server import serve_in_thread
from tests.sim.helpers import ZONE, check_requests_response


@pytest.fixture
def official(sim: Simulator, credentials: tuple[str, str]) -> Iterator[tuple[Any, str]]:
    with serve_in_thread(sim) as base:
        client = Client(*credentials, url=f"{base}/{ZONE}/v2")
        client.http_client.hooks["response"].append(check_requests_response)
        yield client, base


def test_full_load_balancer_scenario(
    sim: Simulator, pool: dict[str, Any], official: tuple[Any, str]
) -> None:
    client, _ = official
    created = client.create_load_balancer(name="k8s-nlb", description="demo", labels={"a": "b"})
    assert created["state"] == "pending"
    done = client.wait(created["id"])
    assert done["state"] == "success"
    lb_id = done["reference"]["id"]
    assert done["reference"]["link"] == f"/v2/load-balancer/{lb_id}"
    lb = client.get_load_balancer(id=lb_id)
    assert (lb["state"], lb["name"], lb["description"], lb["labels"]) == (
        "running",
        "k8s-nlb",
        "demo",
        {"a": "b"},
    )

    added = client.add_service_to_load_balancer(
        id=lb_id,
        name="svc-80",
        instance_pool={"id": pool["id"]},
        protocol="tcp",
        strategy="round-robin",
        port=80,
        target_port=30080,
        healthcheck={"mode": "tcp", "port": 30080, "interval": 10, "timeout": 5, "retries": 1},
    )
    # As for every NLB write, the operation refers to the NLB, not to the new service.
    assert client.wait(added["id"])["reference"]["id"] == lb_id
    [service] = client.get_load_balancer(id=lb_id)["services"]
    assert service["state"] == "running"
    assert len(service["healthcheck-status"]) == 3

    updated = client.update_load_balancer_service(
        id=lb_id, service_id=service["id"], port=8080, healthcheck={"interval": 20}
    )
    client.wait(updated["id"])
    got = client.get_load_balancer_service(id=lb_id, service_id=service["id"])
    assert (got["port"], got["healthcheck"]["interval"], got["healthcheck"]["timeout"]) == (
        8080,
        20,
        5,
    )

    client.wait(client.update_load_balancer(id=lb_id, name="renamed")["id"])
    client.wait(client.reset_load_balancer_field(id=lb_id, field="labels")["id"])
    lb = client.get_load_balancer(id=lb_id)
    assert lb["name"] == "renamed"
    assert "labels" not in lb

    client.wait(client.delete_load_balancer_service(id=lb_id, service_id=service["id"])["id"])
    assert client.get_load_balancer(id=lb_id)["services"] == []
    client.wait(client.delete_load_balancer(id=lb_id)["id"])
    with pytest.raises(ExoscaleAPIClientException, match="404"):
        client.get_load_balancer(id=lb_id)
    assert sim.count("get-operation", status=200) == 7


def test_list_zones_points_at_the_simulator(official: tuple[Any, str]) -> None:
    client, base = official
    zones = {zone["name"]: zone["api-endpoint"] for zone in client.list_zones()["zones"]}
    assert zones[ZONE] == f"{base}/{ZONE}/v2"
    assert len(zones) == 8


def test_failed_operation_raises_in_wait(
    sim: Simulator, pool: dict[str, Any], official: tuple[Any, str]
) -> None:
    client, _ = official
    sim.inject("create-load-balancer", Fault.operation_failure(reason="busy"), count=1)
    op = client.create_load_balancer(name="doomed")
    with pytest.raises(ExoscaleAPIServerException, match="Operation error: failure, busy"):
        client.wait(op["id"])
    sim.inject("delete-load-balancer", Fault.operation_timeout(), count=1)
    [lb] = sim.load_balancers(ZONE)
    op = client.delete_load_balancer(id=lb["id"])
    with pytest.raises(ExoscaleAPIServerException, match="Operation error: timeout"):
        client.wait(op["id"])


def test_http_errors_map_to_the_clients_exceptions(
    sim: Simulator, official: tuple[Any, str]
) -> None:
    client, _ = official
    sim.inject("list-load-balancers", Fault.http(503, "maintenance"), count=1)
    with pytest.raises(ExoscaleAPIServerException, match="503"):
        client.list_load_balancers()
    with pytest.raises(ExoscaleAPIClientException, match="400"):
        client.create_load_balancer(name="")
    restricted = Client(*sim.add_api_key(operations=["get-operation"]), url=client.endpoint)
    with pytest.raises(ExoscaleAPIAuthException, match="403"):
        restricted.list_load_balancers()


def test_lying_listings_reach_the_client_as_valid_answers(
    sim: Simulator, pool: dict[str, Any], official: tuple[Any, str]
) -> None:
    """The response hook validates each answer against the spec: a lie looks like the truth."""
    client, _ = official
    first = client.wait(client.create_load_balancer(name="first")["id"])["reference"]["id"]
    sim.advance(60)
    second = client.wait(client.create_load_balancer(name="second")["id"])["reference"]["id"]

    def listed() -> list[str]:
        return [lb["id"] for lb in client.list_load_balancers()["load-balancers"]]

    sim.inject("list-load-balancers", Fault.listing_empty(), count=1)
    sim.inject("list-load-balancers", Fault.listing_partial(ids=[first]), count=1)
    sim.inject("list-load-balancers", Fault.listing_lagging(30), count=1)
    assert [listed() for _ in range(4)] == [[], [second], [first], [first, second]]
    sim.inject("list-instances", Fault.listing_partial(share=1 / 3))
    assert len(client.list_instances()["instances"]) == 2
    # Reads by id stay authoritative whatever lies the listings tell.
    sim.inject("*", Fault.listing_empty())
    assert client.list_load_balancers() == {"load-balancers": []}
    assert {client.get_load_balancer(id=lb)["name"] for lb in (first, second)} == {
        "first",
        "second",
    }
    assert client.get_instance_pool(id=pool["id"])["size"] == 3
    faults = [r.fault for r in sim.requests if r.operation_id == "list-load-balancers"]
    assert faults == ["listing-empty", "listing-partial", "listing-lagging", None, "listing-empty"]
