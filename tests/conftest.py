"""Shared test configuration: anyio on asyncio, and the real control-plane fixtures."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

pytest_plugins = ["exoccm.testing.pytest_plugin"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    # kubernetes-asyncio (benchmarks) and our code are asyncio-only.
    return "asyncio"


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """Whatever a test leaves unclosed (a socket, a transport) is reported by the GC: collect
    at the end of each test so the report names the test that leaked it."""
    yield
    gc.collect()
