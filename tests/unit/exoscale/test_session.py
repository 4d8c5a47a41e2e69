"""The request path with a scripted transport: headers, query, fencing, metrics, failures."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import httpx
import pytest
from prometheus_client import REGISTRY

from exoccm import __version__
from exoccm.exoscale import errors
from exoccm.exoscale.client import ZoneClient
from exoccm.exoscale.credentials import Credentials
from exoccm.exoscale.options import ClientOptions
from exoccm.exoscale.registry import ExoscaleClients
from exoccm.exoscale.retry import RetryPolicy
from tests.unit.exoscale.faketime import FakeTime

pytestmark = pytest.mark.anyio

KEY = "EXO0123456789abcdef01234567"
SECRET = "test-secret-0123456789abcdefghijklmnopqrstu"
ZONE = "ch-dk-2"

Handler = Callable[[httpx.Request], httpx.Response]


def make_client(
    handler: Handler | httpx.AsyncBaseTransport, time: FakeTime | None = None, **options: object
) -> tuple[ExoscaleClients, ZoneClient]:
    time = time or FakeTime()
    transport = (
        handler if isinstance(handler, httpx.AsyncBaseTransport) else httpx.MockTransport(handler)
    )
    opts = ClientOptions(
        clock=time.clock,
        sleep=time.sleep,
        retry=RetryPolicy(max_attempts=3, jitter=0.0),
        **options,  # type: ignore[arg-type]
    )
    clients = ExoscaleClients(
        Credentials.of(KEY, SECRET),
        zone=ZONE,
        endpoint="http://127.0.0.1:9/{zone}/v2",
        options=opts,
        transport=transport,
    )
    return clients, clients.zone()


def counter(operation: str, code: str) -> float:
    value = REGISTRY.get_sample_value(
        "exoccm_api_requests_total", {"operation": operation, "zone": ZONE, "code": code}
    )
    return value or 0.0


async def test_sends_signed_requests_with_user_agent_and_filtered_query() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"instances": []})

    clients, client = make_client(handler)
    async with clients:
        assert await client.list_instances(manager_id="p-1", manager_type="instance-pool") == ()
    request = seen[0]
    assert request.url.path == f"/{ZONE}/v2/instance"
    assert dict(request.url.params) == {"manager-id": "p-1", "manager-type": "instance-pool"}
    assert request.headers["user-agent"] == f"exoccm/{__version__}"
    auth = request.headers["authorization"]
    assert auth.startswith(
        f"EXO2-HMAC-SHA256 credential={KEY},signed-query-args=manager-id;manager-type,"
    )


async def test_list_zones_is_sent_unsigned() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"zones": [{"name": "ch-dk-2"}]})

    clients, client = make_client(handler)
    async with clients:
        zones = await client.list_zones()
    assert zones[0].name == "ch-dk-2"
    assert "authorization" not in seen[0].headers


async def test_empty_query_value_is_refused_before_sending() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("must not be sent")

    clients, client = make_client(handler)
    async with clients:
        with pytest.raises(errors.InvalidArgumentError, match="'ip-address' is empty"):
            await client.list_instances(ip_address="")


@pytest.mark.parametrize("bad_id", ["", "..", "."])
async def test_unusable_ids_are_refused_before_sending(bad_id: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("must not be sent")

    clients, client = make_client(handler)
    async with clients:
        with pytest.raises(errors.InvalidArgumentError, match="not a valid ID"):
            await client.get_load_balancer(bad_id)


async def test_ids_are_escaped_into_one_path_segment() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"message": "no"})

    clients, client = make_client(handler)
    async with clients:
        with pytest.raises(errors.NotFoundError):
            await client.get_instance("../load-balancer")
    assert seen[0].url.raw_path == f"/{ZONE}/v2/instance/..%2Fload-balancer".encode()


async def test_guard_refuses_mutations_without_sending() -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        return httpx.Response(200, json={"load-balancers": []})

    clients, client = make_client(handler)
    async with clients:
        with pytest.raises(errors.NotLeaderError, match="create-load-balancer in ch-dk-2"):
            await client.create_load_balancer("x", guard=lambda: False)
        clients.set_guard(lambda: False)
        with pytest.raises(errors.NotLeaderError):
            await client.delete_load_balancer("nlb-1")
        # Reads are never fenced.
        assert await client.list_load_balancers() == ()
    assert sent == ["GET"]


async def test_metrics_count_every_attempt_by_operation_and_code() -> None:
    answers = [
        httpx.Response(503, json={"message": "busy"}),
        httpx.Response(200, json={"instance-pools": []}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    before_503 = counter("list-instance-pools", "503")
    before_200 = counter("list-instance-pools", "200")
    clients, client = make_client(handler)
    async with clients:
        await client.list_instance_pools()
    assert counter("list-instance-pools", "503") == before_503 + 1
    assert counter("list-instance-pools", "200") == before_200 + 1
    count = REGISTRY.get_sample_value(
        "exoccm_api_request_duration_seconds_count",
        {"operation": "list-instance-pools", "zone": ZONE},
    )
    assert count is not None
    assert count >= 2


async def test_connection_refused_is_a_transport_error_counted_as_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    before = counter("get-instance-pool", "error")
    clients, client = make_client(handler)
    async with clients:
        with pytest.raises(errors.TransportError) as info:
            await client.get_instance_pool("p-1")
    assert info.value.sent is False
    assert "Connection refused" in str(info.value)
    assert counter("get-instance-pool", "error") == before + 3


async def test_a_hanging_response_hits_the_total_timeout() -> None:
    class Hanging(httpx.AsyncBaseTransport):
        calls = 0

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            Hanging.calls += 1
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

    clients, client = make_client(Hanging(), request_timeout=0.05)
    async with clients:
        with pytest.raises(errors.TransportError, match=r"no complete response within 0.05s"):
            await client.get_sks_cluster("c-1")
    assert Hanging.calls == 3  # a GET is retried


async def test_malformed_success_body_is_a_typed_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>proxy</html>")

    clients, client = make_client(handler)
    async with clients:
        with pytest.raises(
            errors.MalformedResponseError,
            match="get-instance-type in ch-dk-2: response body is not valid JSON",
        ):
            await client.get_instance_type("t-1")


async def test_instance_types_are_cached_forever() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json={"id": "t-1", "family": "standard", "size": "small"})

    clients, client = make_client(handler)
    async with clients:
        for _ in range(3):
            assert (await client.get_instance_type("t-1")).name == "standard.small"
    assert calls == 1


async def test_operation_without_reference_is_malformed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json={"id": "op-1", "state": "success"})
        raise AssertionError(request.url)

    clients, client = make_client(handler)
    async with clients:
        with pytest.raises(errors.MalformedResponseError, match="names no resource"):
            await client.create_load_balancer("x")


async def test_closed_registry_refuses_new_zones() -> None:
    clients, _ = make_client(lambda request: httpx.Response(200))
    await clients.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        clients.zone("de-fra-1")


async def test_api_messages_quoting_the_credentials_are_scrubbed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403, json={"message": f"key {KEY} with secret {SECRET} is not allowed"}
        )

    clients, client = make_client(handler)
    async with clients:
        with pytest.raises(errors.ForbiddenError) as info:
            await client.list_load_balancers()
    text = str(info.value)
    assert KEY not in text
    assert SECRET not in text
    assert "key EXO…4567 with secret ********** is not allowed" in text
