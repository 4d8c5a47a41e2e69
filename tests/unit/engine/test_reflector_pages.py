"""A list is transformed page by page: the sink gets transformed objects, raw pages are dropped."""

from __future__ import annotations

from typing import Any

import pytest

from exoccm.engine.reflector import Reflector, ReflectorOptions
from exoccm.kube.client import ListResult
from exoccm.kube.objects import Obj
from exoccm.kube.resources import CONFIG_MAPS

pytestmark = pytest.mark.anyio


class PagedClient:
    """Serves ``total`` ConfigMaps in pages; remembers every page it handed out."""

    def __init__(self, total: int):
        self.objects = [
            {"metadata": {"name": f"cm-{i}", "resourceVersion": "7"}, "data": {"big": "x" * 100}}
            for i in range(total)
        ]
        self.pages: list[list[Obj]] = []

    async def list(self, path: str, *, params: dict[str, Any], timeout: float) -> ListResult:
        start = int(params.get("continue", 0))
        end = start + int(params["limit"])
        page = [dict(obj) for obj in self.objects[start:end]]
        self.pages.append(page)
        token = str(end) if end < len(self.objects) else None
        return ListResult(items=page, resource_version="7", continue_token=token)


class Sink:
    def __init__(self) -> None:
        self.replaced: list[Obj] = []

    async def replace(self, objects: list[Obj], resource_version: str) -> None:
        self.replaced = objects

    async def apply(self, event_type: str, obj: Obj) -> None:
        raise AssertionError("no watch here")


def slim(obj: Obj) -> Obj:
    return {"metadata": obj["metadata"]}


async def test_pages_are_transformed_as_they_arrive_and_then_dropped() -> None:
    client = PagedClient(total=25)
    sink = Sink()
    reflector = Reflector(
        client,  # type: ignore[arg-type]
        CONFIG_MAPS,
        sink,
        name="pages",
        options=ReflectorOptions(page_size=10),
        transform=slim,
    )
    await reflector.relist()
    assert [o["metadata"]["name"] for o in sink.replaced] == [f"cm-{i}" for i in range(25)]
    assert all("data" not in o for o in sink.replaced)
    assert len(client.pages) == 3
    assert all(page == [] for page in client.pages), "a raw page outlived its transformation"


async def test_without_a_transform_the_sink_gets_the_objects_as_listed() -> None:
    client = PagedClient(total=12)
    sink = Sink()
    reflector = Reflector(
        client,  # type: ignore[arg-type]
        CONFIG_MAPS,
        sink,
        name="pages",
        options=ReflectorOptions(page_size=5),
    )
    await reflector.relist()
    assert sink.replaced == client.objects
