"""The fuller plane starts only with all its binaries and stops without leaving a process."""

from __future__ import annotations

from pathlib import Path

import pytest

from exoccm.testing import binaries
from exoccm.testing.controlplane import ControlPlaneError
from exoccm.testing.fullplane import FullControlPlane
from exoccm.testing.podnet import PodNetwork
from tests.integration.test_control_plane import _alive, _wait_gone


def test_missing_binaries_are_named_and_nothing_is_left(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in binaries.BINARIES:
        (bare / name).write_text("")
    plane = FullControlPlane(binaries.Assets(bare), workdir=tmp_path / "plane")
    with pytest.raises(ControlPlaneError) as refused:
        plane.start()
    message = str(refused.value)
    for name in ("kube-controller-manager", "kube-scheduler", "kubectl", "kwok"):
        assert name in message
    assert "kube-apiserver," not in message
    assert "--full" in message
    assert not (tmp_path / "plane").exists()


def test_a_pod_cidr_overlapping_the_service_cidr_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="overlaps the Service CIDR"):
        FullControlPlane(
            binaries.Assets(tmp_path),
            workdir=tmp_path / "plane",
            pod_network=PodNetwork.of("10.96.0.0/12", "127.96.0.0/12"),
        )


def test_stop_leaves_no_processes(full_control_plane: FullControlPlane, tmp_path: Path) -> None:
    # Its own plane, so that the session's stays up; the session's binaries are built by now.
    plane = FullControlPlane(full_control_plane.assets, workdir=tmp_path / "plane").start()
    processes = [
        plane._etcd,
        plane._apiserver,
        plane._controller_manager,
        plane._scheduler,
        plane._kwok,
    ]
    pids = [process.proc.pid for process in processes if process.proc is not None]
    assert len(pids) == 5
    assert all(_alive(pid) for pid in pids)
    plane.stop()
    assert _wait_gone(pids) == []
    assert not (tmp_path / "plane").exists()
