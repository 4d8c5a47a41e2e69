"""Who owns which NLB, end to end: the ``id`` and ``external`` annotations, deletion, hand-over.

exoccm deletes only what it owns: an NLB it made is deleted whole with its Service, while an
external NLB (``external: "true"`` with ``id`` or ``name``) is never created, renamed or deleted;
only the Service's own NLB services come and go on it, as with Exoscale's Go CCM; the finalizer
and type changes follow the upstream service controller (k8s.io/cloud-provider).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.simprocess import SimProcess
from tests.e2e.conftest import wait_for
from tests.e2e.service_helpers import (
    FINALIZER,
    World,
    ingress_ip,
    key,
    lb_annotations,
    nlb_services,
    port,
)

Factory = Callable[..., ExoccmProcess]


@pytest.fixture
def world(clean_cluster: ControlPlane, simulator: SimProcess, namespace: str) -> World:
    return World(clean_cluster, simulator, namespace)


def test_external_nlbs_are_shared_never_owned(world: World, exoccm_factory: Factory) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    shared = world.handmade_nlb("shared-nlb", foreign_ports=[(9000, "tcp", pool.id)])
    foreign = shared["services"][0]
    exoccm_factory()

    by_id = world.create_service(
        "by-id", [port(80)], lb_annotations(external="true", id=shared["id"], name="not-this-name")
    )
    by_name = world.create_service(
        "by-name", [port(443), port(8443)], lb_annotations(external="True", name="shared-nlb")
    )
    world.create_service(
        "missing-id",
        [port(81)],
        lb_annotations(external="true", id="6c0f35a4-3e1b-4b7e-8d5c-000000000000"),
    )
    world.create_service(
        "missing-name", [port(82)], lb_annotations(external="true", name="nowhere")
    )

    everything = {(9000, "tcp"), (80, "tcp"), (443, "tcp"), (8443, "tcp")}
    svc, nlb = world.wait_ports("by-name", everything)
    assert svc["metadata"]["annotations"][key("id")] == shared["id"]  # found by name, written back
    assert ingress_ip(svc) == shared["ip"]
    svc, _ = world.wait_ports("by-id", everything)
    assert ingress_ip(svc) == shared["ip"]
    # Never renamed, re-described or relabelled; the hand-made service untouched.
    assert nlb["name"] == "shared-nlb"
    assert nlb["description"] == "managed by hand"
    assert "labels" not in nlb
    assert nlb_services(nlb)[(9000, "tcp")] == {**foreign, "state": "running"}
    uids = {name: world.must_service(name)["metadata"]["uid"] for name in ("by-id", "by-name")}
    assert nlb_services(nlb)[(80, "tcp")]["name"] == f"{uids['by-id']}-80"
    assert nlb_services(nlb)[(443, "tcp")]["name"] == f"{uids['by-name']}-443"

    event = world.wait_event(
        "missing-id", "SyncLoadBalancerFailed", "6c0f35a4-3e1b-4b7e-8d5c-000000000000"
    )
    assert "never creates external NLBs" in event["message"]
    assert key("id") in event["message"]
    event = world.wait_event("missing-name", "SyncLoadBalancerFailed", "'nowhere'")
    assert "never creates external NLBs" in event["message"]
    assert key("name") in event["message"]
    assert world.writes() == {"create-load-balancer": 1, "add-service-to-load-balancer": 4}

    # Only this Service's NLB services follow its ports.
    world.set_ports("by-name", [port(443)])
    world.wait_ports("by-name", {(9000, "tcp"), (80, "tcp"), (443, "tcp")})

    # Deleting a Service removes its NLB services only; the NLB stays.
    world.delete_service("by-id")
    world.wait_gone("by-id")
    left = world.load_balancer(shared["id"])
    assert left is not None
    assert set(nlb_services(left)) == {(9000, "tcp"), (443, "tcp")}
    world.delete_service("by-name")
    world.wait_gone("by-name")
    left = world.load_balancer(shared["id"])
    assert left is not None
    assert left["services"] == [{**foreign, "state": "running"}]
    assert left["name"] == "shared-nlb"
    assert world.writes() == {
        "create-load-balancer": 1,
        "add-service-to-load-balancer": 4,
        "delete-load-balancer-service": 3,
    }
    assert by_id["metadata"]["uid"] == uids["by-id"]
    assert by_name["metadata"]["uid"] == uids["by-name"]


def test_deletion_and_demotion_remove_the_owned_nlb(world: World, exoccm_factory: Factory) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    exoccm_factory()
    world.create_service("doomed", [port(80), port(443)])
    world.create_service("demoted", [port(80)])
    world.create_service("vanished", [port(80)])
    _, doomed_nlb = world.wait_ports("doomed", [(80, "tcp"), (443, "tcp")])
    _, demoted_nlb = world.wait_ports("demoted", [(80, "tcp")])
    _, vanished_nlb = world.wait_ports("vanished", [(80, "tcp")])

    # An NLB already deleted by hand does not hold its Service's deletion up.
    world.sim.call("delete_load_balancer_out_of_band", zone=world.zone, lb_id=vanished_nlb["id"])
    world.delete_service("vanished")
    world.wait_gone("vanished")
    assert {lb["id"] for lb in world.load_balancers()} == {doomed_nlb["id"], demoted_nlb["id"]}

    before = world.writes()
    world.delete_service("doomed")
    world.wait_gone("doomed")
    # The finalizer held the Service until its NLB was gone, deleted whole in one call.
    assert world.load_balancer(doomed_nlb["id"]) is None
    assert world.writes_since(before) == {"delete-load-balancer": 1}
    events = {e["reason"]: e for e in world.events("doomed")}
    expected = [
        ("EnsuringLoadBalancer", "Ensuring load balancer"),
        ("EnsuredLoadBalancer", "Ensured load balancer"),
        ("DeletingLoadBalancer", "Deleting load balancer"),
        ("DeletedLoadBalancer", "Deleted load balancer"),
    ]
    assert sorted(events) == sorted(reason for reason, _ in expected)
    for reason, message in expected:
        assert (events[reason]["type"], events[reason]["message"]) == ("Normal", message)
    # Timestamps have a resolution of one second: the order shows as never going backwards.
    stamps = [events[reason]["firstTimestamp"] for reason, _ in expected]
    assert stamps == sorted(stamps)

    # No longer a load balancer: NLB deleted, status cleared, finalizer removed; Service kept.
    world.patch_service("demoted", {"spec": {"type": "ClusterIP"}})

    def demoted() -> bool:
        svc = world.must_service("demoted")
        return FINALIZER not in (svc["metadata"].get("finalizers") or []) and not ingress_ip(svc)

    wait_for(demoted, what="demoted to lose its finalizer and ingress")
    assert world.load_balancer(demoted_nlb["id"]) is None
    assert world.load_balancers() == []
    assert world.must_service("demoted")["spec"]["type"] == "ClusterIP"
    assert {"DeletingLoadBalancer", "DeletedLoadBalancer"} <= set(world.reasons("demoted"))


def test_id_annotation(world: World, exoccm_factory: Factory) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    handmade = world.handmade_nlb("handmade", description="")
    exoccm_factory()
    adopted = world.create_service("adopted", [port(80)], lb_annotations(id=handmade["id"]))
    world.create_service(
        "stale", [port(80)], lb_annotations(id="5b0e8c3a-1d2f-4e6a-9b7c-000000000000")
    )

    # An id without external=true names an NLB that the Service then owns (as in the Go CCM).
    svc, nlb = world.wait_ports("adopted", [(80, "tcp")])
    assert nlb["id"] == handmade["id"]
    assert nlb["name"] == f"k8s-{adopted['metadata']['uid']}"
    assert ingress_ip(svc) == handmade["ip"]
    # An id that names no NLB: a new one is made and its id written back.
    svc, nlb = world.wait_ports("stale", [(80, "tcp")])
    assert svc["metadata"]["annotations"][key("id")] == nlb["id"]
    assert nlb["id"] != "5b0e8c3a-1d2f-4e6a-9b7c-000000000000"
    assert world.writes()["create-load-balancer"] == 2  # the hand-made one and "stale"'s
    # ...and the user is told, in case the id was meant to name an existing NLB.
    world.wait_event(
        "stale",
        "LoadBalancerNotFound",
        "5b0e8c3a-1d2f-4e6a-9b7c-000000000000",
        "creating a new NLB",
    )

    world.delete_service("adopted")
    world.wait_gone("adopted")
    assert world.load_balancer(handmade["id"]) is None


def test_switching_to_an_external_nlb(world: World, exoccm_factory: Factory) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    shared = world.handmade_nlb("shared")
    exoccm_factory()
    world.create_service("mover", [port(80)])
    _, owned = world.wait_ports("mover", [(80, "tcp")])

    world.annotate("mover", external="true", id=shared["id"])
    svc, nlb = world.wait_nlb(
        "mover", lambda _, lb: lb["id"] == shared["id"] and len(lb["services"]) == 1
    )
    assert ingress_ip(svc) == shared["ip"]
    assert nlb["name"] == "shared"
    # The NLB exoccm made for the Service serves nothing any more: it is collected.
    wait_for(lambda: world.load_balancer(owned["id"]) is None, what="the abandoned owned NLB to go")
    assert [lb["id"] for lb in world.load_balancers()] == [shared["id"]]


def test_declaring_the_owned_nlb_external_hands_it_over(
    world: World, exoccm_factory: Factory
) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    exoccm_factory()
    world.create_service("keeper", [port(80)])
    _, nlb = world.wait_ports("keeper", [(80, "tcp")])

    # external=true on the NLB exoccm made: from now on it is the user's (to keep its IP, say).
    assert nlb["labels"]["managed-by"] == "exoccm"
    world.annotate("keeper", external="true")
    # exoccm gives up its claim: the ownership labels go, nothing else changes.
    _, handed = world.wait_nlb("keeper", lambda _, lb: "labels" not in lb, what="the hand-over")
    assert {k: v for k, v in handed.items() if k != "labels"} == {
        k: v for k, v in nlb.items() if k != "labels"
    }
    world.delete_service("keeper")
    world.wait_gone("keeper")
    kept = world.load_balancer(nlb["id"])
    assert kept is not None
    assert kept["services"] == []  # the Service's own NLB services went with it
    # Drift passes that follow leave the user's NLB alone.
    world.drift_passes_after(world.sim.count("list-load-balancers"), passes=3)
    assert world.load_balancer(nlb["id"]) is not None
    assert "delete-load-balancer" not in world.writes()


def test_a_port_of_a_shared_nlb_is_not_taken_from_another_service(
    world: World, exoccm_factory: Factory
) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    shared = world.handmade_nlb("shared", foreign_ports=[(9000, "tcp", pool.id)])
    exoccm_factory()
    external = lb_annotations(external="true", id=shared["id"])
    first = world.create_service("first", [port(80)], external)
    _, nlb = world.wait_ports("first", [(80, "tcp"), (9000, "tcp")])
    held = nlb_services(nlb)[(80, "tcp")]
    assert held["name"] == f"{first['metadata']['uid']}-80"

    # Another Service asking for the same port, or for the hand-made service's port, is refused
    # instead of the two taking the port from each other on every pass.
    before = world.writes()
    world.create_service("second", [port(80)], external)
    world.create_service("third", [port(9000)], external)
    event = world.wait_event("second", "SyncLoadBalancerFailed", "80/tcp")
    assert event["message"] == (
        f"Error syncing load balancer: port 80/tcp of external NLB {shared['id']} is served by "
        f"NLB service {held['name']!r}, which is not this Service's; use another port"
    )
    world.wait_event("third", "SyncLoadBalancerFailed", "9000/tcp", "'hand-made-9000-tcp'")
    world.drift_passes_after(world.sim.count("list-load-balancers"))
    assert world.writes_since(before) == {}
    assert world.load_balancer(shared["id"]) == nlb

    # Once the port is free, the waiting Service gets it (a drift pass re-queues it).
    world.delete_service("first")
    second = world.must_service("second")
    _, after = world.wait_nlb(
        "second",
        lambda _, lb: (
            nlb_services(lb).get((80, "tcp"), {}).get("name") == f"{second['metadata']['uid']}-80"
        ),
        what="second to take over the freed port",
    )
    assert set(nlb_services(after)) == {(80, "tcp"), (9000, "tcp")}
    assert nlb_services(after)[(9000, "tcp")] == nlb_services(nlb)[(9000, "tcp")]
