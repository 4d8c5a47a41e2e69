"""Decoding watch lines: events reach the sink, bookmarks only move the resourceVersion."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from exoccm.engine.reflector import (
    MalformedEventError,
    Reflector,
    ReflectorOptions,
    WatchExpiredError,
)
from exoccm.kube.client import KubeClient
from exoccm.kube.config import KubeConfig
from exoccm.kube.errors import KubeServerError
from exoccm.kube.resources import CONFIG_MAPS

pytestmark = pytest.mark.anyio


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    async def replace(self, objects: list[dict[str, Any]], resource_version: str) -> None:
        raise AssertionError("not listing here")

    async def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        self.events.append((event_type, obj["metadata"]["name"]))


@pytest.fixture
async def reflector() -> Any:
    client = KubeClient(KubeConfig(server="http://127.0.0.1:9"))  # never contacted
    yield Reflector(client, CONFIG_MAPS, Sink(), name="lines")
    await client.aclose()


def _line(kind: str, obj: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": kind, "object": obj})


def _cm(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


async def test_events_reach_the_sink_and_advance_the_resource_version(reflector: Any) -> None:
    await reflector.handle_line(_line("ADDED", _cm("a", "10")))
    await reflector.handle_line(_line("MODIFIED", _cm("a", "11")))
    await reflector.handle_line(_line("DELETED", _cm("a", "12")))
    assert reflector.sink.events == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    assert reflector.last_sync_rv == "12"


async def test_a_bookmark_only_moves_the_resource_version(reflector: Any) -> None:
    await reflector.handle_line(_line("BOOKMARK", {"metadata": {"resourceVersion": "99"}}))
    assert reflector.sink.events == []
    assert reflector.last_sync_rv == "99"


async def test_an_expired_error_event_means_relist(reflector: Any) -> None:
    status = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    with pytest.raises(WatchExpiredError, match="too old"):
        await reflector.handle_line(_line("ERROR", status))


async def test_other_error_events_raise_typed_errors(reflector: Any) -> None:
    status = {"kind": "Status", "code": 500, "reason": "InternalError", "message": "etcd"}
    with pytest.raises(KubeServerError, match="etcd"):
        await reflector.handle_line(_line("ERROR", status))


@pytest.mark.parametrize(
    "line",
    [b'{"type": "ADDED"}', b'{"type": "SURPRISE", "object": {"metadata": {}}}'],
)
async def test_malformed_lines_are_rejected(reflector: Any, line: bytes) -> None:
    with pytest.raises(MalformedEventError):
        await reflector.handle_line(line)


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="watch_timeout_min"):
        ReflectorOptions(watch_timeout_min=0)
    with pytest.raises(ValueError, match="positive"):
        ReflectorOptions(page_size=0)
