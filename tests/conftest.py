"""Shared test configuration: anyio on asyncio, and the real control-plane fixtures."""

from __future__ import annotations

import pytest

pytest_plugins = ["exoccm.testing.pytest_plugin"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    # kubernetes-asyncio (benchmarks) and our code are asyncio-only.
    return "asyncio"
