"""The client over real loopback sockets: the simulator served by uvicorn, and a dead port."""

from __future__ import annotations

import socket

import pytest
from prometheus_client import REGISTRY

from exoccm.exoscale import (
    ClientOptions,
    Credentials,
    ExoscaleClients,
    Healthcheck,
    LoadBalancerServiceSpec,
    RetryPolicy,
    TransportError,
    WaitPolicy,
)
from exoccm.sim import Fault, Simulator
from exoccm.sim.server import serve_in_thread
from tests.integration.exoscale.conftest import ZONE
from tests.unit.exoscale.faketime import FakeTime

pytestmark = pytest.mark.anyio


def options(**changes: object) -> ClientOptions:
    base: dict[str, object] = {
        "request_timeout": 5.0,
        "retry": RetryPolicy(max_attempts=3, initial_backoff=0.05, max_backoff=0.2, jitter=0.0),
        "wait": WaitPolicy(timeout=20.0, first_delay=0.05),
    }
    return ClientOptions(**(base | changes))  # type: ignore[arg-type]


async def test_full_flow_over_a_socket() -> None:
    sim = Simulator(seed=3, operation_latency=0.1)
    key = sim.add_api_key()
    pool = sim.add_instance_pool(ZONE, "nodes")
    sim.add_instance(ZONE, "node-1", pool_id=pool["id"])
    with serve_in_thread(sim) as base:
        async with ExoscaleClients(
            Credentials.of(*key), zone=ZONE, endpoint=base + "/{zone}/v2", options=options()
        ) as clients:
            client = clients.zone()
            lb = await client.create_load_balancer("k8s-socket", labels={"owner": "test"})
            lb = await client.add_load_balancer_service(
                lb.id,
                LoadBalancerServiceSpec(
                    name="svc-443",
                    instance_pool_id=pool["id"],
                    protocol="tcp",
                    strategy="maglev-hash",
                    port=443,
                    target_port=30443,
                    healthcheck=Healthcheck(
                        mode="tcp", port=30443, interval=10, timeout=5, retries=2
                    ),
                ),
            )
            service = lb.service_named("svc-443")
            assert service is not None
            assert service.strategy == "maglev-hash"
            assert [x.id for x in await client.list_load_balancers()] == [lb.id]
            assert len(await client.list_instances()) == 1
            await client.delete_load_balancer(lb.id)
            assert await client.list_load_balancers() == ()
    assert sim.count(status=200) == len(sim.requests)


async def test_httpx_timeouts_apply_over_a_socket() -> None:
    sim = Simulator(seed=4)
    key = sim.add_api_key()
    sim.inject("list-instances", Fault.hang(30.0), count=5)
    with serve_in_thread(sim) as base:
        async with ExoscaleClients(
            Credentials.of(*key),
            zone=ZONE,
            endpoint=base + "/{zone}/v2",
            options=options(request_timeout=0.3),
        ) as clients:
            with pytest.raises(TransportError, match=r"ReadTimeout|no complete response") as info:
                await clients.zone().list_instances()
            sim.clear_faults()
    assert info.value.sent
    assert sim.count("list-instances") == 3


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_create_is_retried_because_nothing_was_sent() -> None:
    port = _closed_port()
    time = FakeTime()
    before = (
        REGISTRY.get_sample_value(
            "exoccm_api_requests_total",
            {"operation": "create-load-balancer", "zone": ZONE, "code": "error"},
        )
        or 0.0
    )
    async with ExoscaleClients(
        Credentials.of("EXO0123456789abcdef01234567", "s" * 43),
        zone=ZONE,
        endpoint=f"http://127.0.0.1:{port}/{{zone}}/v2",
        options=options(clock=time.clock, sleep=time.sleep),
    ) as clients:
        with pytest.raises(TransportError) as info:
            await clients.zone().create_load_balancer("k8s-refused")
    assert info.value.sent is False
    after = REGISTRY.get_sample_value(
        "exoccm_api_requests_total",
        {"operation": "create-load-balancer", "zone": ZONE, "code": "error"},
    )
    assert after == before + 3
    assert len(time.sleeps) == 2
