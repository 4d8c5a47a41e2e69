"""exoccm's Kubernetes client authenticates with a kubeconfig exec plugin against the real
apiserver: one plugin run serves concurrent requests, and an expiring token is renewed."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from exoccm.kube.client import KubeClient
from exoccm.kube.config import from_kubeconfig
from exoccm.testing.controlplane import ControlPlane
from tests.unit.kube.test_exec_plugin import STANDIN, runs

pytestmark = pytest.mark.anyio

REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


def exec_kubeconfig(plane: ControlPlane, path: Path, state: Path, **env: str) -> Path:
    """The plane's kubeconfig with its user swapped for the stand-in exec plugin."""
    doc: dict[str, Any] = yaml.safe_load(plane.kubeconfig.read_text())
    exec_spec = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": sys.executable,
        "args": [str(STANDIN), "token", str(state)],
        "env": [{"name": k, "value": v} for k, v in env.items()],
    }
    for user in doc["users"]:
        user["user"] = {"exec": exec_spec}
    path.write_text(yaml.safe_dump(doc))
    return path


async def whoami(kube: KubeClient) -> str:
    review = await kube.create("/apis/authentication.k8s.io/v1/selfsubjectreviews", REVIEW)
    return str(review["status"]["userInfo"]["username"])


async def test_concurrent_requests_share_one_plugin_run(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    token = control_plane.service_account_token(namespace, "exec-user")
    path = exec_kubeconfig(control_plane, tmp_path / "kubeconfig", tmp_path, STANDIN_TOKEN=token)
    names: list[str] = []

    async def ask(kube: KubeClient) -> None:
        names.append(await whoami(kube))

    with anyio.fail_after(60):
        async with KubeClient(from_kubeconfig(path)) as kube, anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(ask, kube)
    assert names == [f"system:serviceaccount:{namespace}:exec-user"] * 8
    assert len(runs(tmp_path)) == 1


async def test_an_expiring_token_is_renewed_by_running_the_plugin_again(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    token = control_plane.service_account_token(namespace, "exec-renewed")
    # Expiring within the renewal margin: the token is used once, then renewed.
    soon = (datetime.now(UTC) + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = exec_kubeconfig(
        control_plane, tmp_path / "kubeconfig", tmp_path, STANDIN_TOKEN=token, STANDIN_EXPIRY=soon
    )
    with anyio.fail_after(60):
        async with KubeClient(from_kubeconfig(path)) as kube:
            for _ in range(3):
                assert await whoami(kube) == f"system:serviceaccount:{namespace}:exec-renewed"
    assert len(runs(tmp_path)) == 3
