"""pytest fixtures for the real control plane. Enable with ``pytest_plugins`` in conftest."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from exoccm.kube.client import KubeClient
from exoccm.kube.config import from_kubeconfig
from exoccm.kube.resources import NAMESPACES
from exoccm.testing import binaries
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.fullplane import FullControlPlane


@pytest.fixture(scope="session")
def kube_assets() -> binaries.Assets:
    """kube-apiserver, etcd and helm: from EXOCCM_KUBE_ASSETS, the cache, or a build."""
    return binaries.ensure()


@pytest.fixture(scope="session")
def control_plane(
    kube_assets: binaries.Assets, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """One etcd + kube-apiserver for the whole test session."""
    with ControlPlane(kube_assets, workdir=tmp_path_factory.mktemp("control-plane")) as plane:
        yield plane


@pytest.fixture(scope="session")
def full_control_plane(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FullControlPlane]:
    """A second etcd + kube-apiserver for the session, with kube-controller-manager,
    kube-scheduler and KWOK: Deployments make Pods that run on KWOK's Nodes. Started the first
    time a test asks for it; its own apiserver keeps the controllers away from the other tests'
    objects on the bare ``control_plane``."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    # The first build of the extra binaries takes minutes: let its progress reach the terminal.
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        assets = binaries.ensure(needs=binaries.FULL_PLANE)
    with FullControlPlane(assets, workdir=tmp_path_factory.mktemp("full-control-plane")) as plane:
        yield plane


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
