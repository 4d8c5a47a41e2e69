"""Authentication and IAM at the HTTP level, in-process and over a real socket."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import requests
from exoscale_auth import ExoscaleV2Auth  # type: ignore[import-untyped]

from exoccm.sim import Simulator
from exoccm.sim.server import serve_in_thread
from tests.sim.helpers import (
    ZONE,
    OfficialSigner,
    check_httpx_response,
    check_requests_response,
    sign_prepared,
)

pytestmark = pytest.mark.anyio


def _client(sim: Simulator, auth: httpx.Auth | None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url=f"http://sim/{ZONE}/v2",
        auth=auth,
        event_hooks={"response": [check_httpx_response]},
    )


# -- over a real socket, signed by requests-exoscale-auth ---------------------------------------


@pytest.fixture
def served(sim: Simulator) -> Iterator[str]:
    with serve_in_thread(sim) as base:
        yield f"{base}/{ZONE}/v2"


@pytest.fixture
def session(credentials: tuple[str, str]) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = ExoscaleV2Auth(*credentials)
        session.hooks["response"].append(check_requests_response)
        yield session


def test_requests_signed_by_requests_exoscale_auth_are_accepted(
    sim: Simulator, served: str, session: requests.Session
) -> None:
    pool = sim.add_instance_pool(ZONE, "nodes")
    node = sim.add_instance(ZONE, "node", pool_id=pool["id"], public_ip="203.0.113.10")

    created = session.post(f"{served}/load-balancer", json={"name": "k8s-nlb"})
    assert created.status_code == 200, created.text
    listed = session.get(f"{served}/load-balancer")
    assert [lb["name"] for lb in listed.json()["load-balancers"]] == ["k8s-nlb"]
    found = session.get(
        f"{served}/instance",
        params={"ip-address": "203.0.113.10", "manager-type": "instance-pool"},
    )
    assert found.status_code == 200, found.text
    assert [i["id"] for i in found.json()["instances"]] == [node["id"]]
    assert sim.count(status=200) == 3


def test_tampered_body_is_rejected(
    sim: Simulator, served: str, credentials: tuple[str, str], session: requests.Session
) -> None:
    prepared = session.prepare_request(
        requests.Request("POST", f"{served}/load-balancer", json={"name": "signed"})
    )
    prepared.body = b'{"name": "sneaky"}'
    prepared.headers["Content-Length"] = str(len(prepared.body))
    response = session.send(prepared)
    assert response.status_code == 403
    assert response.json() == {"message": "invalid request signature"}
    assert sim.load_balancers(ZONE) == []


def test_tampered_query_is_rejected(served: str, session: requests.Session) -> None:
    prepared = session.prepare_request(
        requests.Request("GET", f"{served}/instance", params={"ip-address": "203.0.113.10"})
    )
    assert prepared.url is not None
    prepared.url = prepared.url.replace("203.0.113.10", "203.0.113.11")
    response = session.send(prepared)
    assert response.status_code == 403
    assert "signature" in response.json()["message"]


def test_added_query_parameter_is_rejected(served: str, session: requests.Session) -> None:
    prepared = session.prepare_request(requests.Request("GET", f"{served}/instance"))
    prepared.url = f"{prepared.url}?manager-type=instance-pool"
    response = session.send(prepared)
    assert response.status_code == 403
    assert "not covered by the signature" in response.json()["message"]


def test_expired_request_is_rejected(served: str, credentials: tuple[str, str]) -> None:
    prepared = requests.Request("GET", f"{served}/load-balancer").prepare()
    prepared.headers["Authorization"] = sign_prepared(prepared, *credentials, int(time.time()) - 5)
    with requests.Session() as plain:
        response = plain.send(prepared)
    check_requests_response(response)
    assert response.status_code == 403
    assert "expired" in response.json()["message"]


# -- in-process ---------------------------------------------------------------------------------


async def test_expiry_is_judged_by_real_time_not_the_simulator_clock(
    sim: Simulator, credentials: tuple[str, str]
) -> None:
    """Clients sign with the real time; moving a manual clock by hours must not expire them."""
    async with _client(sim, OfficialSigner(*credentials)) as client:
        sim.advance(24 * 3600)
        assert (await client.get("/load-balancer")).status_code == 200
    expired = OfficialSigner(*credentials, expires=int(time.time()) - 1)
    async with _client(sim, expired) as client:
        response = await client.get("/load-balancer")
    assert response.status_code == 403
    assert "expired" in response.json()["message"]


async def test_signature_covers_the_zone_prefix(
    sim: Simulator, credentials: tuple[str, str]
) -> None:
    """A signature over /v2/... (without the /<zone> prefix actually sent) is rejected."""
    prepared = requests.Request("GET", "http://sim/v2/load-balancer").prepare()
    header = sign_prepared(prepared, *credentials, int(time.time()) + 600)
    async with _client(sim, None) as client:
        response = await client.get("/load-balancer", headers={"Authorization": header})
    assert response.status_code == 403
    assert response.json()["message"] == "invalid request signature"


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "missing Authorization header"),
        ("EXO2-HMAC-SHA256 credential=EXOnope", "malformed Authorization header"),
        ("Basic dXNlcjpwYXNz", "malformed Authorization header"),
    ],
)
async def test_unauthenticated_requests_get_403(
    sim: Simulator, authorization: str | None, message: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with _client(sim, None) as client:
        response = await client.get("/load-balancer", headers=headers)
    assert response.status_code == 403
    assert message in response.json()["message"]
    assert sim.count("list-load-balancers", status=403) == 1


async def test_unknown_key_gets_403(sim: Simulator) -> None:
    stranger = ("EXO" + "a" * 24, "s" * 43)
    async with _client(sim, OfficialSigner(*stranger)) as client:
        response = await client.get("/load-balancer")
    assert response.status_code == 403
    assert response.json()["message"] == f"unknown API key {stranger[0]!r}"


async def test_wrong_secret_gets_403(sim: Simulator, credentials: tuple[str, str]) -> None:
    async with _client(sim, OfficialSigner(credentials[0], "w" * 43)) as client:
        response = await client.get("/load-balancer")
    assert response.status_code == 403
    assert response.json()["message"] == "invalid request signature"


async def test_iam_restricted_key_is_denied_other_operations(sim: Simulator) -> None:
    key = sim.add_api_key(operations=["list-load-balancers", "get-operation"])
    async with _client(sim, OfficialSigner(*key)) as client:
        allowed = await client.get("/load-balancer")
        denied = await client.post("/load-balancer", json={"name": "nope"})
    assert allowed.status_code == 200
    assert denied.status_code == 403
    assert "create-load-balancer" in denied.json()["message"]
    assert sim.load_balancers(ZONE) == []


async def test_list_zones_is_public_but_checks_credentials_when_sent(
    sim: Simulator, credentials: tuple[str, str]
) -> None:
    restricted = sim.add_api_key(operations=["get-load-balancer"])
    async with _client(sim, None) as anonymous:
        assert (await anonymous.get("/zone")).status_code == 200
    async with _client(sim, OfficialSigner(*credentials)) as full:
        assert (await full.get("/zone")).status_code == 200
    async with _client(sim, OfficialSigner(*restricted)) as limited:
        denied = await limited.get("/zone")
    assert denied.status_code == 403
    assert "list-zones" in denied.json()["message"]


def test_api_key_formats_are_enforced(sim: Simulator) -> None:
    key, secret = sim.add_api_key()
    assert key.startswith("EXO")
    assert len(key) == 27
    assert len(secret) == 43
    with pytest.raises(ValueError, match="EXO followed by 24"):
        sim.add_api_key("EXOshort", "s" * 43)
    with pytest.raises(ValueError, match="43 characters"):
        sim.add_api_key("EXO" + "a" * 24, "short")
    with pytest.raises(ValueError, match="unknown operation ids"):
        sim.add_api_key(operations=["create-instance-pool"])
