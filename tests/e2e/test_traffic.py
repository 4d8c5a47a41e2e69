"""Traffic through the NLBs of the seed story's world, on the fuller control plane: health checks
are real, ``externalTrafficPolicy: Local`` spares Nodes without a local Pod, and a wrong port
anywhere makes the traffic check fail.

One world serves the module (the seed story converged: Pods from the Deployment, real
EndpointSlices, exoccm as a process, the simulator's data plane, the stand-ins); each test
leaves it as it found it. tests/e2e/test_seed_story.py checks the story itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from exoscale.api.v2 import Client

from exoccm.kube.resources import DEPLOYMENTS, SERVICES
from exoccm.testing.fullplane import FullControlPlane
from exoccm.testing.scenario import ZONE, website_deployment, website_service
from exoccm.testing.seedworld import SeedWorld
from exoccm.testing.simprocess import API_KEY, API_SECRET, SimProcess
from tests.e2e.conftest import wait_for
from tests.e2e.service_helpers import free_node_port
from tests.e2e.traffic_helpers import (
    INTERVAL,
    RETRIES,
    check_traffic,
    served_by,
    story_world,
    wait_connections,
)


@pytest.fixture(scope="module")
def world(
    full_control_plane: FullControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SeedWorld]:
    namespace = f"traffic-{uuid.uuid4().hex[:6]}"
    with story_world(full_control_plane, tmp_path_factory.mktemp("traffic"), namespace) as world:
        yield world


def test_a_node_whose_proxy_stops_is_reported_and_avoided_until_it_is_back(
    world: SeedWorld,
) -> None:
    traffic, ip = world.traffic, world.external_ip()
    assert ip is not None
    (down, up), (down_ip, up_ip) = world.node_names, world.instance_ips
    world.wait_statuses({down_ip: "success", up_ip: "success"})

    traffic.stop_proxy(down)
    try:
        # Reported within interval x (retries + 1) plus one interval.
        world.wait_statuses(
            {down_ip: "failure", up_ip: "success"}, timeout=INTERVAL * (RETRIES + 1) + INTERVAL
        )
        before_down, before_up = traffic.connections(down), traffic.connections(up)
        served = check_traffic(ip, requests=20)  # a request sent to `down` would fail
        assert sum(served.values()) == 20
        wait_connections(traffic, up, before_up + 20)
        assert traffic.connections(down) == before_down
    finally:
        traffic.start_proxy(down)

    world.wait_statuses({down_ip: "success", up_ip: "success"})
    back = traffic.connections(down)
    check_traffic(ip, requests=10)
    assert wait_connections(traffic, down, back + 1) > back


def _local_website(world: SeedWorld, node: str) -> str:
    """``website-local``: 2 replicas pinned to ``node``, behind a Service with
    ``externalTrafficPolicy: Local`` and no health-check annotation. Its name."""
    name = "website-local"
    deployment = website_deployment(name, replicas=2, node=node)
    service = website_service(world.zone, name, externalTrafficPolicy="Local")
    world.plane.apply(DEPLOYMENTS.path(world.namespace), deployment)
    world.plane.apply(SERVICES.path(world.namespace), service)
    return name


def test_local_traffic_policy_checks_the_health_port_and_spares_nodes_without_pods(
    world: SeedWorld,
) -> None:
    traffic = world.traffic
    (with_pods, without), (with_pods_ip, without_ip) = world.node_names, world.instance_ips
    name = _local_website(world, with_pods)
    try:
        pods = wait_for(
            lambda: len(found := world.pods(f"app={name}")) == 2 and found,
            timeout=90,
            what="2 local website Pods Running",
        )
        assert {pod["spec"]["nodeName"] for pod in pods} == {with_pods}
        wait_for(lambda: world.external_ip(name), what=f"{name}'s EXTERNAL-IP")
        service, nlb = world.service(name), world.nlb(name)
        assert service is not None
        assert nlb is not None
        (nlb_service,) = nlb["services"]
        # No health-check annotation: exoccm asks kube-proxy's health port over HTTP by itself,
        # since it answers 503 (and accepts TCP) on Nodes without local endpoints.
        assert nlb_service["healthcheck"]["port"] == service["spec"]["healthCheckNodePort"]
        assert nlb_service["healthcheck"]["mode"] == "http"
        assert nlb_service["target-port"] == service["spec"]["ports"][0]["nodePort"]
        world.wait_statuses({with_pods_ip: "success", without_ip: "failure"}, name)

        before_with, before_without = traffic.connections(with_pods), traffic.connections(without)
        served = check_traffic(nlb["ip"], requests=20)
        assert set(served) == {served_by(pod) for pod in pods}
        wait_connections(traffic, with_pods, before_with + 20)
        assert traffic.connections(without) == before_without
        assert traffic.health_requests(without) >= 1  # it was asked, and said 503
    finally:
        with world.plane.http() as client:
            client.delete(SERVICES.path(world.namespace, name))
            client.delete(DEPLOYMENTS.path(world.namespace, name))
        wait_for(lambda: world.service(name) is None, what=f"{name} to be deleted")


def _handmade_nlb(sim: SimProcess, pool_id: str, target_port: int, health_port: int) -> str:
    """An NLB made with the official client: port 80 to ``target_port``, checked over TCP on
    ``health_port`` every 5 s; its IP."""
    client = Client(API_KEY, API_SECRET, url=f"{sim.url}/{ZONE}/v2")
    created = client.create_load_balancer(name=f"by-hand-{target_port}-{health_port}")
    lb_id = client.wait(created["id"])["reference"]["id"]
    client.wait(
        client.add_service_to_load_balancer(
            id=lb_id,
            name="http",
            instance_pool={"id": pool_id},
            protocol="tcp",
            strategy="round-robin",
            port=80,
            target_port=target_port,
            healthcheck={"mode": "tcp", "port": health_port, "interval": 5, "timeout": 2},
        )["id"]
    )
    ip: str = client.get_load_balancer(id=lb_id)["ip"]
    return ip


def _wait_checked(sim: SimProcess, ip: str, status: str) -> None:
    def settled() -> Any:
        [lb] = [lb for lb in sim.load_balancers(ZONE) if lb["ip"] == ip]
        statuses = {s["status"] for s in lb["services"][0]["healthcheck-status"]}
        return statuses == {status}

    wait_for(settled, timeout=30, what=f"NLB {ip} members all {status}")


def test_the_traffic_check_fails_on_a_wrong_target_or_health_check_port(world: SeedWorld) -> None:
    """NLBs made by hand on the story's pool, standing in for an exoccm that maps ports wrong:
    the right mapping passes the traffic check; a wrong target port, or a wrong health-check
    port, makes it fail."""
    service = world.service()
    assert service is not None
    node_port = int(service["spec"]["ports"][0]["nodePort"])
    unused = free_node_port(world.plane)
    sim, pool = world.sim, world.seeded.pool["id"]

    right = _handmade_nlb(sim, pool, node_port, node_port)
    _wait_checked(sim, right, "success")
    assert sum(check_traffic(right, requests=10).values()) == 10

    wrong_target = _handmade_nlb(sim, pool, unused, node_port)
    _wait_checked(sim, wrong_target, "success")  # healthy members, but nothing on the target
    with pytest.raises(AssertionError, match=f"request 1/10 to {wrong_target}:80 failed"):
        check_traffic(wrong_target, requests=10)

    wrong_health = _handmade_nlb(sim, pool, node_port, unused)
    _wait_checked(sim, wrong_health, "failure")  # no healthy member: connections are dropped
    with pytest.raises(AssertionError, match=f"request 1/10 to {wrong_health}:80 failed"):
        check_traffic(wrong_health, requests=10)
