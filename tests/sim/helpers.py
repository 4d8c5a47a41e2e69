"""Test helpers: the official signer adapted to httpx, and the OpenAPI response checker.

Requests are signed by `requests-exoscale-auth` (the official Python signer), never by
exoccm's own client, so the simulator's verifier is judged against an independent party.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import exoscale
import httpx
import requests
from exoscale_auth import ExoscaleV2Auth  # type: ignore[import-untyped]
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from exoccm.sim import Simulator
from exoccm.sim.faults import FAULT_HEADER

SPEC_PATH = Path(exoscale.__file__).parent / "openapi.json"
ZONE = "de-muc-1"
MISSING = "00000000-0000-4000-8000-000000000000"  # a well-formed id nothing has


@cache
def spec_document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return data


@cache
def openapi() -> OpenAPI:
    # The spec fails strict validation of itself; we only need it to check responses.
    return OpenAPI.from_dict(spec_document(), config=Config(spec_validator_cls=None))


def sign_prepared(prepared: requests.PreparedRequest, key: str, secret: str, expires: int) -> str:
    """The Authorization header requests-exoscale-auth computes for ``prepared``."""
    ExoscaleV2Auth(key, secret)._sign_request(prepared, expires)
    header = prepared.headers["Authorization"]
    assert isinstance(header, str)
    return header


class OfficialSigner(httpx.Auth):
    """Signs httpx requests with requests-exoscale-auth (expiry: now + 10 minutes, as it does)."""

    def __init__(self, key: str, secret: str, *, expires: int | None = None) -> None:
        self.key = key
        self.secret = secret
        self.expires = expires

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        prepared = requests.Request(
            request.method, str(request.url), data=request.content or None
        ).prepare()
        expires = self.expires if self.expires is not None else int(time.time()) + 600
        request.headers["Authorization"] = sign_prepared(prepared, self.key, self.secret, expires)
        yield request


def check_response(method: str, url: str, status: int, body: bytes) -> None:
    """Assert that a simulator response is what the API would send.

    200 bodies must validate against the spec's 200 schema of the operation; error bodies
    (which the spec does not describe) must be exactly ``{"message": "<non-empty text>"}``.
    """
    parts = urlsplit(url)
    segments = parts.path.split("/", 3)
    assert segments[2] == "v2", f"not a zone endpoint: {url}"
    if status != 200:
        data = json.loads(body)
        assert isinstance(data, dict), f"{method} {url} -> {status}: {body!r}"
        assert set(data) == {"message"}, f"{method} {url} -> {status}: {body!r}"
        assert isinstance(data["message"], str)
        assert data["message"]
        return
    request = MockRequest(
        f"https://api-{segments[1]}.exoscale.com",
        method.lower(),
        "/v2/" + segments[3],
        args=dict(parse_qsl(parts.query)),
    )
    openapi().validate_response(request, MockResponse(body, status_code=200))


async def check_httpx_response(response: httpx.Response) -> None:
    await response.aread()
    if "/_sim/" in response.request.url.path or FAULT_HEADER in response.headers:
        return  # the admin API, or an answer a `malformed` fault corrupted on purpose
    check_response(
        response.request.method, str(response.request.url), response.status_code, response.content
    )


def check_requests_response(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    assert response.request.method is not None
    assert response.request.url is not None
    if FAULT_HEADER in response.headers:
        return  # corrupted on purpose by a `malformed` fault
    check_response(
        response.request.method, response.request.url, response.status_code, response.content
    )


def api_client(sim: Simulator, key: tuple[str, str], zone: str = ZONE) -> httpx.AsyncClient:
    """A client of ``zone`` in ``sim``, signed by the official signer; every response is checked
    against the spec."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url=f"http://sim/{zone}/v2",
        auth=OfficialSigner(*key),
        event_hooks={"response": [check_httpx_response]},
    )


def service_body(pool_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid add-service-to-load-balancer body (the CCM's defaults)."""
    body: dict[str, Any] = {
        "name": "svc-80",
        "instance-pool": {"id": pool_id},
        "protocol": "tcp",
        "strategy": "round-robin",
        "port": 80,
        "target-port": 30080,
        "healthcheck": {"mode": "tcp", "port": 30080, "interval": 10, "timeout": 5, "retries": 1},
    }
    body.update(overrides)
    return body


async def create_nlb(client: httpx.AsyncClient, **body: Any) -> str:
    response = await client.post("/load-balancer", json={"name": "nlb", **body})
    assert response.status_code == 200, response.text
    lb_id: str = response.json()["reference"]["id"]
    return lb_id


async def add_service(client: httpx.AsyncClient, lb_id: str, pool_id: str, **body: Any) -> str:
    response = await client.post(
        f"/load-balancer/{lb_id}/service", json=service_body(pool_id, **body)
    )
    assert response.status_code == 200, response.text
    lb = (await client.get(f"/load-balancer/{lb_id}")).json()
    name = body.get("name", "svc-80")
    [service_id] = [s["id"] for s in lb["services"] if s["name"] == name]
    return str(service_id)


async def expect_400(response: httpx.Response, fragment: str) -> None:
    assert response.status_code == 400, response.text
    assert fragment in response.json()["message"]
