"""Every ``service.beta.kubernetes.io/exoscale-loadbalancer-*`` annotation, end to end.

Each annotation's value must reach the NLB (or drive the behaviour it names), a change on an
existing Service must be applied in place, and an invalid value must give a Warning Event that
names the annotation, the value and what is allowed, without any cloud write, while the other
Services of the cluster still converge. Names, defaults and meanings are those of Exoscale's
Go CCM (exoscale/exoscale-cloud-controller-manager, ``exoscale/loadbalancer.go``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from exoccm.kube.objects import Obj
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.simprocess import SimProcess
from tests.e2e.conftest import wait_for
from tests.e2e.service_helpers import (
    DEFAULT_HEALTHCHECK,
    OTHER_ZONE,
    World,
    ingress_ip,
    key,
    lb_annotations,
    nlb_services,
    node_ports,
    port,
)

Factory = Callable[..., ExoccmProcess]
WRITES_IN_PLACE = {
    "update-load-balancer",
    "reset-load-balancer-field",
    "update-load-balancer-service",
    "reset-load-balancer-service-field",
}


@pytest.fixture
def world(clean_cluster: ControlPlane, simulator: SimProcess, namespace: str) -> World:
    return World(clean_cluster, simulator, namespace)


def test_annotation_values_reach_the_nlb_and_changes_apply_in_place(
    world: World, exoccm_factory: Factory
) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    exoccm_factory()
    world.create_service(
        "nlb-meta", [port(80)], lb_annotations(name="shop", description="the shop")
    )
    world.create_service(
        "svc-meta",
        [port(80)],
        lb_annotations(service_name="front", service_description="front door"),
    )
    world.create_service("strategy", [port(80)], lb_annotations(service_strategy="source-hash"))
    world.create_service(
        "http-check",
        [port(80)],
        lb_annotations(
            service_healthcheck_mode="http",
            service_healthcheck_port="31000",
            service_healthcheck_uri="/healthz",
            service_healthcheck_interval="20s",
            service_healthcheck_timeout="7s",
            service_healthcheck_retries="3",
        ),
    )
    world.create_service(
        "https-check",
        [port(443)],
        lb_annotations(
            service_healthcheck_mode="https",
            service_healthcheck_tls_sni="shop.example.com",
            service_healthcheck_interval="15000ms",
        ),
    )
    uid = {name: world.must_service(name)["metadata"]["uid"] for name in ("nlb-meta", "svc-meta")}
    nodeport = {
        name: next(iter(node_ports(world.must_service(name)).values()))
        for name in ("strategy", "http-check", "https-check")
    }

    def single(name: str) -> tuple[Obj, Obj]:
        """The NLB of a one-port Service and its only NLB service."""
        _, nlb = world.wait_ports(name, [(443 if name == "https-check" else 80, "tcp")])
        return nlb, nlb["services"][0]

    nlb, svc = single("nlb-meta")
    assert (nlb["name"], nlb["description"]) == ("shop", "the shop")
    first_ids = {"nlb-meta": (nlb["id"], svc["id"])}
    nlb, svc = single("svc-meta")
    assert (svc["name"], svc["description"]) == ("front", "front door")
    assert nlb["name"] == f"k8s-{uid['svc-meta']}"
    first_ids["svc-meta"] = (nlb["id"], svc["id"])
    nlb, svc = single("strategy")
    assert svc["strategy"] == "source-hash"
    assert svc["healthcheck"] == {**DEFAULT_HEALTHCHECK, "port": nodeport["strategy"]}
    first_ids["strategy"] = (nlb["id"], svc["id"])
    nlb, svc = single("http-check")
    assert svc["healthcheck"] == {
        "mode": "http",
        "port": 31000,
        "uri": "/healthz",
        "interval": 20,
        "timeout": 7,
        "retries": 3,
    }
    first_ids["http-check"] = (nlb["id"], svc["id"])
    nlb, svc = single("https-check")
    assert svc["healthcheck"] == {
        "mode": "https",
        "port": nodeport["https-check"],
        "uri": "/",
        "tls-sni": "shop.example.com",
        "interval": 15,
        "timeout": 5,
        "retries": 1,
    }
    first_ids["https-check"] = (nlb["id"], svc["id"])

    def same_objects() -> None:
        for name, ids in first_ids.items():
            nlb, svc = single(name)
            assert (nlb["id"], svc["id"]) == ids, name

    # Change every value: each NLB (service) is updated in place, one write each.
    before = world.writes()
    world.annotate("nlb-meta", name="shop-2", description="the shop, renamed")
    world.annotate("svc-meta", service_name="front-2", service_description="new door")
    world.annotate("strategy", service_strategy="maglev-hash")
    world.annotate(
        "http-check",
        service_healthcheck_port="31001",
        service_healthcheck_uri="/ready",
        service_healthcheck_interval="0.5m",
        service_healthcheck_timeout="10s",
        service_healthcheck_retries="5",
    )
    world.annotate("https-check", service_healthcheck_tls_sni="www.example.com")
    world.wait_nlb("nlb-meta", lambda _, lb: lb["name"] == "shop-2")
    nlb, _ = single("nlb-meta")
    assert nlb["description"] == "the shop, renamed"
    world.wait_nlb("svc-meta", lambda _, lb: lb["services"][0]["name"] == "front-2")
    assert single("svc-meta")[1]["description"] == "new door"
    world.wait_nlb("strategy", lambda _, lb: lb["services"][0]["strategy"] == "maglev-hash")
    world.wait_nlb("http-check", lambda _, lb: lb["services"][0]["healthcheck"]["port"] == 31001)
    assert single("http-check")[1]["healthcheck"] == {
        "mode": "http",
        "port": 31001,
        "uri": "/ready",
        "interval": 30,
        "timeout": 10,
        "retries": 5,
    }
    world.wait_nlb(
        "https-check",
        lambda _, lb: lb["services"][0]["healthcheck"]["tls-sni"] == "www.example.com",
    )
    same_objects()
    assert world.writes_since(before) == {
        "update-load-balancer": 1,
        "update-load-balancer-service": 4,
    }

    # Remove values or switch modes: back to the defaults, still in place.
    before = world.writes()
    world.annotate("nlb-meta", name=None, description=None)
    world.annotate("svc-meta", service_name=None, service_description=None)
    world.annotate("strategy", service_strategy=None)
    world.annotate(
        "http-check",
        service_healthcheck_mode=None,
        service_healthcheck_uri=None,
        service_healthcheck_port=None,
    )
    world.annotate("https-check", service_healthcheck_mode="http", service_healthcheck_tls_sni=None)
    nlb, _ = world.wait_nlb("nlb-meta", lambda _, lb: lb["name"] == f"k8s-{uid['nlb-meta']}")
    world.wait_nlb("nlb-meta", lambda _, lb: "description" not in lb)
    world.wait_nlb(
        "svc-meta",
        lambda _, lb: (
            lb["services"][0]["name"] == f"{uid['svc-meta']}-80"
            and "description" not in lb["services"][0]
        ),
    )
    world.wait_nlb("strategy", lambda _, lb: lb["services"][0]["strategy"] == "round-robin")
    world.wait_nlb("http-check", lambda _, lb: lb["services"][0]["healthcheck"]["mode"] == "tcp")
    hc = single("http-check")[1]["healthcheck"]
    assert (hc["port"], hc["interval"], hc["timeout"], hc["retries"]) == (
        nodeport["http-check"],
        30,
        10,
        5,
    )
    world.wait_nlb("https-check", lambda _, lb: lb["services"][0]["healthcheck"]["mode"] == "http")
    assert single("https-check")[1]["healthcheck"]["uri"] == "/"
    same_objects()
    assert set(world.writes_since(before)) <= WRITES_IN_PLACE

    # Converged: the drift passes that follow find nothing to write.
    before = world.writes()
    world.drift_passes_after(world.sim.count("list-load-balancers"))
    assert world.writes_since(before) == {}


UUID = "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"
CONTROL = "must not contain control characters such as line breaks, tabs or NUL; found"
BLANK = "must not be blank: give 1 to 255 characters, not only whitespace"
DIGITS = "written with the digits 0-9 only (no sign, spaces, separators or exponent)"
GO_DURATION = "must be a Go duration such as 10s, 1m or 1m30s"
# (suffix, value, what the message must say is allowed), one Service each.
INVALID = [
    ("id", "nlb-1", "must be a UUID"),
    ("id", UUID + "\n", "must be a UUID"),
    ("name", "n" * 256, "must be 1 to 255 characters long, not 256"),
    ("name", "web\x00", f"{CONTROL} U+0000 at character 4"),
    ("description", "d" * 256, "must be 0 to 255 characters long"),
    ("external", "yes", 'must be "true" or "false"'),
    ("external", " TRUE ", 'must be "true" or "false" (any letter case, without spaces)'),
    ("service-name", "", BLANK),
    ("service-name", "   ", BLANK),
    ("service-description", "d" * 256, "must be 0 to 255 characters long"),
    ("service-instancepool-id", "workers", "must be a UUID"),
    (
        "service-sks-nodepool-name",
        "workers",
        f"needs the SKS cluster name too: set {key('sks-cluster-name')}",
    ),
    ("sks-cluster-name", "", BLANK),
    (
        "service-strategy",
        "least-connections",
        "must be one of round-robin, source-hash, maglev-hash",
    ),
    ("service-healthcheck-mode", "udp", "must be one of tcp, http, https"),
    ("service-healthcheck-port", "70000", "must be from 1 to 65535"),
    ("service-healthcheck-port", "http", f"must be an integer from 1 to 65535, {DIGITS}"),
    ("service-healthcheck-uri", "healthz", 'must be a path starting with "/"'),
    ("service-healthcheck-uri", "/healthz\r\nX-Injected: 1", f"{CONTROL} U+000D at character 9"),
    ("service-healthcheck-interval", "2s", "must be from 5s to 5m"),
    ("service-healthcheck-interval", "10 seconds", f"{GO_DURATION} (5s to 5m)"),
    ("service-healthcheck-interval", "1e1", f"{GO_DURATION} (5s to 5m)"),
    (
        "service-healthcheck-interval",
        "10",
        'needs a unit, as every Go duration does: use "10s" for seconds (5s to 5m)',
    ),
    ("service-healthcheck-timeout", "61s", "must be from 2s to 1m"),
    (
        "service-healthcheck-timeout",
        "15s",
        "the health-check timeout (15s) must not exceed the interval (10s)",
    ),
    ("service-healthcheck-timeout", "2.5s", "must be a whole number of seconds"),
    ("service-healthcheck-retries", "0", "must be from 1 to 20"),
    ("service-healthcheck-retries", "many", f"must be an integer from 1 to 20, {DIGITS}"),
    ("service-healthcheck-retries", "1_0", f"must be an integer from 1 to 20, {DIGITS}"),
    ("service-healthcheck-retries", "\u0661\u0660", f"must be an integer from 1 to 20, {DIGITS}"),
    (
        "service-healthcheck-tls-sni",
        "shop.example.com",
        "only applies to https health checks, but the mode is tcp",
    ),
    ("zone", "mars-1", "unknown zone; must be one of at-vie-1"),
]
# How a value appears in the message when it is not shown as it is: control characters escaped,
# a long value cut short.
SHOWN = {
    UUID + "\n": f'"{UUID}\\n"',
    "n" * 256: '"' + "n" * 48 + '..." (256 characters)',
    "d" * 256: '"' + "d" * 48 + '..." (256 characters)',
    "web\x00": '"web\\x00"',
    "/healthz\r\nX-Injected: 1": '"/healthz\\r\\nX-Injected: 1"',
}
EXTRA = {  # what else a case needs to be invalid for that one reason only
    "service-healthcheck-uri": lb_annotations(service_healthcheck_mode="http"),
}


def test_invalid_annotations_are_refused_without_cloud_writes(
    world: World, exoccm_factory: Factory
) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    exoccm_factory()
    for i, (suffix, value, _) in enumerate(INVALID):
        world.create_service(f"bad-{i}", [port(80)], {key(suffix): value, **EXTRA.get(suffix, {})})
    world.create_service(
        "doubly-bad",
        [port(80)],
        lb_annotations(service_strategy="fastest", service_healthcheck_retries="99"),
    )
    world.create_service("good", [port(80)])

    for i, (suffix, value, allowed) in enumerate(INVALID):
        event = world.wait_event(f"bad-{i}", "SyncLoadBalancerFailed")
        assert event["type"] == "Warning"
        shown = SHOWN.get(value, f'"{value}"')
        expected = f"Error syncing load balancer: annotation {key(suffix)}={shown}: {allowed}"
        assert event["message"].startswith(expected), event["message"]
    # Every problem of a Service is reported at once.
    event = world.wait_event("doubly-bad", "SyncLoadBalancerFailed")
    assert key("service-strategy") + '="fastest"' in event["message"]
    assert key("service-healthcheck-retries") + '="99": must be from 1 to 20' in event["message"]

    _, nlb = world.wait_ports("good", [(80, "tcp")])
    assert world.writes() == {"create-load-balancer": 1, "add-service-to-load-balancer": 1}

    # An invalid change to a converged Service: Warning, the NLB left as it is, no write.
    before = world.writes()
    world.annotate("good", service_strategy="fastest")
    event = world.wait_event("good", "SyncLoadBalancerFailed", '="fastest"')
    assert event["message"] == (
        f'Error syncing load balancer: annotation {key("service-strategy")}="fastest": '
        "must be one of round-robin, source-hash, maglev-hash"
    )
    # Re-checked by the drift passes (the Event's count grows), still without any write.
    world.wait_event("good", "SyncLoadBalancerFailed", '="fastest"', min_count=2)
    world.wait_event("bad-0", "SyncLoadBalancerFailed", min_count=2)
    assert world.writes_since(before) == {}
    assert world.load_balancers() == [nlb]
    assert all(world.nlb_of(f"bad-{i}") is None for i in range(len(INVALID)))

    # Fixed: applied in place.
    world.annotate("good", service_strategy="source-hash")
    _, fixed = world.wait_nlb("good", lambda _, lb: lb["services"][0]["strategy"] == "source-hash")
    assert fixed["services"][0]["id"] == nlb["services"][0]["id"]
    assert world.writes_since(before) == {"update-load-balancer-service": 1}

    # A bad annotation never blocks deletion: the NLB goes with the Service.
    world.annotate("good", service_healthcheck_retries="0")
    world.wait_event("good", "SyncLoadBalancerFailed", '="0"')
    world.delete_service("good")
    world.wait_gone("good")
    assert world.load_balancers() == []


def test_target_pool_annotations(world: World, exoccm_factory: Factory) -> None:
    front = world.pool("front")
    back = world.pool("back")
    world.nodes(front)
    world.nodes(back)  # two pools among the Nodes: inference alone would refuse
    world.sim.call(
        "add_sks_cluster",
        zone=world.zone,
        name="prod",
        nodepools=[
            {"name": "Frontend", "instance_pool_id": front.id},
            {"name": "backend", "instance_pool_id": back.id},
        ],
    )
    exoccm_factory()
    world.create_service("pinned", [port(80)], lb_annotations(service_instancepool_id=front.id))
    world.create_service(
        "sks",
        [port(80), port(443)],
        lb_annotations(sks_cluster_name="prod", service_sks_nodepool_name="frontend"),
    )
    world.create_service(
        "no-cluster",
        [port(80)],
        lb_annotations(sks_cluster_name="staging", service_sks_nodepool_name="frontend"),
    )
    world.create_service(
        "no-nodepool",
        [port(80)],
        lb_annotations(sks_cluster_name="prod", service_sks_nodepool_name="db"),
    )
    world.create_service(
        "no-pool",
        [port(80)],
        lb_annotations(service_instancepool_id="0d9d0f1c-2b3a-4c5d-8e6f-000000000000"),
    )

    def pools_of(nlb: Obj) -> set[str]:
        return {s["instance-pool"]["id"] for s in nlb["services"]}

    svc, pinned = world.wait_ports("pinned", [(80, "tcp")])
    assert pools_of(pinned) == {front.id}
    svc, sks = world.wait_ports("sks", [(80, "tcp"), (443, "tcp")])
    assert pools_of(sks) == {front.id}  # node pool names are case-insensitive
    assert svc["metadata"]["annotations"][key("service-instancepool-id")] == front.id

    event = world.wait_event("no-cluster", "SyncLoadBalancerFailed", "'staging'")
    assert f"{key('sks-cluster-name')}) was not found in zone {world.zone}" in event["message"]
    event = world.wait_event("no-nodepool", "SyncLoadBalancerFailed", "'db'")
    assert event["message"] == (
        "Error syncing load balancer: SKS cluster 'prod' has no node pool named 'db' "
        f"(annotation {key('service-sks-nodepool-name')}); its node pools: Frontend, backend"
    )
    event = world.wait_event(
        "no-pool", "SyncLoadBalancerFailed", "0d9d0f1c-2b3a-4c5d-8e6f-000000000000"
    )
    assert f"does not exist in zone {world.zone}" in event["message"]
    assert world.writes() == {"create-load-balancer": 2, "add-service-to-load-balancer": 3}

    # Another pool: the NLB services are re-created on it (the API cannot move them).
    before = world.writes()
    world.annotate("pinned", service_instancepool_id=back.id)
    world.annotate("sks", service_sks_nodepool_name="BACKEND")
    _, moved = world.wait_nlb("pinned", lambda _, lb: pools_of(lb) == {back.id})
    assert moved["id"] == pinned["id"]
    assert moved["services"][0]["id"] != pinned["services"][0]["id"]
    svc, moved = world.wait_nlb(
        "sks",
        lambda svc, lb: (
            pools_of(lb) == {back.id}
            and len(lb["services"]) == 2
            and svc["metadata"]["annotations"][key("service-instancepool-id")] == back.id
        ),
        what="both NLB services of sks on the back pool, and the pool written back",
    )
    assert set(nlb_services(moved)) == {(80, "tcp"), (443, "tcp")}
    assert moved["id"] == sks["id"]
    assert svc["metadata"]["annotations"][key("service-instancepool-id")] == back.id
    for name in ("pinned", "sks"):
        event = world.wait_event(name, "UpdatedLoadBalancer")
        assert (event["type"], event["message"]) == (
            "Normal",
            "Updated load balancer with new hosts",
        )
    assert world.writes_since(before) == {
        "delete-load-balancer-service": 3,
        "add-service-to-load-balancer": 3,
    }


def test_zone_annotation(world: World, exoccm_factory: Factory) -> None:
    here = world.pool("muc")
    there = world.pool("gva", zone=OTHER_ZONE)
    world.nodes(here)
    world.nodes(there)
    exoccm_factory()  # default zone: world.zone
    world.create_service("local", [port(80)])
    world.create_service("remote", [port(80)], lb_annotations(zone=OTHER_ZONE))
    world.create_service(
        "cross", [port(80)], lb_annotations(zone=OTHER_ZONE, service_instancepool_id=here.id)
    )

    # Two Services in two zones coexist, each NLB in its zone on that zone's pool (inferred).
    _, local_nlb = world.wait_ports("local", [(80, "tcp")])
    assert local_nlb["services"][0]["instance-pool"]["id"] == here.id
    svc, remote_nlb = world.wait_ports("remote", [(80, "tcp")], zone=OTHER_ZONE)
    assert remote_nlb["services"][0]["instance-pool"]["id"] == there.id
    assert svc["metadata"]["annotations"][key("service-instancepool-id")] == there.id
    assert ingress_ip(svc) == remote_nlb["ip"]
    assert [lb["id"] for lb in world.load_balancers()] == [local_nlb["id"]]
    assert [lb["id"] for lb in world.load_balancers(OTHER_ZONE)] == [remote_nlb["id"]]

    # A pool of another zone cannot be targeted.
    event = world.wait_event("cross", "SyncLoadBalancerFailed", here.id)
    assert event["message"] == (
        f"Error syncing load balancer: Instance Pool {here.id} (annotation "
        f"{key('service-instancepool-id')}) does not exist in zone {OTHER_ZONE}; an NLB can only "
        f"target a pool of its own zone: set {key('zone')} to the pool's zone, fix the ID, or "
        "remove the annotation to let exoccm infer the pool from the Nodes again (exoccm writes "
        "the inferred pool there, so it goes stale when a Service moves to another zone)"
    )

    # Moving "local" to the other zone: the pool exoccm inferred and wrote back is this zone's,
    # which does not hold the move up: it is inferred again there, the new NLB made, the status
    # moved to it, and only then the old NLB deleted.
    world.annotate("local", zone=OTHER_ZONE)
    svc, moved = world.wait_nlb(
        "local", lambda _, lb: lb["id"] != local_nlb["id"], zone=OTHER_ZONE, what="local's new NLB"
    )
    assert moved["services"][0]["instance-pool"]["id"] == there.id
    assert svc["metadata"]["annotations"][key("service-instancepool-id")] == there.id
    assert moved["name"] == local_nlb["name"]
    assert ingress_ip(svc) == moved["ip"]
    wait_for(lambda: world.load_balancers() == [], what="the old NLB to be deleted")
    assert {lb["id"] for lb in world.load_balancers(OTHER_ZONE)} == {moved["id"], remote_nlb["id"]}
    assert world.writes()["delete-load-balancer"] == 1
