"""Traffic through NLBs in the end-to-end tests: the website world and the traffic check.

The check is the end-to-end proof the issue asks for: real HTTP requests to the NLB's IP, each
through the simulator's data plane, a Node's kube-proxy stand-in and a website Pod stand-in.
A wrong target port or health-check port anywhere on that path makes it fail.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from exoccm.testing.loopback import LoopbackBlocks
from exoccm.testing.pods import RunningPod, create_running_pod, publish_endpoints
from exoccm.testing.traffic import TrafficControl
from tests.e2e.conftest import wait_for
from tests.e2e.service_helpers import Pool, World, lb_annotations, nlb_services

WELCOME = "Welcome to Hello Corp\n"
# Checks every 5 s (the API's minimum), so a failure shows within 5 x (1 + 1) + 5 = 15 s.
HEALTHCHECK = {"service_healthcheck_interval": "5s", "service_healthcheck_timeout": "2s"}
INTERVAL, RETRIES = 5, 1
HTTP_PORT = {"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}


def check_traffic(ip: str, port: int = 80, requests: int = 30) -> Counter[str]:
    """Send ``requests`` GETs to ``ip:port``, each on a new connection; every one must answer
    200 "Welcome to Hello Corp". Returns how many each ``X-Served-By`` answered."""
    served: Counter[str] = Counter()
    with httpx.Client(timeout=10) as client:
        for number in range(1, requests + 1):
            try:
                response = client.get(f"http://{ip}:{port}/")
            except httpx.HTTPError as error:
                raise AssertionError(
                    f"request {number}/{requests} to {ip}:{port} failed: {error!r}"
                ) from error
            assert response.status_code == 200, f"request {number}: {response.status_code}"
            assert response.text == WELCOME, f"request {number}: {response.text!r}"
            served[response.headers["X-Served-By"]] += 1
    return served


@dataclass
class Website:
    """The website Service, its Pods on the Nodes of one pool, and the NLB exoccm made."""

    world: World
    pool: Pool
    nodes: list[dict[str, Any]]
    pods: list[RunningPod]

    @property
    def node_names(self) -> list[str]:
        return [str(n["metadata"]["name"]) for n in self.nodes]

    @property
    def node_ips(self) -> list[str]:
        return [
            next(a["address"] for a in n["status"]["addresses"] if a["type"] == "ExternalIP")
            for n in self.nodes
        ]

    def served_by(self, pod: RunningPod) -> str:
        return f"{pod.ip}:{pod.port}@{pod.name}"

    def nlb(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The Service and its NLB once settled, with one NLB service for port 80."""
        return self.world.wait_nlb("website", lambda svc, nlb: (80, "tcp") in nlb_services(nlb))

    def statuses(self) -> dict[str, str]:
        """``node IP -> status`` of the port-80 NLB service's ``healthcheck-status``."""
        nlb = self.world.nlb_of("website")
        assert nlb is not None
        service = nlb_services(nlb)[(80, "tcp")]
        return {s["public-ip"]: s["status"] for s in service["healthcheck-status"]}

    def wait_statuses(self, wanted: dict[str, str], timeout: float = 60.0) -> None:
        wait_for(lambda: self.statuses() == wanted, timeout=timeout, what=f"statuses {wanted}")


def deploy_website(
    world: World,
    blocks: LoopbackBlocks,
    *,
    pods_on: list[int],
    annotations: dict[str, str] | None = None,
    service_type: str = "LoadBalancer",
    **spec: Any,
) -> Website:
    """Two Nodes on a pool, the website Service, and Running Pods on the Nodes ``pods_on``
    names (by index), with the EndpointSlice the control plane would publish."""
    pool = world.pool("website", 2)
    nodes = world.nodes(pool)
    world.create_service(
        "website",
        ports=[dict(HTTP_PORT)],
        annotations={**lb_annotations(**HEALTHCHECK), **(annotations or {})},
        type=service_type,
        **spec,
    )
    pods = [
        create_running_pod(
            world.plane,
            world.namespace,
            f"website-{index}",
            node=str(nodes[node]["metadata"]["name"]),
            ip=blocks.pod_ip(index),
            labels={"app": "website"},
        )
        for index, node in enumerate(pods_on)
    ]
    publish_endpoints(world.plane, world.namespace, "website", pods)
    return Website(world, pool, nodes, pods)


def wait_connections(traffic: TrafficControl, node: str, at_least: int) -> int:
    """Until Node ``node``'s kube-proxy has counted ``at_least`` connections; the count."""
    found: int = wait_for(
        lambda: (n := traffic.connections(node)) >= at_least and n,
        timeout=15,
        what=f"{at_least} connections through {node}",
    )
    return found
