"""Injected faults: HTTP errors, 429, hangs, operation outcomes, and their reproducibility."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import httpx
import orjson
import pytest

from exoccm.sim import Fault, Simulator
from exoccm.sim import app as sim_app
from exoccm.sim.faults import FAULT_HEADER, MALFORMED_VARIANTS
from exoccm.sim.server import serve_in_thread
from tests.sim.helpers import ZONE, OfficialSigner, api_client, check_response

pytestmark = pytest.mark.anyio


async def test_http_fault_for_the_next_n_calls(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.inject("list-load-balancers", Fault.http(503, "try later"), count=2)
    statuses = [(await client.get("/load-balancer")).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert [r.fault for r in sim.requests] == ["http-503", "http-503", None]
    assert sim.count("list-load-balancers", status=503) == 2


async def test_http_fault_wins_over_validation_but_not_over_auth(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("create-load-balancer", Fault.http(500), count=1)
    async with api_client(sim, ("EXO" + "z" * 24, "z" * 43)) as stranger:
        assert (await stranger.post("/load-balancer", json={})).status_code == 403
    # The unauthenticated call did not use the fault up; this invalid one does.
    assert (await client.post("/load-balancer", json={})).status_code == 500
    assert (await client.post("/load-balancer", json={})).status_code == 400


async def test_rate_limited_answers_429_with_retry_after(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("*", Fault.rate_limited(retry_after=1.5), count=1)
    response = await client.get("/instance")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert "retry after 2 s" in response.json()["message"]
    assert sim.requests[-1].fault == "rate-limited"


async def test_wildcard_and_zone_scoping(
    sim: Simulator, client: httpx.AsyncClient, credentials: tuple[str, str]
) -> None:
    sim.inject("*", Fault.http(502), zone="ch-gva-2")
    async with api_client(sim, credentials, "ch-gva-2") as geneva:
        assert (await geneva.get("/load-balancer")).status_code == 502
        assert (await geneva.get("/instance")).status_code == 502
    assert (await client.get("/load-balancer")).status_code == 200
    sim.clear_faults()
    async with api_client(sim, credentials, "ch-gva-2") as geneva:
        assert (await geneva.get("/load-balancer")).status_code == 200


async def test_operation_faults_touch_only_writes(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("*", Fault.operation_failure(), count=1)
    assert (await client.get("/load-balancer")).status_code == 200  # not consumed by a read
    first = (await client.post("/load-balancer", json={"name": "a"})).json()
    second = (await client.post("/load-balancer", json={"name": "b"})).json()
    states = [
        (await client.get(f"/operation/{op['id']}")).json()["state"] for op in (first, second)
    ]
    assert states == ["failure", "success"]


async def test_hang_without_effect_ends_in_504(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.inject("create-load-balancer", Fault.hang(0.2), count=1)
    with anyio.fail_after(10):
        response = await client.post("/load-balancer", json={"name": "lost"})
    assert response.status_code == 504
    assert sim.load_balancers(ZONE) == []
    assert sim.requests[-1].fault == "hang"


async def test_applied_hang_makes_the_change_but_answers_late(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("create-load-balancer", Fault.hang(0.2, applied=True), count=1)
    with anyio.fail_after(10):
        response = await client.post("/load-balancer", json={"name": "slow"})
    assert response.status_code == 200
    assert [lb["name"] for lb in sim.load_balancers(ZONE)] == ["slow"]


async def test_clear_faults_releases_hanging_requests(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("list-load-balancers", Fault.hang(120))
    responses: list[httpx.Response] = []

    async def call() -> None:
        responses.append(await client.get("/load-balancer"))

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(call)
            # Nothing to wait on: the hang starts inside the simulator's request handler.
            while sim.count("list-load-balancers") == 0:  # noqa: ASYNC110
                await anyio.sleep(0.01)
            sim.clear_faults()
    assert [r.status_code for r in responses] == [504]


def test_hang_makes_a_real_client_time_out(sim: Simulator, credentials: tuple[str, str]) -> None:
    sim.inject("list-load-balancers", Fault.hang(60))
    with serve_in_thread(sim) as base:
        with (
            httpx.Client(
                base_url=f"{base}/{ZONE}/v2", auth=OfficialSigner(*credentials), timeout=0.3
            ) as real,
            pytest.raises(httpx.ReadTimeout),
        ):
            real.get("/load-balancer")
        sim.clear_faults()


def test_hang_ends_when_the_client_goes_away(
    sim: Simulator, credentials: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hung handler notices the disconnect instead of holding its task for the full hang."""
    finished = threading.Event()
    original = sim_app._hold

    async def observed(*args: Any) -> None:
        await original(*args)
        finished.set()

    monkeypatch.setattr(sim_app, "_hold", observed)
    sim.inject("list-load-balancers", Fault.hang(120))
    with serve_in_thread(sim) as base:
        with (
            httpx.Client(
                base_url=f"{base}/{ZONE}/v2", auth=OfficialSigner(*credentials), timeout=0.3
            ) as real,
            pytest.raises(httpx.ReadTimeout),
        ):
            real.get("/load-balancer")
        # Far below the 120 s hang: only the disconnect can end it this soon.
        assert finished.wait(timeout=20)


async def _fault_sequence(seed: int) -> list[str | None]:
    sim = Simulator(seed=seed)
    key = sim.add_api_key()
    sim.inject("*", Fault.http(503), probability=0.3)
    sim.inject("create-load-balancer", Fault.operation_failure(), probability=0.5)
    async with api_client(sim, key) as client:
        for index in range(40):
            if index % 2:
                await client.get("/load-balancer")
            else:
                await client.post("/load-balancer", json={"name": f"n{index}"})
    return [record.fault for record in sim.requests]


async def test_faults_are_reproducible_from_the_seed() -> None:
    first = await _fault_sequence(seed=11)
    assert first == await _fault_sequence(seed=11)
    assert first != await _fault_sequence(seed=12)
    assert {"http-503", "operation-failure", None} <= set(first)


async def test_random_latencies_are_reproducible_from_the_seed() -> None:
    async def completion_steps(seed: int) -> list[int]:
        sim = Simulator(seed=seed, operation_latency=(1.0, 10.0), clock="manual")
        key = sim.add_api_key()
        async with api_client(sim, key) as client:
            ops = [
                (await client.post("/load-balancer", json={"name": f"n{i}"})).json()
                for i in range(6)
            ]
            done_at: dict[str, int] = {}
            for step in range(25):
                sim.advance(0.5)
                for op in ops:
                    state = (await client.get(f"/operation/{op['id']}")).json()["state"]
                    if state == "success":
                        done_at.setdefault(op["id"], step)
        return [done_at[op["id"]] for op in ops]

    first = await completion_steps(3)
    assert first == await completion_steps(3)
    assert len(set(first)) > 1  # really drawn, not fixed


@pytest.mark.parametrize(
    "build",
    [
        lambda: Fault.http(200),
        lambda: Fault.hang(0),
        lambda: Fault.hang(10_000),
        lambda: Fault.rate_limited(retry_after=-1),
        lambda: Fault.operation_failure(reason="gremlins"),
        lambda: Fault.operation_stuck(seconds=0),
        lambda: Fault.operation_stuck(seconds=float("inf")),
        lambda: Fault.malformed("garbled"),
    ],
)
def test_bad_faults_are_refused(build: Any) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        build()


def test_bad_injections_are_refused(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="unknown operation id"):
        sim.inject("create-lb", Fault.http(500))
    with pytest.raises(ValueError, match="only applies to writes"):
        sim.inject("get-load-balancer", Fault.operation_stuck())
    with pytest.raises(ValueError, match="count"):
        sim.inject("*", Fault.http(500), count=0)
    with pytest.raises(ValueError, match="probability"):
        sim.inject("*", Fault.http(500), probability=1.5)
    with pytest.raises(LookupError, match="not served"):
        sim.inject("*", Fault.http(500), zone="mars-1")


@pytest.mark.parametrize(
    "fault",
    [
        Fault.http(503, "down"),
        Fault.rate_limited(2.5),
        Fault.hang(3, applied=True),
        Fault.operation_failure("busy", "later"),
        Fault.operation_timeout(),
        Fault.operation_stuck(),
        Fault.operation_stuck(seconds=30),
        *(Fault.malformed(variant) for variant in MALFORMED_VARIANTS),
        Fault.listing_empty(),
        Fault.listing_partial(ids=["5F4B3D7E-1C2A-4B8E-9F00-0123456789AB"]),
        Fault.listing_partial(share=0.25),
        Fault.listing_lagging(7.5),
    ],
    ids=lambda fault: (
        fault.name
        + (f"-{fault.seconds:g}s" if fault.seconds else "")
        + (f"-{len(fault.ids)}-ids" if fault.ids else "")
        + (f"-{fault.share:g}" if fault.share else "")
    ),
)
def test_faults_round_trip_through_json(fault: Fault) -> None:
    assert Fault.from_json(fault.to_json()) == fault


# -- malformed answers and operations stuck for a while ------------------------------------------


@pytest.mark.parametrize("variant", MALFORMED_VARIANTS)
@pytest.mark.parametrize("operation", ["get-load-balancer", "list-load-balancers"])
async def test_malformed_answers_break_the_spec_and_say_so(
    sim: Simulator, client: httpx.AsyncClient, variant: str, operation: str
) -> None:
    lb = (await client.post("/load-balancer", json={"name": "nlb"})).json()["reference"]["id"]
    path = "/load-balancer" if operation == "list-load-balancers" else f"/load-balancer/{lb}"
    sim.inject(operation, Fault.malformed(variant), count=1)
    # The fixture's spec check skips the corrupted answer because of its header...
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers[FAULT_HEADER] == f"malformed-{variant}"
    assert sim.requests[-1].fault == f"malformed-{variant}"
    # ...and without that skip the answer would fail it: it is really broken. (The spec marks
    # almost no field required, so a missing `id` passes it, though no client can use it.)
    if variant != "missing-field":
        with pytest.raises(Exception):  # noqa: B017 - JSON and schema errors alike
            check_response("GET", str(response.request.url), 200, response.content)
    if variant == "broken-json":
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(response.content)
    else:
        data = orjson.loads(response.content)
        key = "id" if operation == "get-load-balancer" else "load-balancers"
        if variant == "missing-field":
            assert key not in data
        else:
            assert type(data[key]) is not type(orjson.loads((await client.get(path)).content)[key])
    # The rule was used up: the next answer is whole and carries no fault header.
    assert FAULT_HEADER not in (await client.get(path)).headers


async def test_malformed_write_still_takes_effect(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("create-load-balancer", Fault.malformed("missing-field"), count=1)
    response = await client.post("/load-balancer", json={"name": "made-anyway"})
    assert "id" not in response.json()
    assert [lb["name"] for lb in sim.load_balancers(ZONE)] == ["made-anyway"]


async def test_malformed_leaves_error_answers_alone(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("get-load-balancer", Fault.malformed("wrong-type"), count=1)
    response = await client.get("/load-balancer/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert FAULT_HEADER not in response.headers
    assert sim.requests[-1].fault is None


async def test_an_operation_stuck_for_a_while_completes_afterwards(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("create-load-balancer", Fault.operation_stuck(seconds=30), count=1)
    op = (await client.post("/load-balancer", json={"name": "slow"})).json()
    sim.advance(29)
    assert (await client.get(f"/operation/{op['id']}")).json()["state"] == "pending"
    assert sim.load_balancers(ZONE)[0]["state"] == "creating"
    sim.advance(2)
    assert (await client.get(f"/operation/{op['id']}")).json()["state"] == "success"
    assert sim.load_balancers(ZONE)[0]["state"] == "running"
    assert sim.requests[0].fault == "operation-stuck"
