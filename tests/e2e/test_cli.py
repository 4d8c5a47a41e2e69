"""``exoccm plan``, the help texts and bad settings as an operator meets them (``exoccm demo``:
test_demo.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from exoccm.kube.resources import SERVICES
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.process import ExoccmProcess
from exoccm.testing.scenario import register_nodes, seed_cloud, website_service
from exoccm.testing.simprocess import SimProcess
from tests.e2e.conftest import ZONE, wait_for


def exoccm_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EXOSCALE_", "EXOCCM_"))}
    return subprocess.run(
        [sys.executable, "-m", "exoccm", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_plan_shows_changes_and_makes_none(
    clean_cluster: ControlPlane,
    simulator: SimProcess,
    exoccm_factory: Callable[..., ExoccmProcess],
    namespace: str,
) -> None:
    _, instances = seed_cloud(simulator, ZONE)
    register_nodes(clean_cluster, instances, uninitialized=False)
    clean_cluster.apply(SERVICES.path(namespace), website_service(ZONE))
    env = {**simulator.env(ZONE), "EXOCCM_LEADER_ELECTION_NAMESPACE": namespace}

    before = exoccm_cli("plan", "--kubeconfig", str(clean_cluster.kubeconfig), env=env)
    assert before.returncode == 0, before.stdout + before.stderr
    assert f"{namespace}/website (zone {ZONE}):" in before.stdout
    assert "  - create NLB k8s-" in before.stdout
    assert "  - add NLB service " in before.stdout
    assert all(r["method"] == "GET" for r in simulator.requests()), "plan changed something"
    assert simulator.load_balancers(ZONE) == []

    process = exoccm_factory()
    wait_for(
        lambda: simulator.load_balancers(ZONE) and _has_ip(clean_cluster, namespace),
        what="convergence",
    )
    process.stop()
    converged = exoccm_cli("plan", "--kubeconfig", str(clean_cluster.kubeconfig), env=env)
    assert f"{namespace}/website (zone {ZONE}): in sync" in converged.stdout, converged.stdout

    (nlb,) = simulator.load_balancers(ZONE)
    simulator.call(
        "edit_load_balancer_service",
        zone=ZONE,
        lb_id=nlb["id"],
        service_id=nlb["services"][0]["id"],
        fields={"strategy": "source-hash"},
    )
    writes_before = sum(1 for r in simulator.requests() if r["method"] != "GET")
    drifted = exoccm_cli("plan", "--kubeconfig", str(clean_cluster.kubeconfig), env=env)
    assert "  - update NLB service " in drifted.stdout
    assert "(strategy)" in drifted.stdout
    assert sum(1 for r in simulator.requests() if r["method"] != "GET") == writes_before


def _has_ip(plane: ControlPlane, namespace: str) -> bool:
    with plane.http() as client:
        svc = client.get(SERVICES.path(namespace, "website")).json()
    return bool((svc.get("status", {}).get("loadBalancer") or {}).get("ingress"))


def test_help_texts_explain_every_command() -> None:
    top = exoccm_cli("--help")
    for command in ("run", "sim", "demo", "plan", "doctor", "version"):
        assert f"    {command}" in top.stdout
    run = exoccm_cli("run", "--help")
    assert "EXOSCALE_API_KEY" in run.stdout
    assert "--kubeconfig" in run.stdout
    version = exoccm_cli("version")
    assert version.stdout.startswith("exoccm ")


def test_run_reports_every_bad_setting_and_exits(tmp_path: Path) -> None:
    result = exoccm_cli(
        "run", env={"EXOCCM_METRICS_PORT": "99999", "EXOSCALE_API_KEY": "x"}, timeout=60
    )
    assert result.returncode == 2
    assert "EXOCCM_METRICS_PORT" in result.stderr
    assert "EXOSCALE_API_ZONE" in result.stderr
