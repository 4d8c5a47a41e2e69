"""The test ground is real: a genuine kube-apiserver with etcd, RBAC and TokenRequest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import orjson
import pytest

from exoccm.kube.client import KubeClient
from exoccm.kube.config import from_kubeconfig
from exoccm.kube.errors import KubeForbiddenError
from exoccm.kube.resources import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, CONFIG_MAPS, NODES, SERVICES
from exoccm.testing import binaries
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.nodes import create_node, node_manifest

pytestmark = pytest.mark.anyio


def test_server_version_is_the_pinned_release(control_plane: ControlPlane) -> None:
    with control_plane.http() as client:
        version = client.get("/version").json()
    assert version["gitVersion"] == binaries.KUBERNETES_VERSION
    assert version["major"] == "1"
    assert version["minor"] == binaries.KUBERNETES_VERSION.split(".")[1]


def test_load_balancer_service_gets_cluster_ip_and_node_ports(
    control_plane: ControlPlane, namespace: str
) -> None:
    service = control_plane.apply(
        SERVICES.path(namespace),
        {
            "metadata": {"name": "website"},
            "spec": {
                "type": "LoadBalancer",
                "externalTrafficPolicy": "Local",
                "selector": {"app": "website"},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
            },
        },
    )
    spec = service["spec"]
    assert spec["clusterIP"].startswith("10.96.")
    node_port = spec["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    assert 30000 <= spec["healthCheckNodePort"] <= 32767
    assert spec["healthCheckNodePort"] != node_port
    assert service["status"]["loadBalancer"] == {}


async def test_watch_sees_a_change(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    created = await kube.create(
        CONFIG_MAPS.path(namespace), {"metadata": {"name": "watched"}, "data": {"a": "1"}}
    )
    seen: list[dict[str, object]] = []

    async def watch() -> None:
        params = {
            "watch": True,
            "resourceVersion": created["metadata"]["resourceVersion"],
            "fieldSelector": "metadata.name=watched",
        }
        async with kube.stream_lines(
            CONFIG_MAPS.path(namespace), params=params, read_timeout=30
        ) as lines:
            async for line in lines:
                seen.append(orjson.loads(line))
                return

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            await anyio.sleep(0.2)
            await kube.patch(CONFIG_MAPS.path(namespace, "watched"), {"data": {"a": "2"}})
    assert seen[0]["type"] == "MODIFIED"
    assert seen[0]["object"]["data"] == {"a": "2"}  # type: ignore[index]


async def test_service_account_needs_rbac_to_list_nodes(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    token = control_plane.service_account_token(namespace, "reader")
    kubeconfig = control_plane.write_kubeconfig(tmp_path / "sa.kubeconfig", token)
    async with KubeClient(from_kubeconfig(kubeconfig)) as client:
        with pytest.raises(KubeForbiddenError) as denied:
            await client.list(NODES.path())
        assert denied.value.status == 403
        assert f"system:serviceaccount:{namespace}:reader" in denied.value.message

        role = f"node-reader-{namespace}"
        control_plane.apply(
            CLUSTER_ROLES.path(),
            {
                "metadata": {"name": role},
                "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}],
            },
        )
        control_plane.apply(
            CLUSTER_ROLE_BINDINGS.path(),
            {
                "metadata": {"name": role},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role,
                },
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
            },
        )
        # The RBAC authorizer's cache follows the binding within moments.
        with anyio.fail_after(20):
            while True:
                try:
                    nodes = await client.list(NODES.path())
                    break
                except KubeForbiddenError:
                    await anyio.sleep(0.1)
        assert isinstance(nodes.items, list)
        with pytest.raises(KubeForbiddenError):
            await client.list(SERVICES.path())


async def test_client_certificate_identities_authenticate_as_their_user_and_groups(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    kubeconfig = control_plane.identity_kubeconfig(
        tmp_path / "alice.kubeconfig", "alice", ("team-a", "team-b")
    )
    async with KubeClient(from_kubeconfig(kubeconfig)) as client:
        review = await client.create(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
        user = review["status"]["userInfo"]
        assert user["username"] == "alice"
        assert {"team-a", "team-b", "system:authenticated"} <= set(user["groups"])
        with pytest.raises(KubeForbiddenError):
            await client.list(NODES.path())


def test_node_helpers_write_status(control_plane: ControlPlane, namespace: str) -> None:
    name = f"node-{namespace}"
    node = create_node(
        control_plane,
        node_manifest(
            name,
            system_uuid="5f4b3d7e-1c2a-4b8e-9f00-0123456789ab",
            addresses=[("InternalIP", "10.0.0.5")],
            uninitialized=True,
        ),
    )
    assert node["status"]["nodeInfo"]["systemUUID"] == "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"
    assert node["status"]["addresses"] == [{"type": "InternalIP", "address": "10.0.0.5"}]
    taints = {t["key"] for t in node["spec"]["taints"]}
    assert "node.cloudprovider.kubernetes.io/uninitialized" in taints


def test_data_survives_an_apiserver_restart(kube_assets: binaries.Assets, tmp_path: Path) -> None:
    with ControlPlane(kube_assets, workdir=tmp_path / "cp") as plane:
        plane.apply(CONFIG_MAPS.path("default"), {"metadata": {"name": "keep"}, "data": {"k": "v"}})
        old_pid = plane._apiserver.proc.pid  # type: ignore[union-attr]
        plane.restart_apiserver()
        assert plane._apiserver.proc.pid != old_pid  # type: ignore[union-attr]
        with plane.http() as client:
            response = client.get(CONFIG_MAPS.path("default", "keep"))
        assert response.status_code == 200
        assert response.json()["data"] == {"k": "v"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); look at its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids: list[int], timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if _alive(pid)]
        if not alive:
            return []
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


def test_stop_leaves_no_processes(kube_assets: binaries.Assets, tmp_path: Path) -> None:
    plane = ControlPlane(kube_assets, workdir=tmp_path / "cp").start()
    pids = [plane._etcd.proc.pid, plane._apiserver.proc.pid]  # type: ignore[union-attr]
    plane.stop()
    assert _wait_gone(pids) == []
    assert not (tmp_path / "cp").exists()


SCRIPT = """
import sys
from pathlib import Path
from exoccm.testing.binaries import Assets
from exoccm.testing.controlplane import ControlPlane
plane = ControlPlane(Assets(Path(sys.argv[1])), workdir=Path(sys.argv[2])).start()
print(plane._etcd.proc.pid, plane._apiserver.proc.pid, flush=True)
sys.stdin.read()
"""


def test_killed_test_run_leaves_no_processes(kube_assets: binaries.Assets, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(kube_assets.directory), str(tmp_path / "cp")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2
    assert all(_alive(pid) for pid in pids)
    proc.send_signal(signal.SIGKILL)  # no atexit, no finally: only PR_SET_PDEATHSIG helps
    proc.wait()
    proc.stdout.close()
    assert proc.stdin is not None
    proc.stdin.close()
    assert _wait_gone(pids) == []
