"""Traffic through NLBs in the end-to-end tests: the seed world on the fuller control plane and
the traffic check.

The check is the end-to-end proof the seed story asks for: real HTTP requests to the NLB's IP,
each through the simulator's data plane, a Node's kube-proxy stand-in and a website Pod's
stand-in. A wrong target port or health-check port anywhere on that path makes it fail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from exoccm.testing.fullplane import FullControlPlane
from exoccm.testing.loopback import random_blocks
from exoccm.testing.seedworld import SeedWorld, seed_world
from exoccm.testing.traffic import TrafficControl
from tests.e2e.conftest import wait_for

WELCOME = "Welcome to Hello Corp\n"
# exoccm's default health check, which the seed story's Service keeps.
INTERVAL, TIMEOUT, RETRIES = 10, 5, 1


def check_traffic(ip: str, port: int = 80, requests: int = 30) -> Counter[str]:
    """Send ``requests`` GETs to ``ip:port``, each on a new connection; every one must answer
    200 "Welcome to Hello Corp". Returns how many each ``X-Served-By`` answered."""
    served: Counter[str] = Counter()
    with httpx.Client(timeout=10) as client:
        for number in range(1, requests + 1):
            try:
                response = client.get(f"http://{ip}:{port}/", headers={"Connection": "close"})
            except httpx.HTTPError as error:
                raise AssertionError(
                    f"request {number}/{requests} to {ip}:{port} failed: {error!r}"
                ) from error
            assert response.status_code == 200, f"request {number}: {response.status_code}"
            assert response.text == WELCOME, f"request {number}: {response.text!r}"
            served[response.headers["X-Served-By"]] += 1
    return served


def served_by(pod: dict[str, Any]) -> str:
    """What a website Pod says in ``X-Served-By``: ``<pod ip>:80@<pod name>``."""
    return f"{pod['status']['podIP']}:80@{pod['metadata']['name']}"


@contextmanager
def story_world(plane: FullControlPlane, workdir: Path, namespace: str) -> Iterator[SeedWorld]:
    """The seed story played and converged in ``namespace`` on the session's fuller plane, with
    loopback networks of its own; its namespace and Nodes removed afterwards."""
    networks = random_blocks(plane.pod_network).networks
    with seed_world(
        plane,
        workdir,
        networks=networks,
        namespace=namespace,
        exoccm_env={"EXOCCM_LOG_LEVEL": "debug"},
    ) as world:
        try:
            world.replay()
            world.wait_converged()
            yield world
        finally:
            world.remove()


def wait_connections(traffic: TrafficControl, node: str, at_least: int) -> int:
    """Until Node ``node``'s kube-proxy has counted ``at_least`` connections; the count."""
    found: int = wait_for(
        lambda: (n := traffic.connections(node)) >= at_least and n,
        timeout=15,
        what=f"{at_least} connections through {node}",
    )
    return found
