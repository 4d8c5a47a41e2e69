"""Installing charts/exoccm into the test apiserver, and acting as the chart's ServiceAccount.

For reuse (e.g. running exoccm with exactly the chart's rights)::

    chart = install_chart(helm, control_plane, namespace, {"zone": "ch-gva-2"})
    kubeconfig = service_account_kubeconfig(control_plane, chart, tmp_path / "kubeconfig")

Helm runs without ``--wait`` (no controller manager: the Deployment never becomes available) and
with its default server-side apply. ClusterRoles are cluster-scoped, so every install gets a
unique release name, from which the chart derives every object name.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exoccm.kube.objects import Obj
from exoccm.testing.controlplane import ControlPlane
from tests.unit.chart.helm import (
    CHART,
    Helm,
    Rendered,
)

# kind -> (API path prefix, resource, namespaced), for the kinds the chart renders.
KINDS: dict[str, tuple[str, str, bool]] = {
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Secret": ("/api/v1", "secrets", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Service": ("/api/v1", "services", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "PodDisruptionBudget": ("/apis/policy/v1", "poddisruptionbudgets", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
}


@dataclass(frozen=True)
class InstalledChart:
    """A release of charts/exoccm in the test apiserver."""

    release: str
    namespace: str
    kubeconfig: Path  # the admin kubeconfig helm used
    manifest: Rendered  # what helm applied (`helm get manifest`)
    notes: str

    @property
    def deployment(self) -> Obj:
        return self.manifest.deployment

    @property
    def service_account(self) -> str:
        name: str = self.manifest.pod_spec["serviceAccountName"]
        return name

    @property
    def user(self) -> str:
        """The ServiceAccount's user name, as RBAC sees it."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    @property
    def lease_name(self) -> str:
        return self.manifest.env_value("EXOCCM_LEADER_ELECTION_NAME")

    def name_of(self, kind: str) -> str:
        name: str = self.manifest.one(kind)["metadata"]["name"]
        return name


def unique_release(prefix: str = "exoccm") -> str:
    """A release name no other test uses (it names the cluster-scoped RBAC objects too)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def object_path(obj: Obj, namespace: str) -> str:
    prefix, resource, namespaced = KINDS[obj["kind"]]
    name = obj["metadata"]["name"]
    if namespaced:
        return (
            f"{prefix}/namespaces/{obj['metadata'].get('namespace', namespace)}/{resource}/{name}"
        )
    return f"{prefix}/{resource}/{name}"


def _release_args(release: str, namespace: str, kubeconfig: Path) -> list[str]:
    return [release, "--namespace", namespace, "--kubeconfig", str(kubeconfig)]


def _read_back(helm: Helm, release: str, namespace: str, kubeconfig: Path) -> tuple[Rendered, str]:
    common = ["--namespace", namespace, "--kubeconfig", str(kubeconfig)]
    manifest = helm.run("get", "manifest", release, *common, kubeconfig=kubeconfig).stdout
    notes = helm.run("get", "notes", release, *common, kubeconfig=kubeconfig).stdout
    return Rendered.parse(manifest), notes


def install_chart(
    helm: Helm,
    control_plane: ControlPlane,
    namespace: str,
    values: Mapping[str, Any] | None = None,
    *,
    files: Iterable[Path] = (),
    release: str | None = None,
) -> InstalledChart:
    """``helm install`` (never ``--wait``) into ``namespace``; raises HelmError on refusal."""
    release = release or unique_release()
    kubeconfig = control_plane.kubeconfig
    helm.run(
        "install",
        *_release_args(release, namespace, kubeconfig),
        str(CHART),
        *helm.value_args(values, files),
        kubeconfig=kubeconfig,
    )
    manifest, notes = _read_back(helm, release, namespace, kubeconfig)
    return InstalledChart(release, namespace, kubeconfig, manifest, notes)


def upgrade_chart(
    helm: Helm,
    chart: InstalledChart,
    values: Mapping[str, Any] | None = None,
    *,
    files: Iterable[Path] = (),
) -> InstalledChart:
    """``helm upgrade`` of ``chart`` with new values (not merged with the old ones)."""
    helm.run(
        "upgrade",
        *_release_args(chart.release, chart.namespace, chart.kubeconfig),
        str(CHART),
        *helm.value_args(values, files),
        kubeconfig=chart.kubeconfig,
    )
    manifest, notes = _read_back(helm, chart.release, chart.namespace, chart.kubeconfig)
    return InstalledChart(chart.release, chart.namespace, chart.kubeconfig, manifest, notes)


def uninstall_chart(helm: Helm, chart: InstalledChart) -> None:
    helm.run(
        "uninstall",
        *_release_args(chart.release, chart.namespace, chart.kubeconfig),
        kubeconfig=chart.kubeconfig,
    )


def service_account_token(
    control_plane: ControlPlane, chart: InstalledChart, expiration_seconds: int = 3600
) -> str:
    """A TokenRequest token of the chart's ServiceAccount (which the chart created)."""
    return control_plane.service_account_token(
        chart.namespace, chart.service_account, expiration_seconds
    )


def service_account_kubeconfig(
    control_plane: ControlPlane,
    chart: InstalledChart,
    path: Path,
    expiration_seconds: int = 3600,
) -> Path:
    """A kubeconfig that authenticates as the chart's ServiceAccount, with exactly its rights."""
    token = service_account_token(control_plane, chart, expiration_seconds)
    return control_plane.write_kubeconfig(path, token, user=chart.service_account)


def can(
    control_plane: ControlPlane,
    chart: InstalledChart,
    verb: str,
    resource: str,
    *,
    group: str = "",
    namespace: str = "",
    name: str = "",
    subresource: str = "",
) -> bool:
    """Whether the chart's ServiceAccount may do this (a SubjectAccessReview, posted as admin).

    The review carries the groups every ServiceAccount token has, so rights granted to them
    (e.g. by bootstrap roles) count too.
    """
    attributes = {
        "verb": verb,
        "group": group,
        "resource": resource,
        "namespace": namespace,
        "name": name,
        "subresource": subresource,
    }
    review = control_plane.apply(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": chart.user,
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{chart.namespace}",
                    "system:authenticated",
                ],
                "resourceAttributes": {k: v for k, v in attributes.items() if v},
            },
        },
    )
    return bool(review["status"].get("allowed", False))
