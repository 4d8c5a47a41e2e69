"""A user's NLB is never lost, duplicated or handed away, end to end.

exoccm as a process against the real apiserver and the simulator: an NLB made a second before
its Service is used at once; a tenant naming another Service's or another cluster's NLB gets a
Warning and writes nothing; two Services naming one NLB do not fight; deleting a Service never
deletes an NLB another Service names; the namespaces allowed to name existing NLBs can be
limited; a zone move creates the new NLB before the old one goes; and the orphan collector
refuses a pass that would delete an unusual share of exoccm's NLBs.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from exoccm.kube.objects import Obj
from exoccm.kube.resources import EVENTS, NAMESPACES, SERVICES
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.simprocess import SimProcess
from tests.e2e.conftest import wait_for
from tests.e2e.service_helpers import (
    FINALIZER,
    OTHER_ZONE,
    World,
    free_node_port,
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


def other_namespace(world: World) -> World:
    """The same cluster and cloud, seen from a second tenant's namespace."""
    name = f"{world.namespace}-b"
    world.plane.apply(NAMESPACES.path(), {"metadata": {"name": name}})
    return World(world.plane, world.sim, name)


def labelled_nlb(world: World, name: str, labels: dict[str, str], zone: str | None = None) -> Obj:
    """An NLB made outside Kubernetes, carrying ``labels`` (another cluster's, say)."""
    client = world.official_client(zone)
    operation = client.wait(client.create_load_balancer(name=name, labels=labels)["id"])
    found = world.load_balancer(operation["reference"]["id"], zone)
    assert found is not None
    return found


def nlb_writes_to(world: World, lb_id: str) -> int:
    """How many NLB writes (any kind) named ``lb_id`` in their path so far."""
    writes = 0
    for request in world.sim.requests():
        if request["method"] in ("POST", "PUT", "DELETE") and lb_id in request["path"]:
            writes += 1
    return writes


def converged(
    world: World, name: str, ports: set[tuple[int, str]] | None = None
) -> tuple[Obj, Obj]:
    return world.wait_ports(name, ports or {(80, "tcp")})


def test_an_nlb_made_a_second_before_its_service_is_used_at_once(
    world: World, exoccm_factory: Factory
) -> None:
    """Terraform creates the NLB, then `kubectl apply`: exoccm's cached listing predates it."""
    pool = world.pool("workers")
    world.nodes(pool)
    exoccm_factory()
    world.create_service("early", [port(81)])
    converged(world, "early", {(81, "tcp")})  # exoccm has listed the zone by now
    creates = world.sim.count("create-load-balancer")

    owned = world.handmade_nlb("made-by-terraform")
    shared = world.handmade_nlb("shared-by-terraform")
    world.create_service("adopts", [port(80)], lb_annotations(id=owned["id"]))
    world.create_service("shares", [port(80)], lb_annotations(id=shared["id"], external="true"))

    svc, nlb = converged(world, "adopts")
    assert svc["metadata"]["annotations"][key("id")] == owned["id"], "the id is kept"
    assert ingress_ip(svc) == owned["ip"]
    assert nlb["labels"]["k8s-service-uid"] == svc["metadata"]["uid"], "adopted: labelled"
    svc, nlb = converged(world, "shares")
    assert svc["metadata"]["annotations"][key("id")] == shared["id"]
    assert ingress_ip(svc) == shared["ip"]
    assert "labels" not in nlb, "an external NLB is never labelled"
    assert world.sim.count("create-load-balancer") == creates + 2, "no NLB made by exoccm"
    assert "SyncLoadBalancerFailed" not in world.reasons("shares")


def test_a_tenant_cannot_take_over_another_services_nlb(
    world: World, exoccm_factory: Factory
) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    exoccm_factory()
    world.create_service("victim", [port(80)], lb_annotations(service_name="victim-web"))
    victim, victim_nlb = converged(world, "victim")
    attacker_ns = other_namespace(world)
    before = nlb_writes_to(world, victim_nlb["id"])

    attacker_ns.create_service("by-id", [port(80)], lb_annotations(id=victim_nlb["id"]))
    attacker_ns.create_service(
        "as-external",
        [port(80)],
        lb_annotations(id=victim_nlb["id"], external="true", service_name="victim-web"),
    )
    for name in ("by-id", "as-external"):
        event = attacker_ns.wait_event(name, "SyncLoadBalancerFailed", victim_nlb["id"])
        assert f"Service {world.namespace}/victim" in event["message"]
        assert victim["metadata"]["uid"] in event["message"]

    listed = world.sim.count("list-load-balancers")
    world.drift_passes_after(listed, passes=3)
    assert nlb_writes_to(world, victim_nlb["id"]) == before, "no write to the victim's NLB"
    for name in ("by-id", "as-external"):
        service = attacker_ns.must_service(name)
        assert ingress_ip(service) is None
        assert service["metadata"]["annotations"][key("id")] == victim_nlb["id"]
        assert FINALIZER not in (service["metadata"].get("finalizers") or [])

    attacker_ns.delete_service("by-id")
    attacker_ns.delete_service("as-external")
    attacker_ns.wait_gone("by-id")
    attacker_ns.wait_gone("as-external")
    _, after = converged(world, "victim")
    assert after["labels"] == victim_nlb["labels"]
    assert nlb_services(after)[(80, "tcp")]["target-port"] == victim["spec"]["ports"][0]["nodePort"]
    assert nlb_writes_to(world, victim_nlb["id"]) == before


def test_a_service_name_never_claims_another_services_port_on_a_shared_nlb(
    world: World, exoccm_factory: Factory
) -> None:
    """Both share a hand-made NLB; the attacker names its NLB service like the victim's."""
    pool = world.pool("workers")
    world.nodes(pool)
    shared = world.handmade_nlb("shared")
    exoccm_factory()
    world.create_service(
        "victim", [port(80)], lb_annotations(id=shared["id"], external="true", service_name="web")
    )
    victim, nlb = converged(world, "victim")
    target = nlb_services(nlb)[(80, "tcp")]["target-port"]
    assert target == victim["spec"]["ports"][0]["nodePort"]

    attacker_ns = other_namespace(world)
    attacker_ns.create_service(
        "attacker",
        [port(80)],
        lb_annotations(id=shared["id"], external="true", service_name="web"),
    )
    event = attacker_ns.wait_event("attacker", "SyncLoadBalancerFailed", "port 80/tcp")
    assert "not this Service's" in event["message"]
    listed = world.sim.count("list-load-balancers")
    world.drift_passes_after(listed, passes=3)
    current = world.load_balancer(shared["id"])
    assert current is not None
    assert nlb_services(current)[(80, "tcp")]["target-port"] == target, "no flip"
    writes = [
        r for r in world.sim.requests() if r["operation_id"] == "update-load-balancer-service"
    ]
    assert writes == []

    # The victim's record keeps its custom-named NLB service its own to change.
    world.set_ports("victim", [port(80, node_port=free_node_port(world.plane))])
    world.wait_nlb(
        "victim",
        lambda svc, lb: (
            nlb_services(lb)[(80, "tcp")]["target-port"] == svc["spec"]["ports"][0]["nodePort"]
        ),
        what="the victim's NLB service to follow its new NodePort",
    )


def test_another_clusters_nlb_is_never_written_nor_deleted(
    world: World, exoccm_factory: Factory
) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    theirs = labelled_nlb(
        world,
        "k8s-theirs",
        {"managed-by": "exoccm", "k8s-cluster": "staging", "k8s-service-uid": "u-staging"},
    )
    exoccm_factory(env={"EXOCCM_CLUSTER_ID": "prod"})
    world.create_service("grabber", [port(80)], lb_annotations(id=theirs["id"]))
    event = world.wait_event("grabber", "SyncLoadBalancerFailed", "cluster 'staging'")
    assert theirs["id"] in event["message"]
    world.delete_service("grabber")
    world.wait_gone("grabber")
    assert nlb_writes_to(world, theirs["id"]) == 0
    still = world.load_balancer(theirs["id"])
    assert still is not None
    assert still["labels"] == theirs["labels"]


def test_two_services_naming_one_nlb_share_nothing_and_deleting_one_keeps_it(
    world: World, exoccm_factory: Factory
) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    nlb = world.handmade_nlb("one-nlb")
    exoccm_factory()
    world.create_service("first", [port(80)], lb_annotations(id=nlb["id"]))
    _first, adopted = converged(world, "first")
    world.create_service("second", [port(443)], lb_annotations(id=nlb["id"]))
    # Adopted by now, so its labels name the owner; before, the older claimant wins.
    world.wait_event("second", "SyncLoadBalancerFailed", f"Service {world.namespace}/first")

    listed = world.sim.count("list-load-balancers")
    before = nlb_writes_to(world, nlb["id"])
    world.drift_passes_after(listed, passes=3)
    assert nlb_writes_to(world, nlb["id"]) == before, "they do not fight over it"
    current = world.load_balancer(nlb["id"])
    assert current is not None
    assert set(nlb_services(current)) == {(80, "tcp")}

    world.delete_service("first")
    world.wait_gone("first")
    world.wait_event("first", "LoadBalancerKept", f"Service {world.namespace}/second")
    second, taken = world.wait_ports("second", {(443, "tcp")})
    assert taken["id"] == nlb["id"], "the NLB the other Service names survived"
    assert ingress_ip(second) == adopted["ip"]
    assert taken["labels"]["k8s-service-uid"] == second["metadata"]["uid"]

    world.delete_service("second")
    world.wait_gone("second")
    wait_for(
        lambda: world.load_balancer(nlb["id"]) is None, what="the NLB to go with its last Service"
    )


def test_limited_namespaces_may_not_name_existing_nlbs(
    world: World, exoccm_factory: Factory
) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    handmade = world.handmade_nlb("not-for-tenants")
    exoccm_factory(env={"EXOCCM_EXISTING_NLB_NAMESPACES": "kube-system,infra"})
    world.create_service("adopt", [port(80)], lb_annotations(id=handmade["id"]))
    world.create_service("share", [port(81)], lb_annotations(id=handmade["id"], external="true"))
    world.create_service("own", [port(82)])
    for name in ("adopt", "share"):
        event = world.wait_event(name, "SyncLoadBalancerFailed", f"namespace {world.namespace}")
        assert "EXOCCM_EXISTING_NLB_NAMESPACES" in event["message"]
    _svc, own = converged(world, "own", {(82, "tcp")})
    assert own["id"] != handmade["id"]
    # A Service keeps managing the NLB exoccm made for it, id annotation and all.
    world.annotate("own", service_strategy="source-hash")
    world.wait_nlb(
        "own",
        lambda s, lb: nlb_services(lb)[(82, "tcp")]["strategy"] == "source-hash",
        what="the change to reach its own NLB",
    )
    assert nlb_writes_to(world, handmade["id"]) == 0


def test_a_zone_move_creates_first_then_retires_and_can_move_back(
    world: World, exoccm_factory: Factory
) -> None:
    home = world.pool("home")
    away = world.pool("away", zone=OTHER_ZONE)
    world.nodes(home)
    world.nodes(away)
    exoccm_factory()
    world.create_service("mover", [port(80)])
    first, old = converged(world, "mover")
    assert first["metadata"]["annotations"][key("service-instancepool-id")] == home.id

    world.annotate("mover", zone=OTHER_ZONE)
    moved, new = world.wait_nlb(
        "mover",
        lambda s, lb: lb["id"] != old["id"],
        zone=OTHER_ZONE,
        what="the NLB in the new zone",
    )
    assert ingress_ip(moved) == new["ip"]
    assert moved["metadata"]["annotations"][key("service-instancepool-id")] == away.id
    wait_for(lambda: world.load_balancer(old["id"]) is None, what="the old zone's NLB to go")
    assert world.reasons("mover").count("DeletedLoadBalancer") == 1
    assert [lb["id"] for lb in world.load_balancers(OTHER_ZONE)] == [new["id"]]

    world.annotate("mover", zone=world.zone)
    back, again = world.wait_nlb(
        "mover", lambda s, lb: lb["id"] not in (old["id"], new["id"]), what="the NLB back home"
    )
    assert back["metadata"]["annotations"][key("service-instancepool-id")] == home.id
    wait_for(lambda: not world.load_balancers(OTHER_ZONE), what="the other zone's NLB to go")
    assert [lb["id"] for lb in world.load_balancers()] == [again["id"]]


def test_a_zone_that_cannot_be_served_keeps_the_old_nlb(
    world: World, exoccm_factory: Factory
) -> None:
    home = world.pool("home")
    world.nodes(home)
    exoccm_factory()
    world.create_service("stays", [port(80)])
    _svc, old = converged(world, "stays")
    world.annotate("stays", zone=OTHER_ZONE)  # no Node of this cluster runs there
    event = world.wait_event("stays", "SyncLoadBalancerFailed", f"cannot move to zone {OTHER_ZONE}")
    assert old["id"] in event["message"]
    listed = world.sim.count("list-load-balancers")
    world.drift_passes_after(listed, passes=2)
    assert world.load_balancer(old["id"]) is not None, "the old NLB keeps serving"
    assert ingress_ip(world.must_service("stays")) == old["ip"]
    assert world.load_balancers(OTHER_ZONE) == []


def lease_events(world: World, reason: str) -> list[Obj]:
    with world.http() as client:
        response = client.get(
            EVENTS.path(world.namespace), params={"fieldSelector": f"reason={reason}"}
        )
    response.raise_for_status()
    return [e for e in response.json()["items"] if e["involvedObject"]["kind"] == "Lease"]


def strip_and_delete(world: World, name: str) -> None:
    world.patch_service(name, {"metadata": {"finalizers": None}})
    world.delete_service(name)
    world.wait_gone(name)


def test_the_collector_refuses_a_pass_that_would_delete_most_of_exoccms_nlbs(
    world: World, exoccm_factory: Factory
) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    process = exoccm_factory()
    for n in range(4):
        world.create_service(f"s{n}", [port(80 + n)])
    nlbs = [converged(world, f"s{n}", {(80 + n, "tcp")})[1] for n in range(4)]
    process.stop()
    for n in range(3):  # as if the cluster had been restored without them
        strip_and_delete(world, f"s{n}")

    process = exoccm_factory()
    listed = world.sim.count("list-load-balancers")
    world.drift_passes_after(listed, passes=4)
    assert world.sim.count("delete-load-balancer") == 0
    assert all(world.load_balancer(lb["id"]) is not None for lb in nlbs)
    event = wait_for(lambda: lease_events(world, "OrphanCollectionBlocked"), what="the Warning")[0]
    assert "3 of exoccm's 4 NLBs" in event["message"]
    assert re.search(r"^exoccm_orphan_collection_blocked 1\.0$", process.metrics(), re.M)
    process.stop()

    # With a higher share they go, two per pass at most.
    process = exoccm_factory(
        env={"EXOCCM_ORPHAN_MAX_SHARE": "1", "EXOCCM_ORPHAN_DELETE_LIMIT": "2"}
    )
    wait_for(
        lambda: world.sim.count("delete-load-balancer") == 3,
        timeout=90,
        what="the three orphans to be collected",
    )
    assert world.load_balancer(nlbs[3]["id"]) is not None, "the one still in use stays"
    with world.http() as client:
        items = client.get(SERVICES.path(world.namespace)).json()["items"]
    assert [s["metadata"]["name"] for s in items] == ["s3"]
