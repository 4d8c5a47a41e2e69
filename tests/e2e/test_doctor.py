"""``exoccm doctor``: one verdict per check, non-zero exit when something is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.scenario import register_nodes, seed_cloud
from exoccm.testing.simprocess import SimProcess
from tests.e2e.conftest import ZONE


def doctor(kubeconfig: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EXOSCALE_", "EXOCCM_"))}
    return subprocess.run(
        [sys.executable, "-m", "exoccm", "doctor", "--kubeconfig", str(kubeconfig)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_working_installation_passes_every_check(
    clean_cluster: ControlPlane, simulator: SimProcess, namespace: str
) -> None:
    _, instances = seed_cloud(simulator, ZONE)
    register_nodes(clean_cluster, instances, uninitialized=False)
    result = doctor(
        clean_cluster.kubeconfig,
        {**simulator.env(ZONE), "EXOCCM_LEADER_ELECTION_NAMESPACE": namespace},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for check in (
        "configuration",
        "Exoscale endpoint",
        "Exoscale credentials",
        "Kubernetes API",
        "RBAC",
        "Instance Pools",
    ):
        assert any(line.startswith(f"[ ok ] {check}:") for line in lines), result.stdout
    assert "pool-website-1" in result.stdout
    writes = [r for r in simulator.requests() if r["method"] != "GET"]
    assert writes == [], "doctor must not change anything"


def test_missing_rbac_and_bad_credentials_are_named(
    clean_cluster: ControlPlane, simulator: SimProcess, namespace: str, tmp_path: Path
) -> None:
    token = clean_cluster.service_account_token(namespace, "unprivileged")
    kubeconfig = clean_cluster.write_kubeconfig(tmp_path / "sa.kubeconfig", token)
    env = {
        **simulator.env(ZONE),
        "EXOSCALE_API_SECRET": "W" * 43,
        "EXOCCM_LEADER_ELECTION_NAMESPACE": namespace,
    }
    result = doctor(kubeconfig, env)
    assert result.returncode == 1
    out = result.stdout
    assert "[ ok ] Exoscale endpoint:" in out
    assert "[FAIL] Exoscale credentials:" in out
    assert "[FAIL] RBAC:" in out
    assert "missing: list nodes" in out
    assert "missing: patch services/status" in out
    assert "W" * 43 not in out + result.stderr, "the secret leaked into the output"


def test_bad_configuration_lists_every_problem(tmp_path: Path, control_plane: ControlPlane) -> None:
    result = doctor(
        control_plane.kubeconfig,
        {"EXOSCALE_API_KEY": "nope", "EXOCCM_SERVICE_WORKERS": "many"},
    )
    assert result.returncode == 1
    assert result.stdout.startswith("[FAIL] configuration:")
    assert "EXOSCALE_API_KEY" in result.stdout
    assert "EXOCCM_SERVICE_WORKERS" in result.stdout
    assert "EXOSCALE_API_ZONE" in result.stdout
