"""What KWOK is told: its stages, its command line, the Nodes it cares for."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml

from exoccm.testing import kwok


def _templates() -> list[str]:
    return [
        stage["spec"]["next"]["statusTemplate"]
        for stage in kwok.stages()
        if "statusTemplate" in stage["spec"]["next"]
    ]


def test_no_stage_writes_node_addresses_the_cloud_provider_owns_them() -> None:
    node_templates = [
        stage["spec"]["next"]["statusTemplate"]
        for stage in kwok.stages()
        if stage["spec"]["resourceRef"]["kind"] == "Node"
    ]
    assert len(node_templates) == 2
    for template in node_templates:
        assert "addresses" not in template
        assert "nodeInfo" not in template


def test_stages_cover_node_readiness_refresh_and_the_pod_lifecycle() -> None:
    stages = {stage["metadata"]["name"]: stage for stage in kwok.stages()}
    refresh = stages["exoccm-node-status-refresh"]["spec"]
    assert refresh["delay"] == {
        "durationMilliseconds": kwok.FREQUENT_REPORTS.every_ms,
        "jitterDurationMilliseconds": 15_000,
    }
    assert "lastHeartbeatTime: {{ $now | Quote }}" in refresh["next"]["statusTemplate"]
    running = stages["exoccm-pod-running"]["spec"]["next"]["statusTemplate"]
    for field in ("phase: Running", "podIP:", "hostIP:", "containerStatuses:"):
        assert field in running
    assert stages["exoccm-pod-deleted"]["spec"]["next"] == {"delete": True}
    assert all(s["apiVersion"] == "kwok.x-k8s.io/v1alpha1" for s in stages.values())


def test_kubelet_like_reports_come_every_five_minutes_give_or_take_one_status_check() -> None:
    stages = {s["metadata"]["name"]: s for s in kwok.stages(kwok.KUBELET_REPORTS)}
    # KWOK waits a random time from durationMilliseconds up to jitterDurationMilliseconds.
    assert stages["exoccm-node-status-refresh"]["spec"]["delay"] == {
        "durationMilliseconds": 300_000,
        "jitterDurationMilliseconds": 310_000,
    }
    frequent = {s["metadata"]["name"]: s for s in kwok.stages()}
    del stages["exoccm-node-status-refresh"], frequent["exoccm-node-status-refresh"]
    assert stages == frequent


def test_status_reports_refuse_nonsense_periods() -> None:
    with pytest.raises(ValueError, match="every_ms > 0"):
        kwok.StatusReports(every_ms=0, jitter_ms=0)
    with pytest.raises(ValueError, match="jitter_ms >= 0"):
        kwok.StatusReports(every_ms=1_000, jitter_ms=-1)


def test_config_file_holds_every_stage_as_its_own_document(tmp_path: Path) -> None:
    path = kwok.write_config(tmp_path / "kwok.yaml")
    assert list(yaml.safe_load_all(path.read_text())) == kwok.stages()
    path = kwok.write_config(tmp_path / "kubelet.yaml", kwok.KUBELET_REPORTS)
    assert list(yaml.safe_load_all(path.read_text())) == kwok.stages(kwok.KUBELET_REPORTS)


def test_templates_keep_go_template_actions_balanced() -> None:
    for template in _templates():
        assert template.count("{{") == template.count("}}")
        assert "\\\n" not in template


def test_arguments_select_labelled_nodes_and_the_pod_cidr(tmp_path: Path) -> None:
    cidr = ipaddress.IPv4Network("10.123.0.0/16")
    args = kwok.arguments(
        tmp_path / "kwok", tmp_path / "kubeconfig", tmp_path / "kwok.yaml", cidr, 4321
    )
    assert args[0] == str(tmp_path / "kwok")
    assert "--manage-nodes-with-label-selector=kwok.x-k8s.io/node=fake" in args
    assert "--cidr=10.123.0.0/16" in args
    assert "--server-address=127.0.0.1:4321" in args
    assert not any(a.startswith("--manage-all-nodes") for a in args)


def test_node_manifest_is_in_kwoks_care_and_reports_nothing_yet() -> None:
    manifest = kwok.node_manifest(
        "n1", labels={"team": "web"}, addresses=[("InternalIP", "127.0.0.9")], uninitialized=True
    )
    assert manifest["metadata"]["labels"] == {
        "kubernetes.io/hostname": "n1",
        "team": "web",
        "kwok.x-k8s.io/node": "fake",
    }
    assert "conditions" not in manifest["status"]
    assert manifest["status"]["addresses"] == [{"type": "InternalIP", "address": "127.0.0.9"}]
    assert manifest["spec"]["taints"][0]["key"] == "node.cloudprovider.kubernetes.io/uninitialized"
