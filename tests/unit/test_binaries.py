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


def test_fuller_plane_binaries_missing_from_the_environment_come_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    envtest = tmp_path / "envtest"
    _fake_bins(envtest, binaries.BINARIES)
    monkeypatch.setenv("EXOCCM_KUBE_ASSETS", str(envtest))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cached = binaries.cache_root() / binaries.cache_key(binaries.tools_dir())
    extra = ("kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
    _fake_bins(cached, extra)  # as if built before: nothing to build now
    assets = binaries.ensure(progress=pytest.fail, needs=binaries.FULL_PLANE)
    assert assets.directory != envtest
    assert assets.kube_apiserver.resolve() == (envtest / "kube-apiserver").resolve()
    assert assets.helm.resolve() == (envtest / "helm").resolve()
    assert assets.kubectl.resolve() == (cached / "kubectl").resolve()
    assert assets.kwok.resolve() == (cached / "kwok").resolve()
    assert assets.kube_controller_manager.resolve() == (cached / extra[0]).resolve()
    assert assets.kube_scheduler.resolve() == (cached / extra[1]).resolve()


def test_the_bare_set_does_not_build_the_fuller_plane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EXOCCM_KUBE_ASSETS", raising=False)
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = binaries.cache_root() / binaries.cache_key(binaries.tools_dir())
    _fake_bins(cached, binaries.BINARIES)
    assert binaries.ensure(progress=pytest.fail).directory == cached
    assert not (cached / "kube-controller-manager").exists()


def test_cache_directory_with_the_environment_is_not_linked_to_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = binaries.cache_root() / binaries.cache_key(binaries.tools_dir())
    _fake_bins(cached, binaries.FULL_PLANE)
    (cached / "kubectl").unlink()
    monkeypatch.setenv("EXOCCM_KUBE_ASSETS", str(cached))
    _fake_bins(cached, ("kubectl",))
    assert binaries.ensure(progress=pytest.fail, needs=binaries.FULL_PLANE).directory == cached


def test_unknown_binaries_are_refused_by_name() -> None:
    with pytest.raises(binaries.BinariesError, match="kubelet"):
        binaries.ensure(progress=pytest.fail, needs=("kube-apiserver", "kubelet"))


def test_cache_key_changes_with_the_kwok_wrapper(tmp_path: Path) -> None:
    for module in binaries.WRAPPER_MODULES:
        (tmp_path / module).mkdir()
        (tmp_path / module / "go.mod").write_text("module x\n")
    before = binaries.cache_key(tmp_path)
    (tmp_path / "kwok" / "go.mod").write_text("module y\n")
    assert binaries.cache_key(tmp_path) != before
    assert f"kwok{binaries.KWOK_VERSION}" in before


def _script(path: Path, output: str, code: int = 0) -> Path:
    path.write_text(f"#!/bin/sh\necho '{output}'\nexit {code}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.mark.parametrize("name", ["kube-controller-manager", "kube-scheduler", "kubectl", "kwok"])
def test_a_binary_reporting_another_version_is_refused(tmp_path: Path, name: str) -> None:
    (target,) = [t for t in binaries.TARGETS if t.name == name]
    wrong = _script(tmp_path / name, "Kubernetes v0.0.0-master+$Format:%H$")
    with pytest.raises(binaries.BinariesError, match=f"{name} reports"):
        binaries._check_version(target, wrong)
    right = _script(tmp_path / f"{name}-ok", f"version {target.expected_version} (linux/amd64)")
    binaries._check_version(target, right)
