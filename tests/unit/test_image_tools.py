"""The pure parts of the image session (tests/image): cache key, budget, package list, mounts,
and the rule that keeps tests/image out of ``pytest tests``."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from tests.image import build, standin_base
from tests.image.conftest import pytest_ignore_collect
from tests.image.container import resolve_in

REPO = Path(__file__).resolve().parents[2]


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    sources = tmp_path / "debian.sources"
    sources.write_text("Types: deb\nSuites: bookworm bookworm-updates\nComponents: main\n")
    bundle = tmp_path / "ca.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    return sources, bundle


def test_the_base_cache_key_follows_every_input(tmp_path: Path) -> None:
    sources, bundle = _inputs(tmp_path)
    key = standin_base.cache_key(sources, bundle, "mmdebstrap 1.3.5")
    assert key == standin_base.cache_key(sources, bundle, "mmdebstrap 1.3.5\n")
    assert key != standin_base.cache_key(sources, bundle, "mmdebstrap 1.5.7")
    bundle.write_text(bundle.read_text() + "-----BEGIN CERTIFICATE-----\nBBBB\n")
    with_proxy_ca = standin_base.cache_key(sources, bundle, "mmdebstrap 1.3.5")
    assert with_proxy_ca != key
    sources.write_text(sources.read_text() + "Types: deb\nSuites: bookworm-security\n")
    assert standin_base.cache_key(sources, bundle, "mmdebstrap 1.3.5") != with_proxy_ca


def test_apt_sources_must_name_bookworm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources, _ = _inputs(tmp_path)
    monkeypatch.setenv(standin_base.SOURCES_ENV, str(sources))
    assert standin_base.apt_sources() == sources
    sources.write_text("deb http://127.0.0.1/debian trixie main\n")
    with pytest.raises(standin_base.StandinError, match=standin_base.SOURCES_ENV):
        standin_base.apt_sources()


def test_mmdebstrap_gets_the_sources_last_and_uploads_the_ca_bundle(tmp_path: Path) -> None:
    sources, bundle = _inputs(tmp_path)
    args = standin_base.mmdebstrap_args(sources, bundle, tmp_path / "base.tar")
    assert args[-3:] == ["bookworm", str(tmp_path / "base.tar"), str(sources)]
    assert f"--customize-hook=upload {bundle} /etc/ssl/certs/ca-certificates.crt" in args
    assert "--variant=minbase" in args


def test_the_size_budget_is_enforced() -> None:
    build.check_budget(build.SIZE_BUDGET)
    with pytest.raises(build.ImageBuildError, match=r"over its 190 MB budget"):
        build.check_budget(build.SIZE_BUDGET + 1)


def test_installed_packages_are_read_from_the_virtualenv(tmp_path: Path) -> None:
    site = tmp_path / "app/.venv/lib/python3.11/site-packages"
    for name, version in (("PyYAML", "6.0.4"), ("typing_extensions", "4.16.0")):
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n")
    assert build.installed_packages(tmp_path) == {
        "pyyaml": "6.0.4",
        "typing-extensions": "4.16.0",
    }


def test_mount_targets_follow_symlinks_inside_the_image(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "var").mkdir()
    os.symlink("/run", tmp_path / "var" / "run")
    os.symlink("../run/lock", tmp_path / "var" / "lock")
    (tmp_path / "run" / "lock").mkdir()
    secrets = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert resolve_in(tmp_path, secrets) == "/run/secrets/kubernetes.io/serviceaccount"
    assert resolve_in(tmp_path, "/var/lock/x") == "/run/lock/x"
    assert resolve_in(tmp_path, "/tmp") == "/tmp"


def _config(*args: str) -> pytest.Config:
    return cast(
        pytest.Config, SimpleNamespace(args=list(args), invocation_params=SimpleNamespace(dir=REPO))
    )


@pytest.mark.parametrize(
    ("args", "collected"),
    [
        (["tests"], False),
        (["tests/unit", "tests/e2e/test_cli.py"], False),
        (["tests/image"], True),
        (["tests/image/test_contents.py::test_no_compiler"], True),
        (["tests/unit", "tests/image/"], True),
    ],
)
def test_tests_image_runs_only_when_named(args: list[str], collected: bool) -> None:
    path = REPO / "tests" / "image" / "test_website.py"
    ignored = pytest_ignore_collect(path, _config(*args))
    assert (ignored is None) is collected
