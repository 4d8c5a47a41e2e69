"""The website example, with exoccm running from the image exactly as the chart runs it.

The chart is installed into the test apiserver with the simulator as its Exoscale endpoint;
exoccm then runs in a container of the image: the image's entry point with the chart's
arguments, as the chart's user, with the chart's environment, volumes and ServiceAccount. The
website of hello-corp gets its EXTERNAL-IP, then SIGTERM ends exoccm: exit 0, Lease released.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from exoccm.kube.resources import NODES, SERVICES
from exoccm.testing import binaries
from exoccm.testing.controlplane import ControlPlane, free_port
from exoccm.testing.scenario import NAMESPACE, ZONE, replay
from exoccm.testing.simprocess import SimProcess
from tests.e2e.conftest import wait_for
from tests.image.container import ContainerProcess, ImageInfo, WorkingContainer
from tests.image.pod import NAMESPACE as CHART_NAMESPACE
from tests.image.pod import POD_NAME, pod_container
from tests.integration.chart.helpers import install_chart
from tests.unit.chart.helm import Helm

LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"


@pytest.fixture
def helm(kube_assets: binaries.Assets, tmp_path: Path) -> Helm:
    return Helm(kube_assets.helm, tmp_path / "helm-home")


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SimProcess]:
    sim = SimProcess(tmp_path / "sim", latency=0.2).start()
    try:
        yield sim
    finally:
        sim.stop()


def _get(plane: ControlPlane, path: str) -> dict[str, Any]:
    with plane.http() as client:
        result: dict[str, Any] = client.get(path).json()
        return result


def _ready(port: int, process: ContainerProcess) -> bool:
    if not process.running():
        raise AssertionError(f"exoccm exited early:\n{process.log.read_text()[-4000:]}")
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _external_ip(plane: ControlPlane) -> str | None:
    service = _get(plane, SERVICES.path(NAMESPACE, "website"))
    ingress = (service.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
    return ingress[0].get("ip") if ingress else None


def _initialized(plane: ControlPlane, names: list[str]) -> bool:
    return all(_get(plane, NODES.path(name=name))["spec"].get("providerID") for name in names)


def test_the_website_example_runs_from_the_image(
    control_plane: ControlPlane,
    simulator: SimProcess,
    helm: Helm,
    image: str,
    image_info: ImageInfo,
    tmp_path: Path,
) -> None:
    credentials = simulator.env(ZONE)
    metrics_port = free_port()
    chart = install_chart(
        helm,
        control_plane,
        CHART_NAMESPACE,
        {
            "zone": ZONE,
            "apiEndpoint": simulator.endpoint,
            # The chart's default: the key as environment variables from its Secret.
            "credentials": {
                "create": True,
                "apiKey": credentials["EXOSCALE_API_KEY"],
                "apiSecret": credentials["EXOSCALE_API_SECRET"],
            },
            "metrics": {"port": metrics_port},
            # The container shares the host's network here: keep the port on loopback.
            "env": {"EXOCCM_METRICS_BIND_ADDRESS": "127.0.0.1"},
        },
    )
    pod = pod_container(control_plane, chart, tmp_path / "pod")
    assert image_info.user == pod.user == "65532:65532"
    assert pod.args == ("run",)
    grace = chart.manifest.pod_spec["terminationGracePeriodSeconds"]
    lease = LEASES.format(namespace=chart.namespace, name=chart.lease_name)

    with WorkingContainer(image) as container:
        process = container.start(
            [*image_info.entrypoint, *pod.args],
            user=pod.user,
            env=pod.env,
            volumes=pod.volumes,
            hostname=pod.hostname,
            log=tmp_path / "exoccm.log",
        )
        try:
            wait_for(lambda: _ready(metrics_port, process), what="exoccm's /readyz")
            story = replay(control_plane, simulator)
            ip = wait_for(lambda: _external_ip(control_plane), what="the EXTERNAL-IP")

            (nlb,) = simulator.load_balancers(ZONE)
            uid = story.service["metadata"]["uid"]
            assert (nlb["name"], nlb["ip"]) == (f"k8s-{uid}", ip)
            (nlb_service,) = nlb["services"]
            assert nlb_service["port"] == 80
            assert nlb_service["target-port"] == story.service["spec"]["ports"][0]["nodePort"]
            assert nlb_service["instance-pool"]["id"] == story.pool["id"]
            names = [instance["name"] for instance in story.instances]
            wait_for(lambda: _initialized(control_plane, names), what="the Nodes' providerIDs")
            holder = _get(control_plane, lease)["spec"]["holderIdentity"]
            assert holder.startswith(f"{POD_NAME}_")

            process.terminate()
            try:
                code = process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pytest.fail(f"exoccm still running {grace} s after SIGTERM: the kubelet kills it")
            assert code == 0, process.log.read_text()[-4000:]
        finally:
            process.kill()

    assert _get(control_plane, lease)["spec"].get("holderIdentity") is None
    log = process.log.read_text()
    assert "Released the Lease" in log
    assert credentials["EXOSCALE_API_SECRET"] not in log
