"""The node controllers' configuration from Settings, and what gets wired."""

from __future__ import annotations

from pathlib import Path

import pytest

from exoccm.config import Settings
from exoccm.controllers.node.runner import NodeControllerConfig

BASE = {
    "EXOSCALE_API_KEY": "EXO0123456789abcdef01234567",
    "EXOSCALE_API_SECRET": "Zz9-verysecret_0123456789abcdefghijklmnopqr",
    "EXOSCALE_API_ZONE": "ch-gva-2",
}


def config(env: dict[str, str], tmp_path: Path, cloud_config: str = "") -> NodeControllerConfig:
    if cloud_config:
        path = tmp_path / "cloud-config.yaml"
        path.write_text(cloud_config)
        env = {**env, "EXOCCM_CLOUD_CONFIG": str(path)}
    settings = Settings.from_environment(env, namespace_file=tmp_path / "namespace")
    return NodeControllerConfig.from_settings(settings)


@pytest.mark.parametrize(
    ("extra", "enabled"),
    [
        ({}, {"node", "lifecycle"}),
        ({"EXOSCALE_SKS_AGENT_RUNNERS": "node-csr-validation"}, {"node", "lifecycle", "csr"}),
        ({"EXOCCM_CONTROLLERS": "*,-lifecycle"}, {"node"}),
        ({"EXOCCM_CONTROLLERS": "service,csr"}, {"csr"}),
    ],
)
def test_enabled_controllers(extra: dict[str, str], enabled: set[str], tmp_path: Path) -> None:
    assert config({**BASE, **extra}, tmp_path).enabled == enabled


def test_settings_carry_over(tmp_path: Path) -> None:
    result = config(
        {
            **BASE,
            "EXOCCM_NODE_WORKERS": "7",
            "EXOCCM_NODE_REFRESH_PERIOD": "90s",
            "EXOCCM_NODE_MONITOR_PERIOD": "1500ms",
        },
        tmp_path,
        "instances:\n  externalOnly: true\n  overrides:\n    - name: edge-1\n      external: true\n",
    )
    assert result.default_zone == "ch-gva-2"
    assert result.workers == 7
    assert result.refresh_period == 90.0
    assert result.monitor_period == 1.5
    assert result.instances.external_only
    assert result.instances.override_for("edge-1") is not None


def test_disabled_instances_leave_only_csr(tmp_path: Path) -> None:
    result = config(
        {**BASE, "EXOSCALE_SKS_AGENT_RUNNERS": "node-csr-validation"},
        tmp_path,
        "instances:\n  disabled: true\n",
    )
    assert result.enabled == {"csr"}
