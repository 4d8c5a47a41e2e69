"""Helpers for engine integration tests: dedicated control planes, a spying client, compaction."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from exoccm.engine.informer import Informer, Tombstone
from exoccm.kube.client import KubeClient, ListResult
from exoccm.kube.config import from_kubeconfig
from exoccm.kube.errors import KubeConnectionError
from exoccm.kube.objects import Obj, key_of, resource_version
from exoccm.kube.resources import CONFIG_MAPS, NAMESPACES
from exoccm.testing import binaries
from exoccm.testing.controlplane import ControlPlane

ListHook = Callable[[Mapping[str, str | int | bool]], Awaitable[None]]


class UncachedControlPlane(ControlPlane):
    """An apiserver with its watch cache off: watches and paged lists go to etcd, so an etcd
    compaction turns an old resourceVersion or continue token into 410 Gone, as on a busy
    cluster whose watch cache has moved on."""

    def _apiserver_args(self, tokens: Path) -> list[str]:
        return [*super()._apiserver_args(tokens), "--watch-cache=false"]


@pytest.fixture(scope="module")
def own_plane(
    kube_assets: binaries.Assets, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """A control plane this module may restart (the session one stays undisturbed)."""
    plane = ControlPlane(kube_assets, workdir=tmp_path_factory.mktemp("own-plane"))
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module")
def uncached_plane(
    kube_assets: binaries.Assets, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    plane = UncachedControlPlane(kube_assets, workdir=tmp_path_factory.mktemp("uncached-plane"))
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


async def until(condition: Callable[[], object], timeout: float = 20.0) -> None:
    """Poll ``condition`` until it is truthy; fail with TimeoutError after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - the conditions are plain state, not events
            await anyio.sleep(0.01)


def new_namespace(plane: ControlPlane) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    plane.apply(NAMESPACES.path(), {"metadata": {"name": name}})
    return name


def compact(plane: ControlPlane) -> int:
    """Compact etcd at its current revision (physically); return that revision."""
    key = base64.b64encode(b"/").decode()
    current = httpx.post(f"{plane.etcd_url}/v3/kv/range", json={"key": key, "limit": 1}).json()
    revision = int(current["header"]["revision"])
    response = httpx.post(
        f"{plane.etcd_url}/v3/kv/compaction", json={"revision": str(revision), "physical": True}
    )
    response.raise_for_status()
    return revision


class SpyClient(KubeClient):
    """A real client that records list/watch calls and lets a test hold watches or list pages."""

    def __init__(self, plane: ControlPlane):
        super().__init__(from_kubeconfig(plane.kubeconfig))
        self.lists: list[dict[str, str]] = []
        self.watches: list[dict[str, str]] = []
        self.requests = 0
        self.methods: list[str] = []
        self.watch_open = anyio.Event()
        self.watch_open.set()
        self.watch_attempts = 0
        self.list_hook: ListHook | None = None
        self._drop_generation = 0

    def drop_watches(self) -> None:
        """Make open watches fail at their next line, as if the connection broke."""
        self._drop_generation += 1

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        self.requests += 1
        self.methods.append(method)
        return await super().request(method, path, **kwargs)

    async def list(
        self,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        timeout: float | None = None,
    ) -> ListResult:
        self.lists.append(_as_sent(params))
        if self.list_hook is not None:
            await self.list_hook(params or {})
        return await super().list(path, params=params, timeout=timeout)

    @asynccontextmanager
    async def stream_lines(
        self,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        read_timeout: float,
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        self.requests += 1
        self.watch_attempts += 1
        await self.watch_open.wait()
        self.watches.append(_as_sent(params))
        generation = self._drop_generation
        async with super().stream_lines(path, params=params, read_timeout=read_timeout) as lines:

            async def droppable() -> AsyncIterator[bytes]:
                async for line in lines:
                    if self._drop_generation != generation:
                        raise KubeConnectionError("test: connection dropped")
                    yield line

            yield droppable()


def _as_sent(params: Mapping[str, str | int | bool] | None) -> dict[str, str]:
    """Query parameters as the client puts them on the wire."""
    return {
        key: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for key, value in (params or {}).items()
    }


@dataclass
class Recorder:
    """Handlers that remember what they were told."""

    adds: list[tuple[str, bool]] = field(default_factory=list)
    updates: list[tuple[str, str, str, bool]] = field(default_factory=list)
    deletes: list[tuple[str, bool]] = field(default_factory=list)
    final: dict[str, Obj] = field(default_factory=dict)

    def on_add(self, obj: Obj, initial: bool) -> None:
        self.adds.append((key_of(obj), initial))
        self.final[key_of(obj)] = obj

    def on_update(self, old: Obj, new: Obj) -> None:
        self.updates.append((key_of(new), resource_version(old), resource_version(new), old is new))
        self.final[key_of(new)] = new

    def on_delete(self, obj: Obj | Tombstone) -> None:
        if isinstance(obj, Tombstone):
            self.deletes.append((obj.key, True))
            self.final.pop(obj.key, None)
        else:
            self.deletes.append((key_of(obj), False))
            self.final.pop(key_of(obj), None)

    def attach(self, informer: Informer, resync_period: float | None = None) -> None:
        informer.add_handler(
            self.on_add, self.on_update, self.on_delete, resync_period=resync_period
        )


@asynccontextmanager
async def running(informer: Informer, sync_timeout: float = 30.0) -> AsyncIterator[Informer]:
    """Run ``informer`` in a task group until the block ends; wait for its first sync."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        with anyio.fail_after(sync_timeout):
            await informer.wait_synced()
        yield informer
        tg.cancel_scope.cancel()


async def server_state(client: KubeClient, namespace: str) -> dict[str, tuple[str, Any]]:
    """``key -> (resourceVersion, data)`` of every ConfigMap in ``namespace``, fresh from the server."""
    page = await client.list(CONFIG_MAPS.path(namespace), params={"limit": 10_000})
    return {key_of(o): (resource_version(o), o.get("data")) for o in page.items}


def cache_state(objects: list[Obj]) -> dict[str, tuple[str, Any]]:
    return {key_of(o): (resource_version(o), o.get("data")) for o in objects}


async def converged(
    informer_objects: Callable[[], list[Obj]],
    client: KubeClient,
    namespace: str,
    timeout: float = 30.0,
) -> dict[str, tuple[str, Any]]:
    """Wait until the cache equals a fresh list of the namespace; return that state."""
    fresh: dict[str, tuple[str, Any]] = {}
    cached: dict[str, tuple[str, Any]] = {}
    with anyio.move_on_after(timeout):
        while True:
            fresh = await server_state(client, namespace)
            cached = cache_state(informer_objects())
            if cached == fresh:
                return fresh
            await anyio.sleep(0.1)
    stale = {k for k in fresh.keys() | cached.keys() if fresh.get(k) != cached.get(k)}
    raise AssertionError(f"cache did not converge in {timeout}s; differing keys: {sorted(stale)}")
