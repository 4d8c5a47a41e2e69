"""Listings that lie never cost a user their NLB.

The simulator answers ``list-load-balancers`` empty, partial (half the NLBs left out) or late
(the zone as it was 30 s ago) while exoccm runs its drift passes, restarts, creates a Service and
updates another. Whatever the listing says, exoccm must not make a second NLB for a Service,
delete an NLB, or change any Service's IP: it asks the API by ID instead.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from exoccm.kube.objects import Obj
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.simprocess import SimProcess
from tests.e2e.conftest import wait_for
from tests.e2e.service_helpers import World, ingress_ip, nlb_services, port

Factory = Callable[..., ExoccmProcess]
SERVICES = 6


@pytest.fixture
def world(clean_cluster: ControlPlane, simulator: SimProcess, namespace: str) -> World:
    return World(clean_cluster, simulator, namespace)


def lie(world: World, fault: Obj) -> None:
    world.sim.call("clear_faults")
    world.sim.call("inject", operation_id="list-load-balancers", fault=fault)


def ips(world: World, names: list[str]) -> dict[str, str | None]:
    return {name: ingress_ip(world.must_service(name)) for name in names}


def passes(world: World, count: int) -> None:
    world.drift_passes_after(world.sim.count("list-load-balancers"), passes=count, timeout=90)


def assert_untouched(world: World, names: list[str], before: dict[str, str | None]) -> None:
    assert ips(world, names) == before, "a Service's IP changed"
    assert world.sim.count("delete-load-balancer") == 0, "an NLB was deleted"
    owners = [lb["labels"]["k8s-service-uid"] for lb in world.load_balancers()]
    assert len(owners) == len(set(owners)), "a Service got a second NLB"


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "listing-empty"},
        {"kind": "listing-partial", "share": 0.5},
        {"kind": "listing-lagging", "seconds": 30},
    ],
    ids=["empty", "partial", "lagging"],
)
def test_a_lying_listing_creates_deletes_and_moves_nothing(
    world: World, exoccm_factory: Factory, fault: Obj
) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    first = exoccm_factory()
    names = [f"s{n}" for n in range(SERVICES)]
    for n, name in enumerate(names):
        world.create_service(name, [port(80 + n)])
    for n, name in enumerate(names):
        world.wait_ports(name, {(80 + n, "tcp")})
    before = ips(world, names)
    creates = world.sim.count("create-load-balancer")

    lie(world, fault)
    passes(world, 3)  # enough for NLBs left out twice in a row to be read by ID
    assert_untouched(world, names, before)
    assert world.sim.count("create-load-balancer") == creates

    # A change made while the listing lies is applied to the NLB the Service has.
    world.annotate("s0", service_strategy="source-hash")
    world.wait_nlb(
        "s0",
        lambda svc, lb: nlb_services(lb)[(80, "tcp")]["strategy"] == "source-hash",
        what="the change to reach s0's NLB",
    )
    # A Service created while the listing lies gets exactly one NLB...
    world.create_service("late", [port(99)])
    late, late_nlb = world.wait_ports("late", {(99, "tcp")})
    # ...and keeps it through more passes and a restart that starts from a lying listing.
    first.stop()
    exoccm_factory()
    passes(world, 3)
    assert_untouched(world, [*names, "late"], {**before, "late": ingress_ip(late)})
    assert world.sim.count("create-load-balancer") == creates + 1
    assert world.load_balancer(late_nlb["id"]) is not None

    world.sim.call("clear_faults")
    passes(world, 2)
    assert_untouched(world, [*names, "late"], {**before, "late": ingress_ip(late)})
    faulted = [r for r in world.sim.requests() if r.get("fault") == fault["kind"]]
    assert faulted, "the listing did lie"


def test_an_nlb_missing_from_every_listing_and_gone_is_proven_gone_by_id(
    world: World, exoccm_factory: Factory
) -> None:
    """The other side: an NLB really deleted out of band is re-made, after a 404, not a listing."""
    pool = world.pool("workers")
    world.nodes(pool)
    exoccm_factory()
    world.create_service("web", [port(80)])
    _, nlb = world.wait_ports("web", {(80, "tcp")})
    world.sim.call("delete_load_balancer_out_of_band", zone=world.zone, lb_id=nlb["id"])
    _, again = world.wait_nlb(
        "web", lambda _, lb: lb["id"] != nlb["id"], timeout=120, what="a new NLB after the 404"
    )
    reads = [
        r
        for r in world.sim.requests()
        if r["operation_id"] == "get-load-balancer" and nlb["id"] in r["path"]
    ]
    assert any(r["status"] == 404 for r in reads), "absence was proven by ID"
    wait_for(lambda: "LoadBalancerNotFound" in world.reasons("web"), what="the Warning")
    assert again["id"] != nlb["id"]
