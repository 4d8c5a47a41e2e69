"""exoccm's Kubernetes client counts its requests with client-go's metric names and labels, by
apiserver host, against the real apiserver."""

from __future__ import annotations

import socket

import httpx
import pytest
from prometheus_client import REGISTRY

from exoccm.kube.client import KubeClient
from exoccm.kube.config import KubeConfig
from exoccm.kube.errors import KubeConnectionError, KubeNotFoundError
from exoccm.kube.resources import CONFIG_MAPS

pytestmark = pytest.mark.anyio


def _requests(code: str, method: str, host: str) -> float:
    labels = {"code": code, "method": method, "host": host}
    return REGISTRY.get_sample_value("rest_client_requests_total", labels) or 0.0


def _timed(verb: str, host: str) -> float:
    labels = {"verb": verb, "host": host}
    return REGISTRY.get_sample_value("rest_client_request_duration_seconds_count", labels) or 0.0


async def test_requests_are_counted_by_code_method_and_host(
    kube: KubeClient, namespace: str
) -> None:
    host = httpx.URL(kube.config.server).netloc.decode()
    assert host.startswith("127.0.0.1:")
    before = {
        ("201", "POST"): _requests("201", "POST", host),
        ("404", "GET"): _requests("404", "GET", host),
        ("200", "GET"): _requests("200", "GET", host),
    }
    timed_gets = _timed("GET", host)

    await kube.create(CONFIG_MAPS.path(namespace), {"metadata": {"name": "counted"}})
    with pytest.raises(KubeNotFoundError):
        await kube.get(CONFIG_MAPS.path(namespace, "absent"))
    async with kube.stream_lines(
        CONFIG_MAPS.path(namespace), params={"watch": True, "timeoutSeconds": 1}, read_timeout=30
    ) as lines:
        async for _ in lines:
            pass

    assert _requests("201", "POST", host) == before[("201", "POST")] + 1
    assert _requests("404", "GET", host) == before[("404", "GET")] + 1
    assert _requests("200", "GET", host) == before[("200", "GET")] + 1  # the watch
    assert _timed("GET", host) == timed_gets + 1  # the failed get, not the watch


async def test_an_unreachable_apiserver_counts_as_error() -> None:
    # A port nothing listens on: bind one, then close it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = f"127.0.0.1:{port}"
    before = _requests("<error>", "GET", host)
    async with KubeClient(KubeConfig(server=f"http://{host}"), timeout=5) as kube:
        with pytest.raises(KubeConnectionError):
            await kube.get("/api/v1/namespaces")
    assert _requests("<error>", "GET", host) == before + 1
    assert _timed("GET", host) == 1
