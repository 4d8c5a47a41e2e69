from __future__ import annotations

import pytest

from exoccm.testing import binaries
from tests.unit.chart.helm import Helm


@pytest.fixture(scope="session")
def helm(kube_assets: binaries.Assets, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """The helm binary built with the control plane (cached), with a private home."""
    return Helm(kube_assets.helm, tmp_path_factory.mktemp("helm-home"))
