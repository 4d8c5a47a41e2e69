from __future__ import annotations

import stat
from pathlib import Path

import pytest

from exoccm.testing import binaries


def _fake_bins(directory: Path, names: tuple[str, ...]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = directory / name
        path.write_text("#!/bin/sh\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_environment_directory_with_all_binaries_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_bins(tmp_path, binaries.BINARIES)
    monkeypatch.setenv("EXOCCM_KUBE_ASSETS", str(tmp_path))
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    assert binaries.ensure(progress=pytest.fail).directory == tmp_path


def test_kubebuilder_assets_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_bins(tmp_path, binaries.BINARIES)
    monkeypatch.delenv("EXOCCM_KUBE_ASSETS", raising=False)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))
    assert binaries.ensure(progress=pytest.fail).directory == tmp_path


def test_incomplete_environment_directory_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_bins(tmp_path, ("etcd",))
    monkeypatch.setenv("EXOCCM_KUBE_ASSETS", str(tmp_path))
    assert binaries.from_environment() is None


def test_envtest_directory_without_helm_borrows_cached_helm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    envtest = tmp_path / "envtest"
    _fake_bins(envtest, ("kube-apiserver", "etcd"))
    monkeypatch.setenv("EXOCCM_KUBE_ASSETS", str(envtest))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cached = binaries.cache_root() / binaries.cache_key(binaries.tools_dir())
    _fake_bins(cached, ("helm",))  # as if built before: nothing to build now
    assets = binaries.ensure(progress=pytest.fail)
    assert assets.kube_apiserver.resolve() == (envtest / "kube-apiserver").resolve()
    assert assets.helm.resolve() == (cached / "helm").resolve()


def test_cached_binaries_are_reused_without_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EXOCCM_KUBE_ASSETS", raising=False)
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = binaries.cache_root() / binaries.cache_key(binaries.tools_dir())
    _fake_bins(cached, binaries.BINARIES)
    assert binaries.ensure(progress=pytest.fail).directory == cached


def test_cache_key_changes_with_the_wrapper_module(tmp_path: Path) -> None:
    for module in ("k8s", "helm"):
        (tmp_path / module).mkdir()
        (tmp_path / module / "go.mod").write_text("module x\n")
    before = binaries.cache_key(tmp_path)
    (tmp_path / "k8s" / "go.sum").write_text("changed\n")
    after = binaries.cache_key(tmp_path)
    assert before != after
    assert before.startswith(binaries.KUBERNETES_VERSION)


def test_kube_ldflags_set_the_release_version() -> None:
    flags = binaries._kube_ldflags()
    assert f"k8s.io/component-base/version.gitVersion={binaries.KUBERNETES_VERSION}" in flags
    assert "k8s.io/client-go/pkg/version.gitMinor=37" in flags


def test_what_is_not_needed_is_not_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    envtest = tmp_path / "envtest"
    _fake_bins(envtest, ("kube-apiserver", "etcd"))
    monkeypatch.setenv("EXOCCM_KUBE_ASSETS", str(envtest))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assets = binaries.ensure(progress=pytest.fail, needs=("kube-apiserver", "etcd"))
    assert assets.directory == envtest
