"""The seed story's traffic, end to end: HTTP requests to the NLB's IP reach the website Pods
through the simulator's data plane and the Nodes' kube-proxy stand-ins, health checks are
real, and a wrong port anywhere makes the traffic check fail.

The bare apiserver runs no scheduler, kubelet or EndpointSlice controller, so the Pods (Running,
with Pod IPs) and the EndpointSlice are written by hand; everything else is real: exoccm as a
process, the simulator as a process with its data plane, the stand-ins on loopback addresses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from exoscale.api.v2 import Client

from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.loopback import LoopbackBlocks, random_blocks
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.simprocess import API_KEY, API_SECRET, SimProcess
from exoccm.testing.traffic import TrafficControl, cluster_traffic
from tests.e2e.conftest import ZONE, wait_for
from tests.e2e.service_helpers import World, free_node_port
from tests.e2e.traffic_helpers import (
    INTERVAL,
    RETRIES,
    check_traffic,
    deploy_website,
    wait_connections,
)

Factory = Callable[..., ExoccmProcess]


@pytest.fixture
def blocks() -> LoopbackBlocks:
    return random_blocks()


@pytest.fixture
def simulator(tmp_path: Path, blocks: LoopbackBlocks) -> Iterator[SimProcess]:
    """The simulator with its data plane (overrides the plain one of tests/e2e/conftest.py)."""
    sim = SimProcess(tmp_path / "sim", latency=0.2, data_plane=True, networks=blocks.networks)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def world(clean_cluster: ControlPlane, simulator: SimProcess, namespace: str) -> World:
    return World(clean_cluster, simulator, namespace)


@pytest.fixture
def traffic(world: World, blocks: LoopbackBlocks) -> Iterator[TrafficControl]:
    with cluster_traffic(
        world.plane.kubeconfig, namespaces={world.namespace}, pod_network=blocks.pods
    ) as control:
        yield control


def test_the_website_answers_through_the_nlb_from_every_node(
    world: World, blocks: LoopbackBlocks, traffic: TrafficControl, exoccm_factory: Factory
) -> None:
    exoccm_factory()
    website = deploy_website(world, blocks, pods_on=[0, 0, 1])
    _, nlb = website.nlb()
    # The NLB probes the Nodes' ExternalIPs, and both pass.
    website.wait_statuses(dict.fromkeys(website.node_ips, "success"))

    served = check_traffic(nlb["ip"], requests=30)
    assert sum(served.values()) == 30
    assert len(served) >= 2, served  # at least two distinct Pods answered
    assert set(served) <= {website.served_by(pod) for pod in website.pods}
    # Both Nodes carried requests (round-robin across the pool's members).
    wait_for(
        lambda: sum(traffic.connections(n) for n in website.node_names) == 30,
        timeout=15,
        what="30 connections through the Nodes",
    )
    assert all(traffic.connections(node) >= 1 for node in website.node_names)


def test_a_node_whose_proxy_stops_is_reported_and_avoided_until_it_is_back(
    world: World, blocks: LoopbackBlocks, traffic: TrafficControl, exoccm_factory: Factory
) -> None:
    exoccm_factory()
    website = deploy_website(world, blocks, pods_on=[0, 1, 1])
    _, nlb = website.nlb()
    website.wait_statuses(dict.fromkeys(website.node_ips, "success"))
    (down, up), (down_ip, up_ip) = website.node_names, website.node_ips

    traffic.stop_proxy(down)
    # Reported within interval x (retries + 1) plus one interval.
    website.wait_statuses(
        {down_ip: "failure", up_ip: "success"}, timeout=INTERVAL * (RETRIES + 1) + INTERVAL
    )
    before = traffic.connections(up)
    served = check_traffic(nlb["ip"], requests=20)  # a request sent to `down` would fail
    assert sum(served.values()) == 20
    wait_connections(traffic, up, before + 20)

    traffic.start_proxy(down)
    website.wait_statuses(dict.fromkeys(website.node_ips, "success"))
    back = traffic.connections(down)
    check_traffic(nlb["ip"], requests=10)
    assert wait_connections(traffic, down, back + 1) > back


def test_local_traffic_policy_checks_the_health_port_and_spares_nodes_without_pods(
    world: World, blocks: LoopbackBlocks, traffic: TrafficControl, exoccm_factory: Factory
) -> None:
    exoccm_factory()
    website = deploy_website(
        world,
        blocks,
        pods_on=[0, 0],  # no Pod on the second Node
        externalTrafficPolicy="Local",
        # No health-check annotation: exoccm asks kube-proxy's health port over HTTP by itself,
        # since it answers 503 (and accepts TCP) on Nodes without local endpoints.
    )
    service, nlb = website.nlb()
    [nlb_service] = nlb["services"]
    assert nlb_service["healthcheck"]["port"] == service["spec"]["healthCheckNodePort"]
    assert nlb_service["healthcheck"]["mode"] == "http"
    assert nlb_service["target-port"] == service["spec"]["ports"][0]["nodePort"]
    with_pods, without = website.node_ips
    website.wait_statuses({with_pods: "success", without: "failure"})

    served = check_traffic(nlb["ip"], requests=20)
    assert set(served) == {website.served_by(pod) for pod in website.pods}
    wait_connections(traffic, website.node_names[0], 20)
    assert traffic.connections(website.node_names[1]) == 0
    assert traffic.health_requests(website.node_names[1]) >= 1  # it was asked, and said 503


def _handmade_nlb(sim: SimProcess, pool_id: str, target_port: int, health_port: int) -> str:
    """An NLB made with the official client: port 80 to ``target_port``, checked on
    ``health_port``; its IP."""
    client = Client(API_KEY, API_SECRET, url=f"{sim.url}/{ZONE}/v2")
    lb_id = client.wait(client.create_load_balancer(name="by-hand")["id"])["reference"]["id"]
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


def test_the_traffic_check_fails_on_a_wrong_target_or_health_check_port(
    world: World, blocks: LoopbackBlocks, traffic: TrafficControl
) -> None:
    """NLBs made by hand on the website's pool, without exoccm: the right mapping passes the
    traffic check; a wrong target port, or a wrong health-check port, makes it fail."""
    website = deploy_website(world, blocks, pods_on=[0, 1], service_type="NodePort")
    node_port = int(world.must_service("website")["spec"]["ports"][0]["nodePort"])
    unused = free_node_port(world.plane)
    sim = world.sim

    right = _handmade_nlb(sim, website.pool.id, node_port, node_port)
    _wait_checked(sim, right, "success")
    assert sum(check_traffic(right, requests=10).values()) == 10

    wrong_target = _handmade_nlb(sim, website.pool.id, unused, node_port)
    _wait_checked(sim, wrong_target, "success")  # healthy members, but nothing on the target
    with pytest.raises(AssertionError, match=f"request 1/10 to {wrong_target}:80 failed"):
        check_traffic(wrong_target, requests=10)

    wrong_health = _handmade_nlb(sim, website.pool.id, node_port, unused)
    _wait_checked(sim, wrong_health, "failure")  # no healthy member: connections are dropped
    with pytest.raises(AssertionError, match=f"request 1/10 to {wrong_health}:80 failed"):
        check_traffic(wrong_health, requests=10)
