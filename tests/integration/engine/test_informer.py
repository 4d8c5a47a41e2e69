"""The informer against the session's real apiserver: list, watch, handlers, indexes, churn."""

from __future__ import annotations

import random
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from exoccm.engine.informer import Informer
from exoccm.engine.reflector import ReflectorOptions
from exoccm.engine.transform import LAST_APPLIED_ANNOTATION
from exoccm.kube.client import KubeClient
from exoccm.kube.resources import CONFIG_MAPS
from exoccm.testing.controlplane import ControlPlane

from .conftest import Recorder, SpyClient, converged, running, until

pytestmark = pytest.mark.anyio

FAST = ReflectorOptions(backoff_initial=0.1, backoff_cap=1.0)


def _cm(name: str, data: dict[str, str] | None = None, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {LAST_APPLIED_ANNOTATION: '{"big": "blob"}', "keep": "yes"},
        },
        "data": data or {"v": "0"},
    }


async def test_list_watch_handlers_and_transform(kube: KubeClient, namespace: str) -> None:
    path = CONFIG_MAPS.path(namespace)
    for i in range(3):
        await kube.create(path, _cm(f"pre-{i}"))
    informer = Informer(kube, CONFIG_MAPS, namespace=namespace, options=FAST)
    recorder = Recorder()
    recorder.attach(informer)
    async with running(informer):
        assert informer.has_synced
        assert sorted(recorder.adds) == [(f"{namespace}/pre-{i}", True) for i in range(3)]
        cached = informer.get(f"{namespace}/pre-0")
        assert cached is not None
        assert "managedFields" not in cached["metadata"]
        assert cached["metadata"]["annotations"] == {"keep": "yes"}

        await kube.create(path, _cm("live"))
        await kube.patch(f"{path}/pre-1", {"data": {"v": "1"}})
        await kube.delete(f"{path}/pre-2")
        await until(lambda: len(recorder.deletes) == 1)
        await until(lambda: (f"{namespace}/live", False) in recorder.adds)
        await until(lambda: any(u[0] == f"{namespace}/pre-1" for u in recorder.updates))
        assert recorder.deletes == [(f"{namespace}/pre-2", False)]
        assert informer.get(f"{namespace}/pre-2") is None
        updated = informer.get(f"{namespace}/pre-1")
        assert updated is not None
        assert updated["data"] == {"v": "1"}
        await converged(informer.list, kube, namespace)


async def test_initial_list_is_paginated(control_plane: ControlPlane, namespace: str) -> None:
    spy = SpyClient(control_plane)
    try:
        for i in range(23):
            await spy.create(CONFIG_MAPS.path(namespace), _cm(f"cm-{i:02}"))
        options = ReflectorOptions(page_size=5)
        informer = Informer(spy, CONFIG_MAPS, namespace=namespace, options=options)
        async with running(informer):
            assert len(informer) == 23
            await until(lambda: spy.watches)
        first, *rest = spy.lists
        assert first["limit"] == "5"
        assert "continue" not in first
        assert "resourceVersion" not in first, "the first list is a consistent read"
        assert len(rest) == 4
        assert all(page.get("continue") for page in rest)
        assert all("resourceVersion" not in page for page in rest)
        assert spy.watches[0]["allowWatchBookmarks"] == "true"
        assert 300 <= int(spy.watches[0]["timeoutSeconds"]) <= 600
    finally:
        await spy.aclose()


async def test_selectors_scope_the_cache(kube: KubeClient, namespace: str) -> None:
    path = CONFIG_MAPS.path(namespace)
    await kube.create(path, _cm("mine", app="exoccm"))
    await kube.create(path, _cm("other", app="other"))
    informer = Informer(
        kube, CONFIG_MAPS, namespace=namespace, label_selector="app=exoccm", options=FAST
    )
    recorder = Recorder()
    recorder.attach(informer)
    async with running(informer):
        assert informer.keys() == [f"{namespace}/mine"]
        # An object that stops matching the selector is a delete for this informer.
        await kube.patch(f"{path}/mine", {"metadata": {"labels": {"app": "moved"}}})
        await until(lambda: len(informer) == 0)
        assert recorder.deletes == [(f"{namespace}/mine", False)]


async def test_indexes(kube: KubeClient, namespace: str) -> None:
    path = CONFIG_MAPS.path(namespace)
    await kube.create(path, _cm("a", tier="web"))
    await kube.create(path, _cm("b", tier="db"))
    informer = Informer(kube, CONFIG_MAPS, namespace=namespace, options=FAST)

    def tier(obj: dict[str, Any]) -> list[str]:
        return [obj["metadata"].get("labels", {}).get("tier", "")]

    informer.add_index("tier", tier)
    async with running(informer):
        assert informer.index_keys("tier", "web") == {f"{namespace}/a"}
        await kube.patch(f"{path}/b", {"metadata": {"labels": {"tier": "web"}}})
        await until(lambda: len(informer.by_index("tier", "web")) == 2)
        assert informer.index_keys("tier", "db") == set()


async def test_resync_replays_the_cache_without_api_calls(
    control_plane: ControlPlane, namespace: str
) -> None:
    spy = SpyClient(control_plane)
    try:
        for name in ("a", "b"):
            await spy.create(CONFIG_MAPS.path(namespace), _cm(name))
        informer = Informer(spy, CONFIG_MAPS, namespace=namespace, options=FAST)
        recorder = Recorder()
        recorder.attach(informer, resync_period=0.1)
        async with running(informer):
            requests = spy.requests
            await until(lambda: sum(1 for u in recorder.updates if u[3]) >= 6)
            assert spy.requests == requests, "a resync must not call the API"
        resyncs = [u for u in recorder.updates if u[3]]
        assert {u[0] for u in resyncs} == {f"{namespace}/a", f"{namespace}/b"}
        assert all(old == new for _, old, new, _ in resyncs)
    finally:
        await spy.aclose()


async def test_a_late_handler_gets_the_cache_as_initial_adds(
    kube: KubeClient, namespace: str
) -> None:
    await kube.create(CONFIG_MAPS.path(namespace), _cm("a"))
    informer = Informer(kube, CONFIG_MAPS, namespace=namespace, options=FAST)
    async with running(informer):
        late = Recorder()
        late.attach(informer)
        await until(lambda: late.adds == [(f"{namespace}/a", True)])


async def test_async_handlers_and_a_failing_handler_do_not_stop_the_informer(
    kube: KubeClient, namespace: str
) -> None:
    informer = Informer(kube, CONFIG_MAPS, namespace=namespace, options=FAST)
    seen: list[str] = []

    async def slow_add(obj: dict[str, Any], initial: bool) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(obj["metadata"]["name"])

    def broken(obj: dict[str, Any], initial: bool) -> None:
        raise RuntimeError("handler bug")

    informer.add_handler(on_add=broken)
    informer.add_handler(on_add=slow_add)
    async with running(informer):
        for name in ("x", "y"):
            await kube.create(CONFIG_MAPS.path(namespace), _cm(name))
        await until(lambda: seen == ["x", "y"])


@pytest.mark.slow
async def test_cache_equals_a_fresh_list_after_1000_random_changes(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    """1,000 creates/updates/deletes from 8 concurrent writers while the watch keeps breaking
    (dropped connections every 100 ms, 1-2 s server timeouts): cache and handlers end at the
    server's state."""
    path = CONFIG_MAPS.path(namespace)
    spy = SpyClient(control_plane)
    options = ReflectorOptions(watch_timeout_min=1, watch_timeout_max=2, backoff_initial=0.05)
    informer = Informer(spy, CONFIG_MAPS, namespace=namespace, options=options)
    recorder = Recorder()
    recorder.attach(informer)
    rng = random.Random(1000)
    writers, per_writer = 8, 125
    counts = {"create": 0, "update": 0, "delete": 0}

    async def writer(index: int) -> None:
        # Each writer owns its names, so every operation is valid, yet writers run concurrently.
        names = [f"w{index}-{i}" for i in range(8)]
        alive: set[str] = set()
        for step in range(per_writer):
            name = rng.choice(names)
            if name not in alive:
                await kube.create(path, _cm(name, {"step": str(step)}))
                alive.add(name)
                counts["create"] += 1
            elif rng.random() < 0.6:
                await kube.patch(f"{path}/{name}", {"data": {"step": str(step)}})
                counts["update"] += 1
            else:
                await kube.delete(f"{path}/{name}")
                alive.discard(name)
                counts["delete"] += 1

    async def chaos() -> None:
        while True:
            await anyio.sleep(0.1)
            spy.drop_watches()

    try:
        async with running(informer):
            async with anyio.create_task_group() as chaos_group:
                chaos_group.start_soon(chaos)
                async with anyio.create_task_group() as writers_group:
                    for index in range(writers):
                        writers_group.start_soon(writer, index)
                chaos_group.cancel_scope.cancel()
            fresh = await converged(informer.list, kube, namespace, timeout=60)
    finally:
        await spy.aclose()
    assert sum(counts.values()) == writers * per_writer == 1000
    assert min(counts.values()) > 100, counts
    assert len(spy.watches) >= 5, "the watch should have been re-opened many times"
    assert all(w["resourceVersion"] for w in spy.watches), "every re-watch resumes from an RV"
    assert len(spy.lists) == 1, "dropped connections must not cause relists"
    # Handlers saw every final state: their view equals the server's.
    handler_view = {
        k: (o["metadata"]["resourceVersion"], o.get("data")) for k, o in recorder.final.items()
    }
    assert handler_view == fresh
