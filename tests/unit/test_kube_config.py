from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from exoccm.kube.config import KubeConfigError, from_kubeconfig, in_cluster, load


def _write(path: Path, doc: object) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def _doc(user: dict[str, object], cluster: dict[str, object] | None = None) -> dict[str, object]:
    return {
        "clusters": [
            {"name": "c", "cluster": {"server": "https://127.0.0.1:6443/", **(cluster or {})}}
        ],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "ns"}}],
        "current-context": "ctx",
    }


def test_token_kubeconfig(tmp_path: Path) -> None:
    ca = base64.b64encode(b"CA-PEM").decode()
    config = from_kubeconfig(
        _write(tmp_path / "kc", _doc({"token": "s3cret"}, {"certificate-authority-data": ca}))
    )
    assert config.server == "https://127.0.0.1:6443"
    assert config.token == "s3cret"
    assert config.ca_data == b"CA-PEM"
    assert config.namespace == "ns"
    assert "s3cret" not in repr(config)


def test_relative_file_paths_resolve_against_the_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_bytes(b"FROM-FILE")
    config = from_kubeconfig(
        _write(tmp_path / "kc", _doc({"tokenFile": "/t"}, {"certificate-authority": "ca.crt"}))
    )
    assert config.ca_data == b"FROM-FILE"
    assert config.token_file == Path("/t")


def test_missing_context_is_named(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="no context named 'other'"):
        from_kubeconfig(_write(tmp_path / "kc", _doc({})), context="other")


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="cannot read kubeconfig"):
        from_kubeconfig(tmp_path / "absent")


def test_in_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("tok\n")
    (tmp_path / "ca.crt").write_bytes(b"CA")
    (tmp_path / "namespace").write_text("kube-system")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    config = in_cluster(tmp_path)
    assert config.server == "https://[fd00::1]:443"
    assert config.token_file == tmp_path / "token"
    assert config.namespace == "kube-system"


def test_load_without_anything_explains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    with pytest.raises(KubeConfigError, match="no Kubernetes configuration"):
        load()
