"""The Python control surface (out-of-band edits, reset, the log) and the admin HTTP API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from exoccm.sim import Simulator
from tests.sim.helpers import ZONE, OfficialSigner, service_body

pytestmark = pytest.mark.anyio


async def _nlb_with_service(client: httpx.AsyncClient, pool_id: str) -> tuple[str, str]:
    lb = (await client.post("/load-balancer", json={"name": "nlb", "description": "d"})).json()
    lb_id = lb["reference"]["id"]
    await client.post(f"/load-balancer/{lb_id}/service", json=service_body(pool_id))
    service_id = (await client.get(f"/load-balancer/{lb_id}")).json()["services"][0]["id"]
    return lb_id, service_id


async def test_out_of_band_edits_show_through_the_api(
    sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    lb, service = await _nlb_with_service(client, pool["id"])
    sim.edit_load_balancer(ZONE, lb, name="hand-edited", description=None, labels={"x": "y"})
    sim.edit_load_balancer_service(
        ZONE, lb, service, **{"target-port": 31000, "healthcheck": {"retries": 3}}
    )
    sim.edit_load_balancer_service(ZONE, lb, service, target_port=31001, state="error")
    got = (await client.get(f"/load-balancer/{lb}")).json()
    assert (got["name"], got["labels"]) == ("hand-edited", {"x": "y"})
    assert "description" not in got
    [svc] = got["services"]
    assert (svc["target-port"], svc["healthcheck"]["retries"], svc["state"]) == (31001, 3, "error")


def test_out_of_band_edits_obey_the_api_rules(sim: Simulator, pool: dict[str, Any]) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(LookupError, match="does not exist"):
        sim.edit_load_balancer(ZONE, missing, name="x")
    with pytest.raises(LookupError, match="does not exist"):
        sim.delete_load_balancer_out_of_band(ZONE, missing)


async def test_a_refused_instance_does_not_join_its_pool(
    sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    path = f"/instance-pool/{pool['id']}"
    members = (await client.get(path)).json()["instances"]
    with pytest.raises(ValueError, match="labels map strings to strings"):
        sim.add_instance(ZONE, "bad", pool_id=pool["id"], labels={"role": 1})  # type: ignore[dict-item]
    assert (await client.get(path)).json()["instances"] == members
    assert len(members) == 3


async def test_invalid_out_of_band_edits_raise_value_error(
    sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    lb, service = await _nlb_with_service(client, pool["id"])
    with pytest.raises(ValueError, match="state: must be one of"):
        sim.edit_load_balancer(ZONE, lb, state="melting")
    with pytest.raises(ValueError, match="unknown field 'ip'"):
        sim.edit_load_balancer(ZONE, lb, ip="1.2.3.4")
    with pytest.raises(ValueError, match="cannot be removed"):
        sim.edit_load_balancer(ZONE, lb, name=None)
    with pytest.raises(ValueError, match="unknown field 'instance-pool'"):
        sim.edit_load_balancer_service(ZONE, lb, service, instance_pool={"id": pool["id"]})
    with pytest.raises(ValueError, match="lower than or equal"):
        sim.edit_load_balancer_service(ZONE, lb, service, healthcheck={"timeout": 30})
    with pytest.raises(LookupError, match="has no service"):
        sim.edit_load_balancer_service(ZONE, lb, lb, port=1)


async def test_out_of_band_delete(
    sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    lb, _ = await _nlb_with_service(client, pool["id"])
    sim.delete_load_balancer_out_of_band(ZONE, lb)
    assert (await client.get(f"/load-balancer/{lb}")).status_code == 404
    assert sim.load_balancers(ZONE) == []


async def test_load_balancers_returns_copies(
    sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    await _nlb_with_service(client, pool["id"])
    snapshot = sim.load_balancers(ZONE)
    snapshot[0]["services"][0]["healthcheck"]["port"] = 1
    snapshot[0]["name"] = "changed"
    again = sim.load_balancers(ZONE)
    assert again[0]["name"] == "nlb"
    assert again[0]["services"][0]["healthcheck"]["port"] == 30080


async def test_reset_forgets_state_but_keeps_keys(
    sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    await _nlb_with_service(client, pool["id"])
    sim.reset()
    assert sim.requests == []
    assert sim.load_balancers(ZONE) == []
    response = await client.get("/instance-pool")
    assert response.status_code == 200  # the key still works
    assert response.json() == {"instance-pools": []}
    # Identifiers restart from the seed: a fresh simulator makes the same ones.
    assert (
        sim.add_instance_pool(ZONE, "p")["id"]
        == Simulator(seed=0).add_instance_pool(ZONE, "p")["id"]
    )


async def test_count_filters(
    sim: Simulator, client: httpx.AsyncClient, credentials: tuple[str, str]
) -> None:
    await client.get("/load-balancer")
    await client.get("/load-balancer/00000000-0000-4000-8000-000000000000")
    await client.get("/zone")
    assert sim.count() == 3
    assert sim.count("list-load-balancers") == 1
    assert sim.count(status=404) == 1
    assert sim.count(zone=ZONE, status=200) == 2
    assert sim.count(zone="ch-gva-2") == 0
    record = sim.requests[1]
    assert (record.zone, record.operation_id, record.method, record.status) == (
        ZONE,
        "get-load-balancer",
        "GET",
        404,
    )
    assert record.path == f"/{ZONE}/v2/load-balancer/00000000-0000-4000-8000-000000000000"


def test_advance_needs_a_manual_clock() -> None:
    with pytest.raises(TypeError, match='clock="manual"'):
        Simulator().advance(1)
    with pytest.raises(ValueError, match="backwards"):
        Simulator(clock="manual").advance(-1)
    with pytest.raises(ValueError, match="latency"):
        Simulator(operation_latency=-1)
    with pytest.raises(ValueError, match="low > high"):
        Simulator(operation_latency=(3.0, 1.0))


# -- the admin HTTP API -------------------------------------------------------------------------


@pytest.fixture
async def admin(sim: Simulator) -> Any:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app), base_url="http://sim/_sim"
    ) as admin_client:
        yield admin_client


async def _call(admin: httpx.AsyncClient, action: str, **args: Any) -> Any:
    response = await admin.post(f"/{action}", json=args)
    assert response.status_code == 200, response.text
    return response.json()["result"]


async def test_admin_api_drives_a_scenario(sim: Simulator, admin: httpx.AsyncClient) -> None:
    creds = await _call(admin, "add_api_key")
    assert set(creds) == {"key", "secret"}
    pool = await _call(
        admin, "add_instance_pool", zone=ZONE, name="p", instance_type=["standard", "small"]
    )
    node = await _call(admin, "add_instance", zone=ZONE, name="n", pool_id=pool["id"])
    await _call(admin, "set_instance_state", zone=ZONE, instance_id=node["id"], state="stopped")
    await _call(admin, "set_instance_health", zone=ZONE, instance_id=node["id"], healthy=False)
    await _call(admin, "add_instance_type", zone=ZONE, family="cpu", size="huge", cpus=32)
    await _call(
        admin,
        "add_sks_cluster",
        zone=ZONE,
        name="c",
        nodepools=[{"name": "np", "instance_pool_id": pool["id"]}],
    )
    await _call(admin, "set_operation_latency", latency=[1, 2], operation_id="create-load-balancer")
    await _call(
        admin,
        "inject",
        operation_id="list-load-balancers",
        fault={"kind": "http", "status": 503},
        count=1,
    )

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url=f"http://sim/{ZONE}/v2",
        auth=OfficialSigner(creds["key"], creds["secret"]),
    ) as api:
        assert (await api.get("/load-balancer")).status_code == 503
        op = (await api.post("/load-balancer", json={"name": "nlb"})).json()
    lb_id = op["reference"]["id"]
    await _call(admin, "advance", seconds=2)
    [lb] = await _call(admin, "load_balancers", zone=ZONE)
    assert lb["state"] == "running"
    await _call(admin, "edit_load_balancer", zone=ZONE, lb_id=lb_id, fields={"name": "edited"})
    assert (await admin.get("/load_balancers", params={"zone": ZONE})).json()["result"][0][
        "name"
    ] == "edited"
    assert (await admin.get("/count", params={"status": "503"})).json() == {"result": 1}
    logged = (await admin.get("/requests")).json()["result"]
    assert [r["operation_id"] for r in logged] == ["list-load-balancers", "create-load-balancer"]
    assert logged[0]["fault"] == "http-503"
    await _call(admin, "delete_load_balancer_out_of_band", zone=ZONE, lb_id=lb_id)
    await _call(admin, "delete_instance", zone=ZONE, instance_id=node["id"])
    await _call(admin, "clear_faults")
    assert (await admin.get("/zones")).json()["result"][0] == "at-vie-1"
    await _call(admin, "reset")
    assert sim.requests == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "fragment"),
    [
        ("POST", "/teleport", {}, 404, "no admin action 'teleport'"),
        ("GET", "/reset", None, 405, "use POST"),
        ("POST", "/add_instance", {"zone": ZONE}, 400, "add_instance:"),
        ("POST", "/add_instance", {"zone": "mars-1", "name": "n"}, 404, "not served"),
        ("POST", "/inject", {"operation_id": "*", "fault": {"kind": "meteor"}}, 400, "kind"),
        (
            "POST",
            "/set_instance_state",
            {"zone": ZONE, "instance_id": "x", "state": "running"},
            404,
            "does not exist",
        ),
        ("POST", "/advance", [1], 400, "JSON object"),
    ],
)
async def test_admin_api_errors(
    admin: httpx.AsyncClient, method: str, path: str, body: Any, status: int, fragment: str
) -> None:
    response = await admin.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["message"]
