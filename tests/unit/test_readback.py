"""Reads after writes: alone, a get-load-balancer at once; piled up behind the rate limiter, one
list-load-balancers for all; an NLB the listing leaves out or shows without the change, by ID.

The zone client is an in-memory stand-in: its rate limiter hands out a token when the test says
so, its listing can lie, and it counts calls.
"""

from __future__ import annotations

import anyio
import pytest

from exoccm.controllers.inventory import ZoneInventory
from exoccm.controllers.readback import NLBS_PER_READ, Check, ReadBack
from exoccm.exoscale.errors import MalformedResponseError, ServerError
from exoccm.exoscale.models import LoadBalancer, LoadBalancerService

pytestmark = pytest.mark.anyio

ZONE = "de-muc-1"


def nlb(index: int, *services: str) -> LoadBalancer:
    return LoadBalancer(
        id=f"nlb-{index}",
        name=f"k8s-{index}",
        ip=f"194.182.0.{index}",
        services=tuple(
            LoadBalancerService(
                id=f"svc-{index}-{name}", name=name, protocol="tcp", port=80, target_port=30080
            )
            for name in services
        ),
    )


class Session:
    """Tokens on demand: ``free`` hands them out at once, else each waits for ``release``."""

    def __init__(self) -> None:
        self.free = True
        self.waiting = 0
        self._gate = anyio.Event()

    async def take_turn(self) -> None:
        if self.free:
            return
        self.waiting += 1
        await self._gate.wait()

    def hold(self) -> None:
        self.free = False
        self._gate = anyio.Event()

    def release(self) -> None:
        self.free = True
        self._gate.set()


class Client:
    def __init__(self, truth: dict[str, LoadBalancer]) -> None:
        self.zone = ZONE
        self.session = Session()
        self.truth = truth
        self.listing: dict[str, LoadBalancer] | None = None  # None: the truth
        self.list_fails = False
        self.calls: list[str] = []

    async def list_load_balancers(self, *, prepaid: bool = False) -> tuple[LoadBalancer, ...]:
        assert prepaid, "a batch's listing uses the token its first read waited for"
        self.calls.append("list")
        if self.list_fails:
            raise ServerError(503, "unavailable", operation="list-load-balancers", zone=ZONE)
        return tuple((self.truth if self.listing is None else self.listing).values())

    async def get_load_balancer(self, lb_id: str, *, prepaid: bool = False) -> LoadBalancer:
        self.calls.append(f"get {lb_id}" + (" (prepaid)" if prepaid else ""))
        return self.truth[lb_id]


def has(name: str) -> Check:
    def check(lb: LoadBalancer) -> str | None:
        return None if lb.service_named(name) else f"has no service named {name!r}"

    return check


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


CLOCK = Clock()


def world(
    count: int, *, gather: float = 60.0, batch_size: int = 10
) -> tuple[Client, ZoneInventory]:
    client = Client({f"nlb-{i}": nlb(i, "web") for i in range(count)})
    inventory = ZoneInventory(client, clock=CLOCK)  # type: ignore[arg-type]
    inventory.read_back = ReadBack(inventory, clock=CLOCK, gather=gather, batch_size=batch_size)
    return client, inventory


async def read_all(inventory: ZoneInventory, ids: list[str], client: Client) -> list[LoadBalancer]:
    """Start reads of ``ids`` one after the other while the limiter holds the first back (after
    a quiet spell: the first does not wait for others on its own)."""
    CLOCK.now += 3600
    client.session.hold()
    results: dict[str, LoadBalancer] = {}

    async def one(lb_id: str) -> None:
        results[lb_id] = await inventory.read_back.read(lb_id, has("web"))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for lb_id in ids:
                tg.start_soon(one, lb_id)
                await anyio.lowlevel.checkpoint()
            client.session.release()
    return [results[i] for i in ids]


async def test_a_lone_read_is_one_get_sent_at_once() -> None:
    client, inventory = world(3)
    CLOCK.now += 3600
    with anyio.fail_after(5):  # the 60 s gathering would hang here
        lb = await inventory.read_back.read("nlb-1", has("web"))
    assert lb == client.truth["nlb-1"]
    assert client.calls == ["get nlb-1 (prepaid)"]


async def test_reads_that_wait_together_are_served_by_one_listing() -> None:
    client, inventory = world(10)
    ids = [f"nlb-{i}" for i in range(6)]
    answers = await read_all(inventory, ids, client)
    assert answers == [client.truth[i] for i in ids]
    assert client.calls == ["list"]
    assert client.session.waiting == 1  # only the first read waited for a token
    assert inventory.load_balancers_listed  # the listing refreshed the zone's inventory
    assert inventory.cached("nlb-9") == client.truth["nlb-9"]


async def test_an_nlb_the_listing_leaves_out_or_shows_late_is_read_by_id() -> None:
    client, inventory = world(4)
    late = nlb(2)  # as it was before its service was added
    client.listing = {"nlb-0": client.truth["nlb-0"], "nlb-2": late}
    answers = await read_all(inventory, ["nlb-0", "nlb-1", "nlb-2"], client)
    assert answers == [client.truth[f"nlb-{i}"] for i in range(3)]
    assert client.calls[0] == "list"
    assert sorted(client.calls[1:]) == ["get nlb-1", "get nlb-2"]


async def test_a_failed_listing_fails_its_first_read_and_the_others_read_by_id() -> None:
    client, inventory = world(4)
    client.list_fails = True
    CLOCK.now += 3600
    client.session.hold()
    outcomes: dict[str, object] = {}

    async def one(lb_id: str) -> None:
        try:
            outcomes[lb_id] = await inventory.read_back.read(lb_id, has("web"))
        except ServerError as exc:
            outcomes[lb_id] = exc

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for lb_id in ("nlb-0", "nlb-1", "nlb-2"):
                tg.start_soon(one, lb_id)
                await anyio.lowlevel.checkpoint()
            client.session.release()
    assert isinstance(outcomes["nlb-0"], ServerError)
    assert outcomes["nlb-1"] == client.truth["nlb-1"]
    assert outcomes["nlb-2"] == client.truth["nlb-2"]


async def test_while_reads_come_often_the_first_waits_for_others_to_join() -> None:
    client, inventory = world(10, batch_size=3)
    CLOCK.now += 3600
    await inventory.read_back.read("nlb-0", has("web"))  # a moment ago
    assert client.calls == ["get nlb-0 (prepaid)"]
    results: dict[str, LoadBalancer] = {}

    async def one(lb_id: str) -> None:
        results[lb_id] = await inventory.read_back.read(lb_id, has("web"))

    # The limiter does not hold anything back: only gathering makes these one batch.
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for index in (1, 2, 3):
                tg.start_soon(one, f"nlb-{index}")
                await anyio.lowlevel.checkpoint()
    assert client.calls == ["get nlb-0 (prepaid)", "list"]
    assert results == {f"nlb-{i}": client.truth[f"nlb-{i}"] for i in (1, 2, 3)}


async def test_a_read_whose_answer_lacks_the_change_is_an_error() -> None:
    _, inventory = world(2)
    CLOCK.now += 3600
    with pytest.raises(MalformedResponseError, match="has no service named 'api'"):
        await inventory.read_back.read("nlb-1", has("api"))


async def test_in_a_large_zone_a_few_reads_do_not_fetch_the_whole_listing() -> None:
    count = 3 * NLBS_PER_READ
    client, inventory = world(count)
    await inventory.refresh_load_balancers(prepaid=True)  # the zone is known to be large
    client.calls.clear()
    await read_all(inventory, ["nlb-0", "nlb-1"], client)
    assert "list" not in client.calls
    assert sorted(client.calls) == ["get nlb-0 (prepaid)", "get nlb-1"]
    client.calls.clear()
    await read_all(inventory, [f"nlb-{i}" for i in range(3)], client)
    assert client.calls == ["list"]


async def test_a_read_cancelled_while_waiting_lets_the_others_read() -> None:
    client, inventory = world(3)
    CLOCK.now += 3600
    client.session.hold()
    results: dict[str, LoadBalancer] = {}

    async def one(lb_id: str) -> None:
        results[lb_id] = await inventory.read_back.read(lb_id, has("web"))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            doomed = anyio.CancelScope()

            async def first() -> None:
                with doomed:
                    await one("nlb-0")

            tg.start_soon(first)
            await anyio.lowlevel.checkpoint()
            tg.start_soon(one, "nlb-1")
            await anyio.lowlevel.checkpoint()
            doomed.cancel()
            await anyio.lowlevel.checkpoint()
            client.session.release()
    assert results == {"nlb-1": client.truth["nlb-1"]}
    assert client.calls == ["get nlb-1"]
    # Later reads batch as before.
    client.calls.clear()
    await read_all(inventory, ["nlb-0", "nlb-1", "nlb-2"], client)
    assert client.calls == ["list"]
