"""Listings that lie: empty, partial and lagging answers of the list operations.

Every answer here goes through the `client` fixture, which validates it against the spec: a
lying answer is a valid one, and carries no mark that it lies.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from exoscale.api.v2 import Client

from exoccm.sim import Fault, Simulator
from exoccm.sim.faults import FAULT_HEADER, MAX_LAG_SECONDS
from exoccm.sim.listings import LISTED_KEYS
from exoccm.testing.simprocess import API_KEY, API_SECRET, SimulatorError, running_simulator
from tests.sim.helpers import (
    MISSING,
    ZONE,
    add_service,
    api_client,
    check_requests_response,
    check_response,
    create_nlb,
    service_body,
)

pytestmark = pytest.mark.anyio

# Each listing faults apply to: (operation id, path, key of the answer's list).
LISTINGS = [
    ("list-load-balancers", "/load-balancer", "load-balancers"),
    ("list-instances", "/instance", "instances"),
    ("list-instance-pools", "/instance-pool", "instance-pools"),
    ("list-sks-clusters", "/sks-cluster", "sks-clusters"),
]


async def _ids(client: httpx.AsyncClient, path: str = "/load-balancer") -> list[str]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert FAULT_HEADER not in response.headers
    [items] = response.json().values()
    return [item["id"] for item in items]


async def _by_id(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/load-balancer")
    return {lb["id"]: lb for lb in response.json()["load-balancers"]}


def _truth(sim: Simulator) -> dict[str, Any]:
    """The NLBs as they are (the control surface never lies), by id."""
    return {lb["id"]: lb for lb in sim.load_balancers(ZONE)}


def _listing_faults(sim: Simulator) -> list[str | None]:
    return [r.fault for r in sim.requests if r.operation_id == "list-load-balancers"]


def test_the_listings_table_is_the_simulators() -> None:
    assert {operation for operation, _, _ in LISTINGS} == set(LISTED_KEYS)
    assert {key for _, _, key in LISTINGS} == set(LISTED_KEYS.values())


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: Fault.listing_partial(ids=[]), "ids is empty"),
        (lambda: Fault.listing_partial(ids=["nlb-1"]), "must be UUIDs"),
        (lambda: Fault.listing_partial(ids=[MISSING], share=0.5), "not both"),
        (lambda: Fault.listing_partial(share=0), r"share must be a number in \(0, 1\]"),
        (lambda: Fault.listing_partial(share=1.5), "share"),
        (lambda: Fault.listing_partial(share=True), "share"),
        (lambda: Fault.listing_lagging(0), "0 < seconds <= 600"),
        (lambda: Fault.listing_lagging(MAX_LAG_SECONDS + 1), "seconds"),
        (lambda: Fault.listing_lagging(math.nan), "seconds"),
    ],
)
def test_bad_listing_faults_are_refused(build: Callable[[], Fault], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        build()


def test_one_id_is_not_a_list_of_ids() -> None:
    with pytest.raises(TypeError, match="list of object ids"):
        Fault.listing_partial(ids=MISSING)


@pytest.mark.parametrize(
    "operation",
    [
        "get-load-balancer",
        "get-instance",
        "create-load-balancer",
        "list-instance-types",
        "list-zones",
    ],
)
def test_listing_faults_never_reach_reads_by_id_or_other_operations(
    sim: Simulator, operation: str
) -> None:
    with pytest.raises(ValueError, match=r"only applies to the listings .* authoritative"):
        sim.inject(operation, Fault.listing_empty())


# -- empty and partial ----------------------------------------------------------------------------


async def test_an_empty_listing_for_the_next_n_calls(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    lb = await create_nlb(client)
    sim.inject("list-load-balancers", Fault.listing_empty(), count=2)
    assert [await _ids(client) for _ in range(3)] == [[], [], [lb]]
    assert _listing_faults(sim) == ["listing-empty", "listing-empty", None]


async def test_a_wildcard_lie_reaches_every_listing_and_nothing_else(
    sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    cluster = sim.add_sks_cluster(
        ZONE, "c", nodepools=[{"name": "np", "instance_pool_id": pool["id"]}]
    )
    lb = await create_nlb(client)
    [instance, *_] = await _ids(client, "/instance")
    sim.inject("*", Fault.listing_empty())
    for operation, path, key in LISTINGS:
        response = await client.get(path)
        assert response.json() == {key: []}, operation
        # A valid answer (the fixture checks it too) that does not say it lies.
        check_response("GET", str(response.request.url), 200, response.content)
        assert FAULT_HEADER not in response.headers
    # Reads by id are authoritative; the other operations are served truthfully.
    for path in (
        f"/load-balancer/{lb}",
        f"/instance/{instance}",
        f"/instance-pool/{pool['id']}",
        f"/sks-cluster/{cluster['id']}",
    ):
        assert (await client.get(path)).status_code == 200, path
    assert (await client.get("/instance-type")).json()["instance-types"]
    assert len((await client.get("/zone")).json()["zones"]) == 8
    second = await create_nlb(client, name="second")
    assert (await client.get(f"/load-balancer/{second}")).status_code == 200
    faults = {record.operation_id: record.fault for record in sim.requests}
    assert {op: faults[op] for op in LISTED_KEYS} == dict.fromkeys(LISTED_KEYS, "listing-empty")
    assert {faults[op] for op in set(faults) - set(LISTED_KEYS)} == {None}


async def test_a_lie_scoped_to_a_zone_leaves_the_others_alone(
    sim: Simulator, client: httpx.AsyncClient, credentials: tuple[str, str]
) -> None:
    munich = await create_nlb(client)
    sim.inject("list-load-balancers", Fault.listing_empty(), zone="ch-gva-2")
    async with api_client(sim, credentials, "ch-gva-2") as geneva:
        await create_nlb(geneva)
        assert await _ids(geneva) == []
    assert await _ids(client) == [munich]


async def _lie_sequence(seed: int) -> list[str | None]:
    sim = Simulator(seed=seed, clock="manual")
    async with api_client(sim, sim.add_api_key()) as client:
        await create_nlb(client)
        sim.inject("list-load-balancers", Fault.listing_empty(), probability=0.5)
        for _ in range(30):
            await _ids(client)
    return _listing_faults(sim)


async def test_a_probable_lie_is_reproducible_from_the_seed() -> None:
    first = await _lie_sequence(seed=3)
    assert first == await _lie_sequence(seed=3)
    assert first != await _lie_sequence(seed=4)
    assert set(first) == {"listing-empty", None}


async def test_partial_leaves_out_the_named_objects(
    sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    lbs = [await create_nlb(client, name=f"n{index}") for index in range(4)]
    # Ids match whatever their case; an id nothing has is harmless.
    hidden = [lbs[1].upper(), lbs[3], MISSING]
    sim.inject("list-load-balancers", Fault.listing_partial(ids=hidden), count=1)
    assert await _ids(client) == [lbs[0], lbs[2]]
    assert await _ids(client) == lbs
    assert _listing_faults(sim) == ["listing-partial", None]

    # On a filtered listing, the named objects go from what the filter found.
    members = await _ids(client, f"/instance?manager-id={pool['id']}")
    sim.inject("list-instances", Fault.listing_partial(ids=[members[0]]), count=1)
    assert await _ids(client, f"/instance?manager-id={pool['id']}") == members[1:]


async def test_partial_share_leaves_out_a_seeded_random_share(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    lbs = [await create_nlb(client, name=f"n{index}") for index in range(10)]
    sim.inject("list-load-balancers", Fault.listing_partial(share=0.25), count=4)
    listings = [await _ids(client) for _ in range(4)]
    # ceil(0.25 * 10) = 3 left out each time; the rest in their true order.
    for listing in listings:
        assert len(listing) == 7
        assert listing == [lb for lb in lbs if lb in listing]
    assert len({tuple(listing) for listing in listings}) > 1  # drawn anew for each call
    sim.inject("list-load-balancers", Fault.listing_partial(), count=1)  # share 0.5
    assert len(await _ids(client)) == 5
    sim.inject("list-load-balancers", Fault.listing_partial(share=0.01), count=1)
    assert len(await _ids(client)) == 9  # any share leaves out at least one


async def test_the_random_share_is_reproducible_from_the_seed() -> None:
    async def hidden_positions(seed: int) -> list[list[int]]:
        sim = Simulator(seed=seed, clock="manual")
        async with api_client(sim, sim.add_api_key()) as client:
            lbs = [await create_nlb(client, name=f"n{index}") for index in range(10)]
            sim.inject("list-load-balancers", Fault.listing_partial(share=0.5))
            listings = [await _ids(client) for _ in range(3)]
        return [[i for i, lb in enumerate(lbs) if lb not in listing] for listing in listings]

    first = await hidden_positions(1)
    assert first == await hidden_positions(1)
    assert first != await hidden_positions(2)


async def test_a_lie_on_an_empty_listing_is_still_an_answer(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("list-load-balancers", Fault.listing_partial(share=1.0), count=1)
    sim.inject("list-sks-clusters", Fault.listing_lagging(5), count=1)
    assert await _ids(client) == []
    assert await _ids(client, "/sks-cluster") == []


async def test_a_malformed_answer_may_lie_too(sim: Simulator, client: httpx.AsyncClient) -> None:
    await create_nlb(client)
    sim.inject("list-load-balancers", Fault.malformed("wrong-type"), count=1)
    sim.inject("list-load-balancers", Fault.listing_lagging(5), count=1)
    response = await client.get("/load-balancer")
    assert response.json() == {"load-balancers": "not-a-list"}
    assert sim.requests[-1].fault == "listing-lagging+malformed-wrong-type"


async def test_an_error_answer_uses_the_rule_up_without_lying(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.inject("list-instances", Fault.listing_empty(), count=1)
    assert (await client.get("/instance?manager-id=nope")).status_code == 400
    assert [r.fault for r in sim.requests] == [None]
    sim.add_instance(ZONE, "n")
    assert len(await _ids(client, "/instance")) == 1


# -- lagging ----------------------------------------------------------------------------------------


async def test_a_lagging_listing_shows_the_zone_as_it_was(
    sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any]
) -> None:
    """Create, edit and delete an NLB and its service; at each moment the lagging listing shows
    exactly what the truthful one showed 10 s earlier."""
    truth: dict[float, dict[str, Any]] = {}
    sim.inject("list-load-balancers", Fault.listing_lagging(10))

    def at(moment: float) -> None:
        sim.advance(moment - sim.clock.monotonic())

    lb = await create_nlb(client, name="first")  # t=0
    truth[0] = _truth(sim)
    assert await _by_id(client) == {}  # created less than 10 s ago
    assert (await client.get(f"/load-balancer/{lb}")).json()["name"] == "first"

    at(5)
    service = await add_service(client, lb, pool["id"])
    await client.put(f"/load-balancer/{lb}", json={"name": "renamed"})
    truth[5] = _truth(sim)
    assert await _by_id(client) == {}

    at(9.5)
    assert await _by_id(client) == {}
    at(10)
    shown = await _by_id(client)
    assert shown == truth[0]
    assert (shown[lb]["name"], shown[lb]["services"], shown[lb]["state"]) == (
        "first",
        [],
        "running",
    )

    at(15)
    assert await _by_id(client) == truth[5]
    assert [s["port"] for s in truth[5][lb]["services"]] == [80]
    await client.put(f"/load-balancer/{lb}/service/{service}", json={"port": 8080})
    truth[15] = _truth(sim)

    at(20)
    await client.delete(f"/load-balancer/{lb}")
    second = await create_nlb(client, name="second")
    truth[20] = _truth(sim)
    assert set(truth[20]) == {second}
    assert (await client.get(f"/load-balancer/{lb}")).status_code == 404
    assert await _by_id(client) == truth[5]  # nothing changed from t=5 to t=10

    at(25)
    shown = await _by_id(client)
    assert shown == truth[15]
    assert [s["port"] for s in shown[lb]["services"]] == [8080]
    at(29.5)
    assert await _by_id(client) == truth[15]  # deleted 9.5 s ago: still listed
    at(30)
    assert await _by_id(client) == truth[20]
    assert set(_listing_faults(sim)) == {"listing-lagging"}


async def test_a_lag_counts_a_change_from_when_its_operation_completed(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    """Operations complete lazily, on the next call after they are due; the history still
    dates the change at the due time. A rule injected later sees the changes made before it."""
    sim.set_operation_latency(3.0)
    lb = await create_nlb(client)  # t=0, running from t=3
    sim.advance(20)
    sim.inject("list-load-balancers", Fault.listing_lagging(18), count=1)  # shows t=2
    assert (await _by_id(client))[lb]["state"] == "creating"
    sim.inject("list-load-balancers", Fault.listing_lagging(16), count=1)  # shows t=4
    assert (await _by_id(client))[lb]["state"] == "running"
    sim.inject("list-load-balancers", Fault.listing_lagging(20.5), count=1)  # before the create
    assert await _by_id(client) == {}
    assert _listing_faults(sim) == ["listing-lagging"] * 3


def _strip_derived(listing: dict[str, Any]) -> dict[str, Any]:
    """Fields the API derives from other resources (a service's healthcheck-status, a nodepool's
    size) show the present even in a lagging listing; leave them out of the comparison."""
    for item in listing.values():
        for service in item.get("services", []):
            service.pop("healthcheck-status")
        for nodepool in item.get("nodepools", []):
            nodepool.pop("size")
    return listing


async def _all_listings(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    found = {}
    for _, path, key in LISTINGS:
        items = (await client.get(path)).json()[key]
        found[key] = _strip_derived({item["id"]: item for item in items})
    return found


World = dict[str, str]
Change = Callable[[Simulator, httpx.AsyncClient, World], Awaitable[httpx.Response | None]]
CHANGES: dict[str, Change] = {}


def _change(name: str) -> Callable[[Change], Change]:
    def register(change: Change) -> Change:
        CHANGES[name] = change
        return change

    return register


@_change("create-load-balancer")
async def _create(sim: Simulator, client: httpx.AsyncClient, w: World) -> httpx.Response:
    return await client.post("/load-balancer", json={"name": "new"})


@_change("update-load-balancer")
async def _update(sim: Simulator, client: httpx.AsyncClient, w: World) -> httpx.Response:
    return await client.put(f"/load-balancer/{w['lb']}", json={"description": "changed"})


@_change("reset-load-balancer-field")
async def _reset(sim: Simulator, client: httpx.AsyncClient, w: World) -> httpx.Response:
    return await client.delete(f"/load-balancer/{w['lb']}/labels")


@_change("delete-load-balancer")
async def _delete(sim: Simulator, client: httpx.AsyncClient, w: World) -> httpx.Response:
    return await client.delete(f"/load-balancer/{w['lb']}")


@_change("add-service-to-load-balancer")
async def _add_service(sim: Simulator, client: httpx.AsyncClient, w: World) -> httpx.Response:
    body = service_body(w["pool"], name="b", port=81)
    return await client.post(f"/load-balancer/{w['lb']}/service", json=body)


@_change("update-load-balancer-service")
async def _update_service(sim: Simulator, client: httpx.AsyncClient, w: World) -> httpx.Response:
    return await client.put(f"/load-balancer/{w['lb']}/service/{w['service']}", json={"port": 81})


@_change("reset-load-balancer-service-field")
async def _reset_service(sim: Simulator, client: httpx.AsyncClient, w: World) -> httpx.Response:
    return await client.delete(f"/load-balancer/{w['lb']}/service/{w['service']}/description")


@_change("delete-load-balancer-service")
async def _delete_service(sim: Simulator, client: httpx.AsyncClient, w: World) -> httpx.Response:
    return await client.delete(f"/load-balancer/{w['lb']}/service/{w['service']}")


@_change("failed operation")
async def _failed(sim: Simulator, client: httpx.AsyncClient, w: World) -> httpx.Response:
    sim.inject("update-load-balancer", Fault.operation_failure(), count=1)
    return await client.put(f"/load-balancer/{w['lb']}", json={"name": "never"})


@_change("failed service operation")
async def _failed_service(sim: Simulator, client: httpx.AsyncClient, w: World) -> httpx.Response:
    sim.inject("update-load-balancer-service", Fault.operation_failure(), count=1)
    return await client.put(f"/load-balancer/{w['lb']}/service/{w['service']}", json={"port": 82})


@_change("edit_load_balancer")
async def _edit(sim: Simulator, client: httpx.AsyncClient, w: World) -> None:
    sim.edit_load_balancer(ZONE, w["lb"], name="x")


@_change("edit_load_balancer_service")
async def _edit_service(sim: Simulator, client: httpx.AsyncClient, w: World) -> None:
    sim.edit_load_balancer_service(ZONE, w["lb"], w["service"], port=81)


@_change("delete_load_balancer_out_of_band")
async def _delete_out_of_band(sim: Simulator, client: httpx.AsyncClient, w: World) -> None:
    sim.delete_load_balancer_out_of_band(ZONE, w["lb"])


@_change("add_instance")
async def _add_instance(sim: Simulator, client: httpx.AsyncClient, w: World) -> None:
    sim.add_instance(ZONE, "loner")


@_change("add_instance to a pool")
async def _join_pool(sim: Simulator, client: httpx.AsyncClient, w: World) -> None:
    sim.add_instance(ZONE, "joiner", pool_id=w["pool"])


@_change("set_instance_state")
async def _stop(sim: Simulator, client: httpx.AsyncClient, w: World) -> None:
    sim.set_instance_state(ZONE, w["instance"], "stopped")


@_change("delete_instance")
async def _delete_instance(sim: Simulator, client: httpx.AsyncClient, w: World) -> None:
    sim.delete_instance(ZONE, w["instance"])


@_change("add_instance_pool")
async def _add_pool(sim: Simulator, client: httpx.AsyncClient, w: World) -> None:
    sim.add_instance_pool(ZONE, "more")


@_change("add_sks_cluster")
async def _add_cluster(sim: Simulator, client: httpx.AsyncClient, w: World) -> None:
    sim.add_sks_cluster(ZONE, "c2", nodepools=[{"name": "np", "instance_pool_id": w["spare"]}])


async def _lagging_listings(
    sim: Simulator, client: httpx.AsyncClient, seconds: float
) -> dict[str, dict[str, Any]]:
    sim.inject("*", Fault.listing_lagging(seconds), count=len(LISTINGS))
    return await _all_listings(client)


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_every_change_shows_late_in_a_lagging_listing(
    sim: Simulator, client: httpx.AsyncClient, pool: dict[str, Any], change: str
) -> None:
    """Each way a listed object can change: at t=10 it changes (an API write's Operation then
    completes at t=12); at t=20, listings lagging 5, 9 and 15 s show t=15, t=11 and t=5."""
    spare = sim.add_instance_pool(ZONE, "spare")
    sim.add_sks_cluster(ZONE, "c1", nodepools=[{"name": "np", "instance_pool_id": pool["id"]}])
    lb = await create_nlb(client, labels={"k": "v"})
    service = await add_service(client, lb, pool["id"], description="d")
    [instance, *_] = await _ids(client, f"/instance?manager-id={pool['id']}")
    world = {
        "lb": lb,
        "service": service,
        "pool": pool["id"],
        "spare": spare["id"],
        "instance": instance,
    }
    before = await _all_listings(client)

    sim.advance(10)
    sim.set_operation_latency(2.0)
    response = await CHANGES[change](sim, client, world)
    assert response is None or response.status_code == 200
    during = await _all_listings(client)  # an API write is in progress
    sim.advance(10)
    after = await _all_listings(client)
    assert after != before
    assert await _lagging_listings(sim, client, 5) == after
    assert await _lagging_listings(sim, client, 9) == during
    assert await _lagging_listings(sim, client, 15) == before


def test_the_history_stays_within_the_longest_lag(sim: Simulator) -> None:
    for index in range(30):
        sim.add_instance(ZONE, f"n{index}")
        sim.advance(MAX_LAG_SECONDS / 10)
    # The zone's history (internal) keeps the last MAX_LAG_SECONDS only.
    assert len(sim._cloud.zone(ZONE).history) == 10


# -- the admin API, the official client, the simulator as a process -------------------------------


@pytest.fixture
async def admin(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app), base_url="http://sim/_sim"
    ) as admin_client:
        yield admin_client


async def test_listing_faults_over_the_admin_api(
    sim: Simulator, client: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    lbs = [await create_nlb(client, name=f"n{index}") for index in range(3)]
    sim.advance(30)
    young = await create_nlb(client, name="young")
    sim.delete_load_balancer_out_of_band(ZONE, lbs[2])
    assert await _ids(client) == [lbs[0], lbs[1], young]
    rules: list[dict[str, Any]] = [
        {"kind": "listing-empty"},
        {"kind": "listing-partial", "ids": [lbs[0], young]},
        {"kind": "listing-partial", "share": 0.5},
        {"kind": "listing-lagging", "seconds": 30},
    ]
    for fault in rules:
        response = await admin.post(
            "/inject", json={"operation_id": "list-load-balancers", "fault": fault, "count": 1}
        )
        assert response.status_code == 200, response.text
    # The rules apply in turn (the first that fires wins), each to one call.
    empty, named, share, lagging = [set(await _ids(client)) for _ in rules]
    assert (empty, named) == (set(), {lbs[1]})
    assert len(share) == 1  # ceil(0.5 * 3) = 2 of 3 left out
    assert share < {lbs[0], lbs[1], young}
    assert lagging == set(lbs)  # as at t=0: the young one not yet, the deleted one still
    assert await _ids(client) == [lbs[0], lbs[1], young]
    logged = (await admin.get("/requests")).json()["result"]
    faults = [r["fault"] for r in logged if r["operation_id"] == "list-load-balancers"]
    lies = ["listing-empty", "listing-partial", "listing-partial", "listing-lagging"]
    assert faults == [None, *lies, None]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            {"operation_id": "get-load-balancer", "fault": {"kind": "listing-empty"}},
            "authoritative",
        ),
        ({"operation_id": "*", "fault": {"kind": "listing-lagging"}}, "bad arguments"),
        ({"operation_id": "*", "fault": {"kind": "listing-partial", "ids": "x"}}, "list of"),
        ({"operation_id": "*", "fault": {"kind": "listing-partial", "share": "half"}}, "share"),
        ({"operation_id": "*", "fault": {"kind": "listing-lagging", "seconds": 601}}, "600"),
    ],
)
async def test_bad_listing_faults_over_the_admin_api(
    admin: httpx.AsyncClient, args: dict[str, Any], fragment: str
) -> None:
    response = await admin.post("/inject", json=args)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["message"]


def test_listing_faults_through_the_simulator_process(tmp_path: Path) -> None:
    """As end-to-end tests and the campaign use them: a separate `exoccm sim`, over its socket."""
    with running_simulator(tmp_path) as process:
        client = Client(API_KEY, API_SECRET, url=f"{process.url}/{ZONE}/v2")
        client.http_client.hooks["response"].append(check_requests_response)
        created = client.create_load_balancer(name="fresh")
        lb = client.wait(created["id"])["reference"]["id"]
        process.call(
            "inject",
            operation_id="list-load-balancers",
            fault=Fault.listing_lagging(MAX_LAG_SECONDS).to_json(),
            count=1,
        )
        process.call(
            "inject",
            operation_id="list-load-balancers",
            fault=Fault.listing_partial(ids=[lb]).to_json(),
            count=1,
        )
        # On the real clock: created less than MAX_LAG_SECONDS ago, so not listed yet.
        assert client.list_load_balancers() == {"load-balancers": []}
        assert client.list_load_balancers() == {"load-balancers": []}
        assert [item["id"] for item in client.list_load_balancers()["load-balancers"]] == [lb]
        assert client.get_load_balancer(id=lb)["name"] == "fresh"
        faults = [r["fault"] for r in process.requests()]
        assert faults.count("listing-lagging") == faults.count("listing-partial") == 1
        with pytest.raises(SimulatorError, match="authoritative"):
            process.call(
                "inject",
                operation_id="get-load-balancer",
                fault=Fault.listing_empty().to_json(),
            )


async def test_the_documented_example(sim: Simulator, client: httpx.AsyncClient) -> None:
    """docs/simulator.md, "Listings that lie", step by step."""

    async def names() -> list[str]:
        return [lb["name"] for lb in (await client.get("/load-balancer")).json()["load-balancers"]]

    sim.inject("list-load-balancers", Fault.listing_lagging(10))
    lb = await create_nlb(client, name="web")
    assert await names() == []
    assert (await client.get(f"/load-balancer/{lb}")).json()["name"] == "web"
    sim.advance(5)
    await client.put(f"/load-balancer/{lb}", json={"name": "www"})
    assert await names() == []
    sim.advance(5)
    assert await names() == ["web"]
    sim.advance(5)
    await client.delete(f"/load-balancer/{lb}")
    assert await names() == ["www"]
    assert (await client.get(f"/load-balancer/{lb}")).status_code == 404
    sim.advance(10)
    assert await names() == []
