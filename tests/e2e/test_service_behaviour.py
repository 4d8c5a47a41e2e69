"""The service controller end to end: ports, pools, external NLBs, deletion, scope, Events, status.

exoccm runs as a process against the real apiserver and the simulator (see ``conftest.py``);
each test starts one exoccm and usually exercises several Services at once. The behaviours are
those of Exoscale's Go CCM (mapping, pool selection, status, updates, deletion, external NLBs)
and the upstream service controller's contract (k8s.io/cloud-provider's finalizer and type
changes).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.simprocess import SimProcess
from tests.e2e.conftest import wait_for
from tests.e2e.service_helpers import (
    DEFAULT_HEALTHCHECK,
    EXCLUDE_LABEL,
    FINALIZER,
    World,
    cached_nodes,
    free_node_port,
    ingress_ip,
    key,
    lb_annotations,
    nlb_services,
    node_ports,
    port,
    reconciles,
)

Factory = Callable[..., ExoccmProcess]
# The node controllers make Exoscale calls of their own; tests that count calls leave them off.
SERVICE_CONTROLLER_ONLY = {"EXOCCM_CONTROLLERS": "service"}


@pytest.fixture
def world(clean_cluster: ControlPlane, simulator: SimProcess, namespace: str) -> World:
    return World(clean_cluster, simulator, namespace)


def test_every_port_becomes_one_nlb_service(world: World, exoccm_factory: Factory) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    exoccm_factory()
    web = world.create_service("web", [port(80), port(443)])
    dns = world.create_service(
        "dns", [port(53), port(53, "UDP")], lb_annotations(service_healthcheck_port="32123")
    )
    local = world.create_service("local", [port(8080)], externalTrafficPolicy="Local")
    named = world.create_service(
        "named",
        [port(80), port(81)],
        lb_annotations(service_name="custom", service_description="custom description"),
    )

    # Two TCP ports: one NLB service each, named <uid>-<port>, on the NodePort.
    uid = web["metadata"]["uid"]
    svc, nlb = world.wait_ports("web", [(80, "tcp"), (443, "tcp")])
    assert nlb["name"] == f"k8s-{uid}"
    assert "description" not in nlb
    assert svc["metadata"]["annotations"][key("id")] == nlb["id"]
    assert svc["metadata"]["annotations"][key("service-instancepool-id")] == pool.id
    assert svc["status"]["loadBalancer"]["ingress"] == [{"ip": nlb["ip"], "ipMode": "VIP"}]
    assert FINALIZER in svc["metadata"]["finalizers"]
    ports = node_ports(web)
    for (number, protocol), nlb_service in nlb_services(nlb).items():
        node_port = ports[(number, protocol)]
        assert nlb_service["name"] == f"{uid}-{number}"
        assert "description" not in nlb_service
        assert nlb_service["target-port"] == node_port
        assert nlb_service["strategy"] == "round-robin"
        assert nlb_service["instance-pool"]["id"] == pool.id
        assert nlb_service["healthcheck"] == {**DEFAULT_HEALTHCHECK, "port": node_port}

    # The same port over TCP and UDP: two NLB services, "-udp" appended, the annotated hc port.
    uid = dns["metadata"]["uid"]
    _, nlb = world.wait_ports("dns", [(53, "tcp"), (53, "udp")])
    by_key = nlb_services(nlb)
    assert by_key[(53, "tcp")]["name"] == f"{uid}-53"
    assert by_key[(53, "udp")]["name"] == f"{uid}-53-udp"
    ports = node_ports(dns)
    for protocol in ("tcp", "udp"):
        assert by_key[(53, protocol)]["target-port"] == ports[(53, protocol)]
        assert by_key[(53, protocol)]["healthcheck"] == {**DEFAULT_HEALTHCHECK, "port": 32123}

    # externalTrafficPolicy: Local checks kube-proxy's healthCheckNodePort, over HTTP: kube-proxy
    # accepts TCP there on every Node, but answers 503 where the Service has no local endpoint.
    assert local["spec"]["healthCheckNodePort"]
    _, nlb = world.wait_ports("local", [(8080, "tcp")])
    [only] = nlb["services"]
    assert only["target-port"] == node_ports(local)[(8080, "tcp")]
    assert only["healthcheck"]["port"] == local["spec"]["healthCheckNodePort"]
    assert only["healthcheck"]["mode"] == "http"
    assert only["healthcheck"]["uri"] == "/healthz"

    # service-name / service-description need exactly one port: ignored, with a Warning each.
    uid = named["metadata"]["uid"]
    _, nlb = world.wait_ports("named", [(80, "tcp"), (81, "tcp")])
    assert {s["name"] for s in nlb["services"]} == {f"{uid}-80", f"{uid}-81"}
    assert all("description" not in s for s in nlb["services"])
    for suffix in ("service-name", "service-description"):
        event = world.wait_event("named", "IgnoredAnnotation", key(suffix), "2 ports")
        assert event["type"] == "Warning"

    # Change a NodePort, remove a port and add one, in one edit of "web".
    _, nlb = world.wait_ports("web", [(80, "tcp"), (443, "tcp")])
    kept_id = nlb_services(nlb)[(80, "tcp")]["id"]
    new_node_port = free_node_port(world.plane)
    before = world.writes()
    web = world.set_ports("web", [port(80, node_port=new_node_port), port(8443)])
    uid = web["metadata"]["uid"]
    _, nlb_after = world.wait_nlb(
        "web",
        lambda _, lb: (
            set(nlb_services(lb)) == {(80, "tcp"), (8443, "tcp")}
            and nlb_services(lb)[(80, "tcp")]["target-port"] == new_node_port
        ),
        what="web's ports to follow the edit",
    )
    assert nlb_after["id"] == nlb["id"]
    by_key = nlb_services(nlb_after)
    assert by_key[(80, "tcp")]["id"] == kept_id  # updated in place
    assert by_key[(80, "tcp")]["healthcheck"]["port"] == new_node_port
    assert by_key[(8443, "tcp")]["name"] == f"{uid}-8443"
    assert by_key[(8443, "tcp")]["target-port"] == node_ports(web)[(8443, "tcp")]
    assert world.writes_since(before) == {
        "update-load-balancer-service": 1,
        "delete-load-balancer-service": 1,
        "add-service-to-load-balancer": 1,
    }

    # Back to externalTrafficPolicy: Cluster, "local" checks its NodePort again, in place.
    _, nlb = world.wait_ports("local", [(8080, "tcp")])
    local = world.patch_service("local", {"spec": {"externalTrafficPolicy": "Cluster"}})
    assert "healthCheckNodePort" not in local["spec"]
    _, nlb_after = world.wait_nlb(
        "local",
        lambda _, lb: lb["services"][0]["healthcheck"]["port"] == node_ports(local)[(8080, "tcp")],
        what="local's health check back on its NodePort",
    )
    assert nlb_after["services"][0]["id"] == nlb["services"][0]["id"]

    # Down to one port, "named" now honours service-name and service-description, in place.
    _, nlb = world.wait_ports("named", [(80, "tcp"), (81, "tcp")])
    kept_id = nlb_services(nlb)[(80, "tcp")]["id"]
    world.set_ports("named", [port(80)])
    _, nlb = world.wait_nlb(
        "named",
        lambda _, lb: [s["name"] for s in lb["services"]] == ["custom"],
        what="named's only NLB service to take the annotated name",
    )
    [only] = nlb["services"]
    assert only["id"] == kept_id
    assert only["description"] == "custom description"


def test_target_pool_is_inferred_from_eligible_nodes(world: World, exoccm_factory: Factory) -> None:
    main = world.pool("main")
    other = world.pool("other")
    lone = world.standalone_instance("bastion")
    # Without the lifecycle controller, which would delete the Node of the unknown instance.
    process = exoccm_factory(env=SERVICE_CONTROLLER_ONLY)

    # No Node at all: nothing to infer from, so no cloud write and a clear error.
    world.create_service("early")
    event = world.wait_event("early", "SyncLoadBalancerFailed", "couldn't infer any Instance Pool")
    assert event["type"] == "Warning"
    assert key("service-instancepool-id") in event["message"]
    assert world.writes() == {}

    # Eligible Nodes on "main" (one known only by its systemUUID), a Node outside any pool,
    # a Node whose instance Exoscale does not know, and an excluded Node on "other".
    world.node(main.instances[0])
    world.node(main.instances[1], provider_id=False)
    world.node(lone)
    world.node(
        {"name": "hybrid", "id": "00000000-0000-4000-8000-00000000beef", "public-ip": "192.0.2.7"}
    )
    world.node(other.instances[0], labels={EXCLUDE_LABEL: "true"})
    svc, nlb = world.wait_ports("early", [(80, "tcp")])
    assert svc["metadata"]["annotations"][key("service-instancepool-id")] == main.id
    assert nlb["services"][0]["instance-pool"]["id"] == main.id

    # A second pool among the eligible Nodes: a new Service must name its pool.
    world.node(other.instances[1])
    wait_for(lambda: cached_nodes(process) == 6, what="exoccm to see the sixth Node")
    world.create_service("late")
    event = world.wait_event(
        "late", "SyncLoadBalancerFailed", "multiple Instance Pools detected", main.id, other.id
    )
    assert key("service-instancepool-id") in event["message"]
    assert world.writes() == {"create-load-balancer": 1, "add-service-to-load-balancer": 1}
    world.annotate("late", service_instancepool_id=other.id)
    svc, nlb = world.wait_ports("late", [(80, "tcp")])
    assert nlb["services"][0]["instance-pool"]["id"] == other.id
    assert svc["metadata"]["annotations"][key("service-instancepool-id")] == other.id

    # The pool written back into "early" keeps it where it was.
    _, nlb = world.wait_ports("early", [(80, "tcp")])
    assert nlb["services"][0]["instance-pool"]["id"] == main.id


def test_out_of_scope_and_refused_services(world: World, exoccm_factory: Factory) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    exoccm_factory(env=SERVICE_CONTROLLER_ONLY)  # every Exoscale call is then the LB side's
    world.create_service("nodeport", [port(80)], type="NodePort")
    world.create_service("clusterip", [port(80)], type="ClusterIP")
    world.create_service("classed", [port(80)], loadBalancerClass="example.com/other-lb")
    world.create_service("no-node-ports", [port(80)], allocateLoadBalancerNodePorts=False)
    world.create_service("sctp", [port(80), port(9999, "SCTP")])
    world.create_service("too-many", [port(8000 + i) for i in range(11)])

    refused = {
        "no-node-ports": "spec.allocateLoadBalancerNodePorts is false, but Exoscale NLBs forward "
        "to NodePorts: remove the field or set it to true",
        "sctp": "port sctp-9999 uses SCTP; Exoscale NLBs support only TCP and UDP",
        "too-many": "the Service has 11 ports, but an Exoscale NLB holds at most 10 services: "
        "split it into several Services",
    }
    for name, message in refused.items():
        event = world.wait_event(name, "SyncLoadBalancerFailed")
        assert event["type"] == "Warning"
        assert event["message"] == f"Error syncing load balancer: {message}"
    # Refusing costs no cloud call (a drift pass may have listed the zone's NLBs meanwhile).
    assert set(world.operations()) <= {"list-load-balancers"}

    world.create_service("plain", [port(80)])
    _, nlb = world.wait_ports("plain", [(80, "tcp")])

    # Let two drift passes re-queue everything, then look again.
    world.drift_passes_after(world.sim.count("list-load-balancers"))
    assert [lb["id"] for lb in world.load_balancers()] == [nlb["id"]]
    assert world.writes() == {"create-load-balancer": 1, "add-service-to-load-balancer": 1}
    for name in ("nodeport", "clusterip", "classed", *refused):
        svc = world.must_service(name)
        assert FINALIZER not in (svc["metadata"].get("finalizers") or []), name
        assert ingress_ip(svc) is None, name
        assert key("id") not in (svc["metadata"].get("annotations") or {}), name
    for name in ("nodeport", "clusterip", "classed"):
        assert world.events(name) == [], name
    # A refused Service is told again on each pass, as one Event whose count grows.
    world.wait_event("too-many", "SyncLoadBalancerFailed", "11 ports", min_count=2)
    assert world.reasons("too-many") == ["SyncLoadBalancerFailed"]


def test_converged_services_cost_no_cloud_call(world: World, exoccm_factory: Factory) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    world.sim.call(
        "add_sks_cluster",
        zone=world.zone,
        name="prod",
        nodepools=[{"name": "workers", "instance_pool_id": pool.id}],
    )
    process = exoccm_factory(env={**SERVICE_CONTROLLER_ONLY, "EXOCCM_DRIFT_PERIOD": "1h"})
    pinned = lb_annotations(service_instancepool_id=pool.id)
    world.create_service("one", [port(80)], pinned)
    world.create_service(
        "two",
        [port(80), port(53, "UDP")],
        {**pinned, **lb_annotations(service_healthcheck_port="30053")},
    )
    world.create_service(
        "three",
        [port(443)],
        lb_annotations(sks_cluster_name="prod", service_sks_nodepool_name="workers"),
    )
    world.wait_ports("one", [(80, "tcp")])
    world.wait_ports("two", [(80, "tcp"), (53, "udp")])
    world.wait_ports("three", [(443, "tcp")])

    calls = len(world.operations())
    names = ("one", "two", "three")

    def touch(round_: int) -> dict[str, str]:
        """An edit exoccm must look at but that changes nothing it manages."""
        versions = {}
        for name in names:
            touched = world.patch_service(name, {"metadata": {"labels": {"touched": str(round_)}}})
            versions[name] = touched["metadata"]["resourceVersion"]
        return versions

    def wait_reconciles(after: float, count: int) -> None:
        wait_for(lambda: reconciles(process) >= after + count, what=f"{count} more reconciles")

    done = reconciles(process)
    touch(1)
    wait_reconciles(done, len(names))
    done = reconciles(process)
    world.node(pool.instances[0])  # node churn inside the same pool
    wait_reconciles(done, len(names))
    done = reconciles(process)
    versions = touch(2)
    wait_reconciles(done, len(names))

    assert world.operations()[calls:] == []
    # Nothing was written back either: status and annotations are patched only on change.
    for name in names:
        svc = world.must_service(name)
        assert svc["metadata"]["resourceVersion"] == versions[name], name
        assert svc["status"]["loadBalancer"]["ingress"][0]["ipMode"] == "VIP"


def test_drift_is_repaired(world: World, exoccm_factory: Factory) -> None:
    pool = world.pool("workers")
    world.nodes(pool)
    exoccm_factory()
    created = world.create_service("drifty", [port(80)])
    uid = created["metadata"]["uid"]
    svc, nlb = world.wait_ports("drifty", [(80, "tcp")])
    [nlb_service] = nlb["services"]

    # Hand edits in the console are reverted by the next drift pass.
    world.sim.call(
        "edit_load_balancer", zone=world.zone, lb_id=nlb["id"], fields={"name": "hijacked"}
    )
    world.sim.call(
        "edit_load_balancer_service",
        zone=world.zone,
        lb_id=nlb["id"],
        service_id=nlb_service["id"],
        fields={"strategy": "source-hash", "healthcheck": {"interval": 30}},
    )
    _, repaired = world.wait_nlb(
        "drifty",
        lambda _, lb: (
            lb["name"] == f"k8s-{uid}"
            and lb["services"][0]["strategy"] == "round-robin"
            and lb["services"][0]["healthcheck"]["interval"] == 10
        ),
        what="the hand edits to be reverted",
    )
    assert repaired["id"] == nlb["id"]
    assert repaired["services"][0]["id"] == nlb_service["id"]

    # An NLB deleted by hand comes back; the Service follows its new address.
    world.sim.call("delete_load_balancer_out_of_band", zone=world.zone, lb_id=nlb["id"])
    svc, reborn = world.wait_nlb(
        "drifty", lambda _, lb: lb["id"] != nlb["id"], what="a new NLB for drifty"
    )
    assert reborn["name"] == f"k8s-{uid}"
    assert svc["metadata"]["annotations"][key("id")] == reborn["id"]
    assert svc["status"]["loadBalancer"]["ingress"] == [{"ip": reborn["ip"], "ipMode": "VIP"}]
    assert reborn["ip"] != nlb["ip"]
