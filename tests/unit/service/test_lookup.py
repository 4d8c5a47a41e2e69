"""Finding a Service's NLB when listings lie: only a 404 by ID proves an NLB gone.

The zone clients here are in-memory stand-ins for :class:`~exoccm.exoscale.client.ZoneClient`
that answer ``list-load-balancers`` with whatever lie a test sets, and ``get-load-balancer``
with the truth; they count the calls.
"""

from __future__ import annotations

from collections.abc import Iterable

import anyio
import pytest

from exoccm.controllers.inventory import Inventories
from exoccm.controllers.service.annotations import LoadBalancerSettings
from exoccm.controllers.service.authority import Authority
from exoccm.controllers.service.declarations import EXTERNAL, ID
from exoccm.controllers.service.desired import ownership_labels
from exoccm.controllers.service.lookup import (
    CREATE_SETTLE_SECONDS,
    Found,
    LoadBalancerNotFoundError,
    find_load_balancer,
)
from exoccm.exoscale.errors import NotFoundError
from exoccm.exoscale.models import LoadBalancer

CLUSTER = "prod"
HOME, AWAY = "de-muc-1", "ch-gva-2"
NLB = "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Zone:
    """One zone's API: the truth, and what the listing shows of it (None: the truth)."""

    def __init__(self, zone: str):
        self.zone = zone
        self.truth: dict[str, LoadBalancer] = {}
        self.listing: list[str] | None = None
        self.lists = 0
        self.gets: list[str] = []

    async def list_load_balancers(self, *, prepaid: bool = False) -> tuple[LoadBalancer, ...]:
        self.lists += 1
        shown = self.truth if self.listing is None else {i: self.truth[i] for i in self.listing}
        return tuple(shown.values())

    async def get_load_balancer(self, lb_id: str, *, prepaid: bool = False) -> LoadBalancer:
        self.gets.append(lb_id)
        if lb_id not in self.truth:
            raise NotFoundError(404, f"load balancer {lb_id} not found", zone=self.zone)
        return self.truth[lb_id]


class World:
    def __init__(self) -> None:
        self.clock = Clock()
        self.zones = {z: Zone(z) for z in (HOME, AWAY)}
        self.inventories = Inventories(self.zones.__getitem__, clock=self.clock)  # type: ignore[arg-type]

    def add(self, zone: str, lb_id: str, uid: str | None = None) -> LoadBalancer:
        labels = ownership_labels(CLUSTER, "shop", "web", uid) if uid else {}
        lb = LoadBalancer(id=lb_id, name=f"nlb-{lb_id[:4]}", ip="192.0.2.1", labels=labels)
        self.zones[zone].truth[lb_id] = lb
        return lb

    def find(self, settings: LoadBalancerSettings, uid: str = "u1") -> Found:
        async def run() -> Found:
            return await find_load_balancer(
                settings,
                uid,
                self.inventories.zone(HOME),
                Authority(self.inventories),
                cluster_id=CLUSTER,
                other_zones=(HOME, AWAY),
            )

        return anyio.run(run)

    def gets(self) -> dict[str, list[str]]:
        return {z: zone.gets for z, zone in self.zones.items() if zone.gets}


def lie(world: World, zone: str, shown: Iterable[str]) -> None:
    world.zones[zone].listing = list(shown)


def test_an_nlb_the_listing_leaves_out_is_found_by_id() -> None:
    world = World()
    world.add(HOME, NLB)
    lie(world, HOME, [])  # an empty listing
    found = world.find(LoadBalancerSettings({ID.suffix: NLB}))
    assert found.load_balancer is not None
    assert (found.load_balancer.id, found.zone, found.id_missing) == (NLB, HOME, False)
    assert world.gets() == {HOME: [NLB]}


def test_an_nlb_in_the_listing_costs_no_read() -> None:
    world = World()
    world.add(HOME, NLB)
    found = world.find(LoadBalancerSettings({ID.suffix: NLB}))
    assert found.load_balancer is not None
    assert world.gets() == {}


def test_an_nlb_of_another_zone_is_located() -> None:
    world = World()
    world.add(AWAY, NLB, uid="u1")
    found = world.find(LoadBalancerSettings({ID.suffix: NLB}))
    assert (found.zone, found.how) == (AWAY, "id")
    assert world.gets() == {HOME: [NLB], AWAY: [NLB]}


def test_only_404s_everywhere_prove_the_nlb_gone() -> None:
    world = World()
    found = world.find(LoadBalancerSettings({ID.suffix: NLB}))
    assert (found.load_balancer, found.how, found.id_missing) == (None, "none", True)
    assert world.gets() == {HOME: [NLB], AWAY: [NLB]}


def test_an_external_nlb_that_exists_nowhere_is_an_error() -> None:
    world = World()
    with pytest.raises(LoadBalancerNotFoundError, match="never creates external NLBs"):
        world.find(LoadBalancerSettings({ID.suffix: NLB, EXTERNAL.suffix: True}))


def test_a_known_nlb_survives_listings_that_leave_it_out_until_a_404() -> None:
    world = World()
    world.add(HOME, NLB, uid="u1")
    inventory = world.inventories.zone(HOME)

    async def refresh() -> None:
        await inventory.refresh_load_balancers()

    anyio.run(refresh)
    lie(world, HOME, [])
    anyio.run(refresh)
    assert inventory.cached(NLB) is not None, "one empty listing proves nothing"
    assert inventory.missed(1)
    assert not inventory.missed(2)
    anyio.run(refresh)
    assert [lb.id for lb in inventory.missed(2)] == [NLB]
    # Found by its labels although the last two listings left it out: no second NLB.
    found = world.find(LoadBalancerSettings())
    assert found.load_balancer is not None
    assert found.how == "labels"
    inventory.record_absent(NLB)
    assert inventory.cached(NLB) is None


def test_a_create_whose_answer_named_the_nlb_is_settled_by_reading_it() -> None:
    world = World()
    inventory = world.inventories.zone(HOME)
    inventory.note_create_sent("u1")
    inventory.note_create_started("u1", NLB)
    world.add(HOME, NLB, uid="u1")
    lie(world, HOME, [])  # the listing lags behind the create
    found = world.find(LoadBalancerSettings())
    assert found.load_balancer is not None
    assert found.load_balancer.id == NLB
    assert world.gets() == {HOME: [NLB]}
    assert inventory.pending_create("u1") is None


def test_a_create_whose_answer_named_an_nlb_that_never_came_allows_a_new_one() -> None:
    world = World()
    inventory = world.inventories.zone(HOME)
    inventory.note_create_sent("u1")
    inventory.note_create_started("u1", NLB)
    found = world.find(LoadBalancerSettings())
    assert found.load_balancer is None
    assert found.how == "none"


def test_a_lost_create_blocks_new_creates_until_a_later_listing_has_spoken() -> None:
    world = World()
    inventory = world.inventories.zone(HOME)
    inventory.note_create_sent("u1")
    world.add(HOME, NLB, uid="u1")  # it was made...
    lie(world, HOME, [])  # ...but the listing does not show it yet
    with pytest.raises(LoadBalancerNotFoundError, match="was lost"):
        world.find(LoadBalancerSettings())
    world.clock.now += CREATE_SETTLE_SECONDS
    lie(world, HOME, [NLB])
    found = world.find(LoadBalancerSettings())
    assert found.load_balancer is not None
    assert found.load_balancer.id == NLB


def test_a_lost_create_that_made_nothing_allows_a_new_one_after_the_settle_time() -> None:
    world = World()
    inventory = world.inventories.zone(HOME)
    inventory.note_create_sent("u1")
    with pytest.raises(LoadBalancerNotFoundError):
        world.find(LoadBalancerSettings())
    world.clock.now += CREATE_SETTLE_SECONDS
    assert world.find(LoadBalancerSettings()).how == "none"
    assert inventory.pending_create("u1") is None
