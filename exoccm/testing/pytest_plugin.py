"""pytest fixtures for the real control plane. Enable with ``pytest_plugins`` in conftest."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from exoccm.kube.client import KubeClient
from exoccm.kube.config import from_kubeconfig
from exoccm.kube.resources import NAMESPACES
from exoccm.testing import binaries
from exoccm.testing.controlplane import ControlPlane


@pytest.fixture(scope="session")
def kube_assets() -> binaries.Assets:
    """kube-apiserver, etcd and helm: from EXOCCM_KUBE_ASSETS, the cache, or a build."""
    return binaries.ensure()


@pytest.fixture(scope="session")
def control_plane(
    kube_assets: binaries.Assets, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """One etcd + kube-apiserver for the whole test session."""
    plane = ControlPlane(kube_assets, workdir=tmp_path_factory.mktemp("control-plane"))
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture
def namespace(control_plane: ControlPlane) -> str:
    """A fresh namespace per test: namespaces never finish deleting without a controller manager."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    control_plane.apply(NAMESPACES.path(), {"metadata": {"name": name}})
    return name


@pytest.fixture
async def kube(control_plane: ControlPlane) -> AsyncIterator[KubeClient]:
    """An admin KubeClient on the session's apiserver."""
    client = KubeClient(from_kubeconfig(control_plane.kubeconfig))
    try:
        yield client
    finally:
        await client.aclose()
