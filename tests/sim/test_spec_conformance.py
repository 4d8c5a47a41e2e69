"""The simulator against the official OpenAPI document: operations, enums, every response."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from exoccm.sim import Fault, Simulator, constants
from exoccm.sim.routing import ROUTES
from tests.sim.helpers import ZONE, check_response, service_body, spec_document

pytestmark = pytest.mark.anyio

# Every operation exoccm calls (the service, node and lifecycle controllers, and zone discovery).
OPERATIONS_EXOCCM_USES = {
    "list-load-balancers",
    "get-load-balancer",
    "create-load-balancer",
    "update-load-balancer",
    "delete-load-balancer",
    "reset-load-balancer-field",
    "add-service-to-load-balancer",
    "get-load-balancer-service",
    "update-load-balancer-service",
    "delete-load-balancer-service",
    "reset-load-balancer-service-field",
    "list-instances",
    "get-instance",
    "list-instance-pools",
    "get-instance-pool",
    "list-instance-types",
    "get-instance-type",
    "list-zones",
    "get-operation",
    "list-sks-clusters",
    "get-sks-cluster",
    "get-sks-nodepool",
}


def _spec_operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    found = {}
    for path, item in spec_document()["paths"].items():
        for method, operation in item.items():
            found[operation["operationId"]] = (method.upper(), path, operation)
    return found


def test_simulator_serves_every_operation_exoccm_uses() -> None:
    served = {route.operation_id for route in ROUTES}
    assert OPERATIONS_EXOCCM_USES - served == set()


def test_routes_match_the_spec_method_path_and_query_parameters() -> None:
    spec = _spec_operations()
    for route in ROUTES:
        assert route.operation_id in spec, route.operation_id
        method, path, operation = spec[route.operation_id]
        assert (route.method, route.template) == (method, path)
        query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        assert sorted(route.query_params) == sorted(query), route.operation_id


def _enum(schema: str, *keys: str) -> set[str]:
    node: Any = spec_document()["components"]["schemas"][schema]
    for key in keys:
        node = node[key]
    return set(node["enum"])


def test_constants_equal_the_spec_enums() -> None:
    spec = spec_document()
    assert set(constants.ZONES) == set(spec["servers"][0]["variables"]["zone"]["enum"])
    assert set(constants.ZONES) == _enum("zone-name")
    assert _enum("load-balancer", "properties", "state") == constants.LOAD_BALANCER_STATES
    assert _enum("load-balancer-service", "properties", "state") == constants.SERVICE_STATES
    assert set(constants.SERVICE_PROTOCOLS) == _enum(
        "load-balancer-service", "properties", "protocol"
    )
    assert set(constants.SERVICE_STRATEGIES) == _enum(
        "load-balancer-service", "properties", "strategy"
    )
    assert set(constants.HEALTHCHECK_MODES) == _enum(
        "load-balancer-service-healthcheck", "properties", "mode"
    )
    assert _enum("instance-state") == constants.INSTANCE_STATES
    assert set(constants.MANAGER_TYPES) == _enum("manager", "properties", "type")
    assert _enum("instance-type", "properties", "family") == constants.INSTANCE_TYPE_FAMILIES
    assert _enum("instance-type", "properties", "size") == constants.INSTANCE_TYPE_SIZES
    assert _enum("operation", "properties", "state") == constants.OPERATION_STATES
    assert _enum("operation", "properties", "reason") == constants.OPERATION_REASONS
    fields = {
        op: {p["name"]: p for p in spec_op.get("parameters", [])}
        for op, (_, _, spec_op) in _spec_operations().items()
    }
    assert set(constants.LOAD_BALANCER_RESET_FIELDS) == set(
        fields["reset-load-balancer-field"]["field"]["schema"]["enum"]
    )
    assert set(constants.SERVICE_RESET_FIELDS) == set(
        fields["reset-load-balancer-service-field"]["field"]["schema"]["enum"]
    )
    assert set(constants.LIST_INSTANCES_MANAGER_TYPES) == set(
        fields["list-instances"]["manager-type"]["schema"]["enum"]
    )


def test_the_checker_rejects_what_the_spec_forbids() -> None:
    """The response checker used everywhere in these tests can fail."""
    url = f"http://sim/{ZONE}/v2/load-balancer/5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"
    check_response("GET", url, 200, b'{"state": "running", "ip": "194.182.160.1"}')
    for body in (b'{"state": "bogus"}', b'{"ip": "not-an-ip"}', b'{"services": [{"port": 0}]}'):
        with pytest.raises(Exception, match=r"InvalidData|not valid"):
            check_response("GET", url, 200, body)
    with pytest.raises(AssertionError):
        check_response("GET", url, 404, b'{"message": "x", "code": 4}')
    with pytest.raises(AssertionError):
        check_response("GET", url, 404, b'{"message": ""}')


async def test_every_response_of_every_endpoint_validates(
    sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    """Drive every operation to success and to errors; the client fixture checks each response
    against the spec (200) or the {"message"} shape (errors)."""
    instance = sim.add_instance(
        ZONE,
        "rich",
        pool_id=pool["id"],
        ipv6="auto",
        private_networks=2,
        labels={"role": "worker"},
    )
    type_id = instance["instance-type"]["id"]
    cluster = sim.add_sks_cluster(
        ZONE, "cluster", nodepools=[{"name": "workers", "instance_pool_id": pool["id"]}]
    )
    nodepool_id = cluster["nodepools"][0]["id"]
    missing = "00000000-0000-4000-8000-000000000000"

    op = (await client.post("/load-balancer", json={"name": "nlb", "labels": {"k": "v"}})).json()
    lb = op["reference"]["id"]
    await client.get(f"/operation/{op['id']}")
    svc_op = await client.post(f"/load-balancer/{lb}/service", json=service_body(pool["id"]))
    assert svc_op.status_code == 200
    service = (await client.get(f"/load-balancer/{lb}")).json()["services"][0]["id"]
    successes: list[tuple[str, str, Any]] = [
        ("GET", "/load-balancer", None),
        ("GET", f"/load-balancer/{lb}", None),
        ("PUT", f"/load-balancer/{lb}", {"description": "d"}),
        ("DELETE", f"/load-balancer/{lb}/description", None),
        ("GET", f"/load-balancer/{lb}/service/{service}", None),
        ("PUT", f"/load-balancer/{lb}/service/{service}", {"description": "d", "port": 81}),
        ("DELETE", f"/load-balancer/{lb}/service/{service}/description", None),
        ("GET", "/instance", None),
        ("GET", f"/instance?manager-id={pool['id']}&manager-type=instance-pool", None),
        ("GET", "/instance?labels=role%3Dworker", None),
        ("GET", f"/instance/{instance['id']}", None),
        ("GET", "/instance-pool", None),
        ("GET", f"/instance-pool/{pool['id']}", None),
        ("GET", "/instance-type", None),
        ("GET", f"/instance-type/{type_id}", None),
        ("GET", "/zone", None),
        ("GET", "/sks-cluster", None),
        ("GET", f"/sks-cluster/{cluster['id']}", None),
        ("GET", f"/sks-cluster/{cluster['id']}/nodepool/{nodepool_id}", None),
        ("DELETE", f"/load-balancer/{lb}/service/{service}", None),
        ("DELETE", f"/load-balancer/{lb}", None),
    ]
    for method, path, body in successes:
        response = await client.request(method, path, json=body)
        assert response.status_code == 200, (method, path, response.text)

    errors: list[tuple[str, str, Any, int]] = [
        ("GET", f"/load-balancer/{missing}", None, 404),
        ("GET", "/load-balancer/not-a-uuid", None, 400),
        ("POST", "/load-balancer", {"name": ""}, 400),
        ("PUT", f"/load-balancer/{missing}", {"name": "x"}, 404),
        ("DELETE", f"/load-balancer/{missing}", None, 404),
        ("DELETE", f"/load-balancer/{missing}/labels", None, 404),
        ("POST", f"/load-balancer/{missing}/service", service_body(pool["id"]), 404),
        ("GET", f"/load-balancer/{missing}/service/{missing}", None, 404),
        ("PUT", f"/load-balancer/{missing}/service/{missing}", {"port": 1}, 404),
        ("DELETE", f"/load-balancer/{missing}/service/{missing}", None, 404),
        ("DELETE", f"/load-balancer/{missing}/service/{missing}/description", None, 404),
        ("GET", "/instance?manager-type=sks-nodepool", None, 400),
        ("GET", f"/instance/{missing}", None, 404),
        ("GET", f"/instance-pool/{missing}", None, 404),
        ("GET", f"/instance-type/{missing}", None, 404),
        ("GET", f"/operation/{missing}", None, 404),
        ("GET", f"/sks-cluster/{missing}", None, 404),
        ("GET", f"/sks-cluster/{cluster['id']}/nodepool/{missing}", None, 404),
        ("GET", "/nothing-here", None, 404),
        ("PATCH", "/load-balancer", None, 405),
    ]
    for method, path, body, status in errors:
        response = await client.request(method, path, json=body)
        assert response.status_code == status, (method, path, response.text)

    # Endpoints without a natural error answer (lists, list-zones) fail by injection.
    sim.inject("*", Fault.rate_limited(retry_after=2), count=len(ROUTES))
    for route in ROUTES:
        path = route.template.replace("{id}", missing).replace("{service-id}", missing)
        path = path.replace("{field}", "description").replace("{sks-nodepool-id}", missing)
        response = await client.request(
            route.method, path, json={} if route.method in ("POST", "PUT") else None
        )
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "2"

    for route in ROUTES:
        statuses = {r.status for r in sim.requests if r.operation_id == route.operation_id}
        assert 200 in statuses, route.operation_id
        assert statuses - {200}, route.operation_id


async def test_unknown_zone_and_malformed_paths_answer_json_404(sim: Simulator) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as raw:
        for url in ("http://sim/xx-nowhere-1/v2/zone", "http://sim/", "http://sim/de-muc-1/v1/x"):
            response = await raw.get(url)
            assert response.status_code == 404, url
            assert set(response.json()) == {"message"}
        assert "unknown zone" in (await raw.get("http://sim/xx-nowhere-1/v2/zone")).text
