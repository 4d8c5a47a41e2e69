"""The Helm chart's RBAC is enough: exoccm running as the chart's ServiceAccount does the seed story."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exoccm.kube.resources import NODES, SERVICES
from exoccm.testing import binaries
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.scenario import NAMESPACE, ZONE, replay
from exoccm.testing.simprocess import SimProcess
from tests.e2e.conftest import wait_for
from tests.integration.chart.helpers import install_chart, service_account_kubeconfig
from tests.unit.chart.helm import Helm


@pytest.fixture
def helm(kube_assets: binaries.Assets, tmp_path: Path) -> Helm:
    return Helm(kube_assets.helm, tmp_path / "helm-home")


def _get(plane: ControlPlane, path: str) -> dict[str, Any]:
    with plane.http() as client:
        result: dict[str, Any] = client.get(path).json()
        return result


def test_the_charts_service_account_can_run_the_seed_story(
    clean_cluster: ControlPlane, simulator: SimProcess, helm: Helm, namespace: str, tmp_path: Path
) -> None:
    chart = install_chart(
        helm,
        clean_cluster,
        namespace,
        {
            "zone": ZONE,
            "credentials": {"create": True, "apiKey": "EXO" + "0" * 24, "apiSecret": "x" * 43},
        },
    )
    kubeconfig = service_account_kubeconfig(clean_cluster, chart, tmp_path / "chart-sa.kubeconfig")
    process = ExoccmProcess(
        kubeconfig,
        {
            **simulator.env(ZONE),
            "EXOCCM_LEADER_ELECTION_NAMESPACE": namespace,
            "EXOCCM_LEADER_ELECTION_NAME": chart.lease_name,
        },
        tmp_path / "exoccm.log",
    ).start()
    try:
        process.wait_ready()
        story = replay(clean_cluster, simulator)
        wait_for(
            lambda: (
                _get(clean_cluster, SERVICES.path(NAMESPACE, "website"))
                .get("status", {})
                .get("loadBalancer")
                or {}
            ).get("ingress"),
            what="the EXTERNAL-IP, with only the chart's permissions",
        )
        names = [instance["name"] for instance in story.instances]
        wait_for(
            lambda: all(
                _get(clean_cluster, NODES.path(name=name))["spec"].get("providerID")
                for name in names
            ),
            what="the Nodes to be initialized with only the chart's permissions",
        )
        with clean_cluster.http() as client:
            client.delete(SERVICES.path(NAMESPACE, "website"))
        wait_for(
            lambda: _get(clean_cluster, SERVICES.path(NAMESPACE, "website")).get("code") == 404,
            what="the Service to be cleaned up and deleted",
        )
        assert simulator.load_balancers(ZONE) == []
        forbidden = [line for line in process.logs() if "forbidden" in str(line).lower()]
        assert forbidden == [], forbidden[:3]
    finally:
        process.stop()
