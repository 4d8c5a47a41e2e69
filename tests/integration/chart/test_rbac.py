"""The chart's ServiceAccount can do what exoccm needs and nothing else (SubjectAccessReviews and
real requests with a TokenRequest token against the test apiserver)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from exoccm.controllers.registry import CONTROLLERS
from exoccm.kube.client import KubeClient
from exoccm.kube.config import from_kubeconfig
from exoccm.kube.errors import KubeForbiddenError
from exoccm.kube.permissions import Permission
from exoccm.kube.resources import LEASES, NAMESPACES, NODES, SECRETS, SERVICES
from exoccm.rbac import required
from exoccm.testing.controlplane import ControlPlane
from tests.integration.chart.helpers import (
    InstalledChart,
    can,
    install_chart,
    service_account_kubeconfig,
    service_account_token,
)
from tests.unit.chart.helm import ZONE, Helm

pytestmark = pytest.mark.anyio

CSR = "certificates.k8s.io"
LEASE_GROUP = "coordination.k8s.io"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"

# (verb, resource, attributes); a namespace of "*" stands for the release namespace.
Check = tuple[str, str, dict[str, str]]

ALLOWED: list[Check] = [
    *[(verb, "nodes", {}) for verb in ("get", "list", "watch", "patch", "delete")],
    ("patch", "nodes", {"subresource": "status", "name": "node-1"}),
    *[(verb, "services", {}) for verb in ("list", "watch")],
    *[(verb, "services", {"namespace": "default", "name": "web"}) for verb in ("get", "patch")],
    ("patch", "services", {"namespace": "default", "name": "web", "subresource": "status"}),
    ("create", "events", {"namespace": "default"}),
    ("patch", "events", {"namespace": "shop", "name": "web.1"}),
    ("get", "namespaces", {"namespace": "kube-system", "name": "kube-system"}),
    ("create", "leases", {"group": LEASE_GROUP, "namespace": "*"}),
]

DENIED_ALWAYS: list[Check] = [
    # Secrets, anywhere: exoccm reads its key from its environment or a mounted file.
    ("list", "secrets", {}),
    ("get", "secrets", {"namespace": "*", "name": "exoscale-credentials"}),
    ("get", "secrets", {"namespace": "kube-system", "name": "exoscale-credentials"}),
    ("get", "configmaps", {"namespace": "kube-system"}),
    # Workloads.
    ("create", "pods", {"namespace": "*"}),
    ("list", "pods", {}),
    ("update", "deployments", {"group": "apps", "namespace": "*"}),
    # Nodes and Services: only the verbs listed.
    ("create", "nodes", {}),
    ("update", "nodes", {"name": "node-1"}),
    ("update", "nodes", {"subresource": "status", "name": "node-1"}),
    ("get", "nodes", {"subresource": "proxy", "name": "node-1"}),
    ("create", "services", {"namespace": "default"}),
    ("update", "services", {"namespace": "default", "name": "web"}),
    ("delete", "services", {"namespace": "default", "name": "web"}),
    ("update", "services", {"namespace": "default", "name": "web", "subresource": "status"}),
    ("delete", "events", {"namespace": "default", "name": "web.1"}),
    ("create", "events", {"group": "events.k8s.io", "namespace": "default"}),
    # Namespaces other than kube-system.
    ("get", "namespaces", {"namespace": "default", "name": "default"}),
    ("list", "namespaces", {}),
    # Leases: only its own, only in its namespace, never deleted.
    ("get", "leases", {"group": LEASE_GROUP, "namespace": "*", "name": "other-lock"}),
    ("update", "leases", {"group": LEASE_GROUP, "namespace": "*", "name": "other-lock"}),
    ("list", "leases", {"group": LEASE_GROUP, "namespace": "*"}),
    ("create", "leases", {"group": LEASE_GROUP, "namespace": "kube-node-lease"}),
    ("update", "leases", {"group": LEASE_GROUP, "namespace": "kube-node-lease", "name": "node-1"}),
    # Privilege escalation.
    ("create", "serviceaccounts", {"subresource": "token", "namespace": "*", "name": "x"}),
    ("bind", "clusterroles", {"group": "rbac.authorization.k8s.io", "name": "cluster-admin"}),
    ("escalate", "clusterroles", {"group": "rbac.authorization.k8s.io", "name": "x"}),
    ("impersonate", "users", {"name": "admin"}),
    # CSR approval beyond the kubelet-serving signer, or writing CSRs.
    ("approve", "signers", {"group": CSR, "name": "kubernetes.io/kube-apiserver-client"}),
    ("create", "certificatesigningrequests", {"group": CSR}),
    ("delete", "certificatesigningrequests", {"group": CSR, "name": "csr-1"}),
    (
        "update",
        "certificatesigningrequests",
        {"group": CSR, "name": "csr-1", "subresource": "status"},
    ),
]

CSR_CHECKS: list[Check] = [
    *[(verb, "certificatesigningrequests", {"group": CSR}) for verb in ("list", "watch")],
    ("get", "certificatesigningrequests", {"group": CSR, "name": "csr-1"}),
    (
        "update",
        "certificatesigningrequests",
        {"group": CSR, "name": "csr-1", "subresource": "approval"},
    ),
    ("approve", "signers", {"group": CSR, "name": KUBELET_SERVING}),
]


def check_id(check: Check) -> str:
    verb, resource, attributes = check
    extra = ",".join(f"{k}={v}" for k, v in sorted(attributes.items()))
    return f"{verb}-{resource}[{extra}]"


def allowed(control_plane: ControlPlane, chart: InstalledChart, check: Check) -> bool:
    verb, resource, attributes = check
    resolved: dict[str, Any] = dict(attributes)
    if resolved.get("namespace") == "*":
        resolved["namespace"] = chart.namespace
    return can(control_plane, chart, verb, resource, **resolved)


def release_namespace(control_plane: ControlPlane) -> str:
    name = f"t-chart-{uuid.uuid4().hex[:8]}"
    control_plane.apply(NAMESPACES.path(), {"metadata": {"name": name}})
    return name


@pytest.fixture(scope="module")
def default_chart(helm: Helm, control_plane: ControlPlane) -> InstalledChart:
    return install_chart(helm, control_plane, release_namespace(control_plane), ZONE)


@pytest.fixture(scope="module")
def csr_chart(helm: Helm, control_plane: ControlPlane) -> InstalledChart:
    values = {**ZONE, "csrApproval": {"enabled": True}}
    return install_chart(helm, control_plane, release_namespace(control_plane), values)


@pytest.mark.parametrize("check", ALLOWED, ids=check_id)
def test_default_identity_can(
    control_plane: ControlPlane, default_chart: InstalledChart, check: Check
) -> None:
    assert allowed(control_plane, default_chart, check)


def test_default_identity_can_get_and_update_its_own_lease(
    control_plane: ControlPlane, default_chart: InstalledChart
) -> None:
    for verb in ("get", "update"):
        assert can(
            control_plane,
            default_chart,
            verb,
            "leases",
            group=LEASE_GROUP,
            namespace=default_chart.namespace,
            name=default_chart.lease_name,
        ), verb
    # Not the Lease of the same name in another namespace, and never delete it.
    for namespace in ("kube-system", "default"):
        assert not can(
            control_plane,
            default_chart,
            "update",
            "leases",
            group=LEASE_GROUP,
            namespace=namespace,
            name=default_chart.lease_name,
        ), namespace
    assert not can(
        control_plane,
        default_chart,
        "delete",
        "leases",
        group=LEASE_GROUP,
        namespace=default_chart.namespace,
        name=default_chart.lease_name,
    )


@pytest.mark.parametrize("check", DENIED_ALWAYS + CSR_CHECKS, ids=check_id)
def test_default_identity_cannot(
    control_plane: ControlPlane, default_chart: InstalledChart, check: Check
) -> None:
    assert not allowed(control_plane, default_chart, check)


@pytest.mark.parametrize("check", ALLOWED + CSR_CHECKS, ids=check_id)
def test_csr_identity_can(
    control_plane: ControlPlane, csr_chart: InstalledChart, check: Check
) -> None:
    assert allowed(control_plane, csr_chart, check)


@pytest.mark.parametrize("check", DENIED_ALWAYS, ids=check_id)
def test_csr_identity_cannot(
    control_plane: ControlPlane, csr_chart: InstalledChart, check: Check
) -> None:
    assert not allowed(control_plane, csr_chart, check)


def test_releases_do_not_share_rights(
    control_plane: ControlPlane, default_chart: InstalledChart, csr_chart: InstalledChart
) -> None:
    # Each release's bindings name its own ServiceAccount: one release's Lease is not the other's.
    assert default_chart.name_of("ClusterRole") != csr_chart.name_of("ClusterRole")
    assert not can(
        control_plane,
        default_chart,
        "update",
        "leases",
        group=LEASE_GROUP,
        namespace=csr_chart.namespace,
        name=csr_chart.lease_name,
    )


def test_token_of_the_chart_account_works_as_granted(
    control_plane: ControlPlane, default_chart: InstalledChart
) -> None:
    token = service_account_token(control_plane, default_chart)
    namespace = default_chart.namespace
    lease = default_chart.lease_name
    leases = LEASES.path(namespace)
    with control_plane.http(token) as client:
        assert client.get(NODES.path()).status_code == 200
        assert client.get(SERVICES.path()).status_code == 200
        assert client.get(NAMESPACES.path(name="kube-system")).status_code == 200
        assert client.get(NAMESPACES.path(name="default")).status_code == 403
        assert client.get(SECRETS.path()).status_code == 403
        assert client.get(SECRETS.path(namespace)).status_code == 403
        # The election: create, read and renew its own Lease ...
        body = {"metadata": {"name": lease}, "spec": {"holderIdentity": "pod-a"}}
        assert client.post(leases, json=body).status_code == 201
        current = client.get(LEASES.path(namespace, lease))
        assert current.status_code == 200
        renewed = current.json()
        renewed["spec"]["holderIdentity"] = "pod-b"
        assert client.put(LEASES.path(namespace, lease), json=renewed).status_code == 200
        assert client.delete(LEASES.path(namespace, lease)).status_code == 403
        # ... but no other Lease, even one it could create (create cannot be limited by name).
        other = {"metadata": {"name": "other-lock"}, "spec": {"holderIdentity": "pod-a"}}
        assert client.post(leases, json=other).status_code == 201
        assert client.get(LEASES.path(namespace, "other-lock")).status_code == 403


async def test_kubeconfig_of_the_chart_account_drives_exoccms_client(
    control_plane: ControlPlane, default_chart: InstalledChart, tmp_path: Path
) -> None:
    kubeconfig = service_account_kubeconfig(control_plane, default_chart, tmp_path / "kubeconfig")
    async with KubeClient(from_kubeconfig(kubeconfig)) as kube:
        kube_system = await kube.get(NAMESPACES.path(name="kube-system"))
        assert kube_system["metadata"]["uid"]
        nodes = await kube.list(NODES.path())
        assert isinstance(nodes.items, list)
        with pytest.raises(KubeForbiddenError):
            await kube.get(SECRETS.path(default_chart.namespace, "exoscale-credentials"))


# -- against the controller registry -----------------------------------------------------------


@pytest.fixture(scope="module")
def nodes_only_chart(helm: Helm, control_plane: ControlPlane) -> InstalledChart:
    values = {**ZONE, "controllers": ["*", "-service"]}
    return install_chart(helm, control_plane, release_namespace(control_plane), values)


def _may(control_plane: ControlPlane, chart: InstalledChart, permission: Permission) -> bool:
    return can(
        control_plane,
        chart,
        permission.verb,
        permission.resource,
        group=permission.group,
        namespace=permission.namespace,
        name=permission.name,
        subresource=permission.subresource,
    )


@pytest.mark.parametrize(
    ("chart_fixture", "enabled"),
    [
        ("default_chart", {"service", "node", "lifecycle"}),
        ("csr_chart", {"service", "node", "lifecycle", "csr"}),
        ("nodes_only_chart", {"node", "lifecycle"}),
    ],
)
def test_the_apiserver_allows_what_the_registry_needs_and_not_the_rest(
    request: pytest.FixtureRequest,
    control_plane: ControlPlane,
    chart_fixture: str,
    enabled: set[str],
) -> None:
    chart: InstalledChart = request.getfixturevalue(chart_fixture)
    lease = (chart.namespace, chart.lease_name)
    needed = required(enabled, lease)
    denied = [p for p in needed if not _may(control_plane, chart, p)]
    assert denied == [], [str(p) for p in denied]
    every = {spec.name for spec in CONTROLLERS}
    others = [p for p in required(every, lease) if p not in needed]
    allowed = [p for p in others if _may(control_plane, chart, p)]
    assert allowed == [], [str(p) for p in allowed]
