"""exoccm as a real process against the real apiserver and the simulator (also a process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from exoccm.kube.resources import NODES, SERVICES
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.polling import wait_until
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.simprocess import SimProcess

ZONE = "de-muc-1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e" in str(item.path):
            item.add_marker(pytest.mark.integration)


def wait_for(
    condition: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2, what: str = ""
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    try:
        return wait_until(condition, what or str(condition), timeout, interval)
    except TimeoutError as error:
        raise AssertionError(str(error)) from None


def _strip_and_delete(plane: ControlPlane, path: str, items: list[dict[str, Any]]) -> None:
    with plane.http() as client:
        for item in items:
            meta = item["metadata"]
            ns = meta.get("namespace")
            one = (
                f"/api/v1/namespaces/{ns}/services/{meta['name']}"
                if ns
                else f"{path}/{meta['name']}"
            )
            if meta.get("finalizers"):
                client.patch(
                    one,
                    json={"metadata": {"finalizers": None}},
                    headers={"Content-Type": "application/merge-patch+json"},
                )
            client.delete(one)


@pytest.fixture
def clean_cluster(control_plane: ControlPlane) -> ControlPlane:
    """No load-balancer Services and no Nodes left over from earlier tests."""
    with control_plane.http() as client:
        services = [
            s
            for s in client.get(SERVICES.path()).json()["items"]
            if s["spec"].get("type") == "LoadBalancer" or s["metadata"].get("finalizers")
        ]
        nodes = client.get(NODES.path()).json()["items"]
    _strip_and_delete(control_plane, SERVICES.path(), services)
    _strip_and_delete(control_plane, NODES.path(), nodes)
    return control_plane


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimProcess]:
    sim = SimProcess(tmp_path / "sim", latency=0.2).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def exoccm_factory(
    clean_cluster: ControlPlane, simulator: SimProcess, tmp_path: Path, namespace: str
) -> Iterator[Callable[..., ExoccmProcess]]:
    """Start exoccm processes (admin kubeconfig unless given) against this test's simulator."""
    started: list[ExoccmProcess] = []

    def start(
        *,
        zone: str = ZONE,
        env: dict[str, str] | None = None,
        kubeconfig: Path | None = None,
        wait_ready: bool = True,
    ) -> ExoccmProcess:
        environment = {
            **simulator.env(zone),
            "EXOCCM_LEADER_ELECTION_NAMESPACE": namespace,
            "EXOCCM_DRIFT_PERIOD": "5s",
            "EXOCCM_LOG_LEVEL": "debug",
            **(env or {}),
        }
        process = ExoccmProcess(
            kubeconfig or clean_cluster.kubeconfig,
            environment,
            tmp_path / f"exoccm-{len(started)}.log",
        ).start()
        started.append(process)
        if wait_ready:
            process.wait_ready()
        return process

    yield start
    for process in started:
        process.stop()
