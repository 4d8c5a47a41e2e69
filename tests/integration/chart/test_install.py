"""helm install of charts/exoccm into the real kube-apiserver: the server accepts every object."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from exoccm.kube.objects import Obj
from exoccm.testing.controlplane import ControlPlane
from tests.integration.chart.helpers import (
    InstalledChart,
    can,
    install_chart,
    object_path,
    uninstall_chart,
    upgrade_chart,
)
from tests.unit.chart.helm import (
    CI_VALUES,
    ZONE,
    Helm,
    HelmError,
)


def server_objects(control_plane: ControlPlane, chart: InstalledChart) -> list[Obj]:
    """Every object of the release as the server stores it."""
    found = []
    with control_plane.http() as client:
        for obj in chart.manifest:
            response = client.get(object_path(obj, chart.namespace))
            assert response.status_code == 200, (obj["kind"], response.text)
            found.append(response.json())
    return found


def test_default_install_is_accepted(
    helm: Helm, control_plane: ControlPlane, namespace: str
) -> None:
    chart = install_chart(helm, control_plane, namespace, ZONE)
    stored = server_objects(control_plane, chart)
    assert sorted(obj["kind"] for obj in stored) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "ServiceAccount",
    ]
    deployment = next(obj for obj in stored if obj["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    rendered_pod = chart.manifest.pod_spec
    # The server kept what the chart asked for (it only adds defaults).
    assert pod["securityContext"] == rendered_pod["securityContext"]
    assert pod["tolerations"] == rendered_pod["tolerations"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    (container,) = pod["containers"]
    assert container["securityContext"] == chart.manifest.container["securityContext"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    status = json.loads(
        helm.run(
            "status",
            chart.release,
            "--namespace",
            namespace,
            "--kubeconfig",
            str(chart.kubeconfig),
            "--output",
            "json",
            kubeconfig=chart.kubeconfig,
        ).stdout
    )
    assert status["info"]["status"] == "deployed"
    assert f"Lease {namespace}/{chart.lease_name}" in chart.notes


@pytest.mark.parametrize("path", CI_VALUES, ids=lambda p: p.name)
def test_each_ci_values_file_installs(
    helm: Helm, control_plane: ControlPlane, namespace: str, path: Path
) -> None:
    chart = install_chart(helm, control_plane, namespace, files=[path])
    stored = server_objects(control_plane, chart)
    assert len(stored) == len(chart.manifest.objects) >= 7


def test_monitoring_without_the_operator_installs_and_warns(
    helm: Helm, control_plane: ControlPlane, namespace: str
) -> None:
    path = next(p for p in CI_VALUES if p.name == "monitoring-values.yaml")
    chart = install_chart(helm, control_plane, namespace, files=[path])
    kinds = {obj["kind"] for obj in chart.manifest}
    assert "Service" in kinds
    assert not kinds & {"ServiceMonitor", "PodMonitor"}
    assert "WARNING: metrics.serviceMonitor.enabled is true" in chart.notes
    assert "WARNING: metrics.podMonitor.enabled is true" in chart.notes


def test_created_credentials_file_is_stored_as_json(
    helm: Helm, control_plane: ControlPlane, namespace: str
) -> None:
    path = next(p for p in CI_VALUES if p.name == "file-credentials-values.yaml")
    chart = install_chart(helm, control_plane, namespace, files=[path])
    secret = next(obj for obj in server_objects(control_plane, chart) if obj["kind"] == "Secret")
    credentials = json.loads(base64.b64decode(secret["data"]["credentials.json"]))
    assert set(credentials) == {"api_key", "api_secret", "name"}
    assert credentials["api_key"].startswith("EXO")


def test_install_with_a_bad_zone_is_refused_before_anything_is_applied(
    helm: Helm, control_plane: ControlPlane, namespace: str
) -> None:
    with pytest.raises(HelmError) as refused:
        install_chart(helm, control_plane, namespace, {"zone": ""})
    assert "/zone" in refused.value.stderr
    # Nothing was applied.
    with control_plane.http() as client:
        listed = client.get(f"/apis/apps/v1/namespaces/{namespace}/deployments").json()
    assert listed["items"] == []


def test_upgrade_turns_csr_approval_on_and_uninstall_removes_the_rights(
    helm: Helm, control_plane: ControlPlane, namespace: str
) -> None:
    chart = install_chart(helm, control_plane, namespace, ZONE)
    approve = {"group": "certificates.k8s.io", "name": "kubernetes.io/kubelet-serving"}
    assert not can(control_plane, chart, "approve", "signers", **approve)
    assert can(control_plane, chart, "list", "nodes")

    upgraded = upgrade_chart(helm, chart, {**ZONE, "csrApproval": {"enabled": True}})
    assert can(control_plane, upgraded, "approve", "signers", **approve)
    assert upgraded.manifest.env_value("EXOSCALE_SKS_AGENT_RUNNERS") == "node-csr-validation"

    uninstall_chart(helm, upgraded)
    with control_plane.http() as client:
        for obj in upgraded.manifest:
            if obj["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
                response = client.get(object_path(obj, namespace))
                assert response.status_code == 404, obj["kind"]
    assert not can(control_plane, upgraded, "list", "nodes")
