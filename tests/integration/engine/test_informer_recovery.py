"""The informer's recovery paths on real apiservers: restarts, compaction (410), silent watches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import pytest
from prometheus_client import REGISTRY

from exoccm.engine.informer import Informer
from exoccm.engine.reflector import Reflector, ReflectorOptions
from exoccm.kube.client import KubeClient
from exoccm.kube.config import from_kubeconfig
from exoccm.kube.objects import key_of
from exoccm.kube.resources import CONFIG_MAPS
from exoccm.testing.controlplane import ControlPlane

from .conftest import Recorder, SpyClient, compact, converged, new_namespace, running, until

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

FAST = ReflectorOptions(backoff_initial=0.1, backoff_cap=1.0)


def _cm(name: str, value: str = "0") -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": {"v": value}}


def _metric(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_survives_an_apiserver_restart(own_plane: ControlPlane) -> None:
    namespace = new_namespace(own_plane)
    path = CONFIG_MAPS.path(namespace)
    spy = SpyClient(own_plane)
    admin = KubeClient(from_kubeconfig(own_plane.kubeconfig))
    informer = Informer(spy, CONFIG_MAPS, namespace=namespace, name="restart", options=FAST)
    recorder = Recorder()
    recorder.attach(informer)
    try:
        for i in range(5):
            await admin.create(path, _cm(f"before-{i}"))
        async with running(informer):
            failures = _metric(
                "exoccm_informer_watch_restarts_total",
                {"informer": "restart", "reason": "KubeConnectionError"},
            )
            await anyio.to_thread.run_sync(own_plane.stop_apiserver)
            await until(
                lambda: (
                    _metric(
                        "exoccm_informer_watch_restarts_total",
                        {"informer": "restart", "reason": "KubeConnectionError"},
                    )
                    > failures
                )
            )
            await anyio.to_thread.run_sync(own_plane.start_apiserver)
            await admin.create(path, _cm("after"))
            await admin.patch(f"{path}/before-0", {"data": {"v": "changed"}})
            await admin.delete(f"{path}/before-1")
            fresh = await converged(informer.list, admin, namespace)
        assert f"{namespace}/after" in fresh
        assert f"{namespace}/before-1" not in fresh
        assert fresh[f"{namespace}/before-0"][1] == {"v": "changed"}
        handler_view = {
            k: (o["metadata"]["resourceVersion"], o.get("data")) for k, o in recorder.final.items()
        }
        assert handler_view == fresh
    finally:
        await spy.aclose()
        await admin.aclose()


async def test_compaction_forces_410_then_relist_with_tombstones(
    uncached_plane: ControlPlane,
) -> None:
    namespace = new_namespace(uncached_plane)
    path = CONFIG_MAPS.path(namespace)
    spy = SpyClient(uncached_plane)
    admin = KubeClient(from_kubeconfig(uncached_plane.kubeconfig))
    informer = Informer(spy, CONFIG_MAPS, namespace=namespace, name="compaction", options=FAST)
    recorder = Recorder()
    recorder.attach(informer)
    try:
        for i in range(6):
            await admin.create(path, _cm(f"cm-{i}"))
        async with running(informer):
            await until(lambda: spy.watches)
            synced_rv = informer.reflector.last_sync_rv
            # Hold the watch closed while the world changes and etcd forgets the history.
            spy.watch_open = anyio.Event()
            attempts = spy.watch_attempts
            spy.drop_watches()
            await admin.create(path, _cm("marker"))  # a line to notice the drop on
            await until(lambda: spy.watch_attempts > attempts)
            await admin.delete(f"{path}/cm-0")
            await admin.delete(f"{path}/cm-1")
            await admin.patch(f"{path}/cm-2", {"data": {"v": "2"}})
            await admin.create(path, _cm("new"))
            compact(uncached_plane)
            expired = _metric(
                "exoccm_informer_watch_restarts_total",
                {"informer": "compaction", "reason": "expired"},
            )
            spy.watch_open.set()
            fresh = await converged(informer.list, admin, namespace)
            assert (
                _metric(
                    "exoccm_informer_watch_restarts_total",
                    {"informer": "compaction", "reason": "expired"},
                )
                == expired + 1
            )
        relist = spy.lists[-1]
        assert relist["resourceVersionMatch"] == "NotOlderThan"
        assert int(relist["resourceVersion"]) >= int(synced_rv), "relist at the last RV"
        tombstones = sorted(key for key, is_tombstone in recorder.deletes if is_tombstone)
        assert tombstones == [f"{namespace}/cm-0", f"{namespace}/cm-1"]
        assert (f"{namespace}/new", False) in recorder.adds
        assert fresh[f"{namespace}/cm-2"][1] == {"v": "2"}
        handler_view = {
            k: (o["metadata"]["resourceVersion"], o.get("data")) for k, o in recorder.final.items()
        }
        assert handler_view == fresh
    finally:
        await spy.aclose()
        await admin.aclose()


async def test_410_on_a_continue_token_restarts_the_list_without_pages(
    uncached_plane: ControlPlane,
) -> None:
    namespace = new_namespace(uncached_plane)
    path = CONFIG_MAPS.path(namespace)
    spy = SpyClient(uncached_plane)
    admin = KubeClient(from_kubeconfig(uncached_plane.kubeconfig))
    try:
        for i in range(12):
            await admin.create(path, _cm(f"cm-{i:02}"))

        async def compact_before_second_page(params: Mapping[str, str | int | bool]) -> None:
            if params.get("continue") and spy.list_hook is not None:
                spy.list_hook = None
                await admin.delete(f"{path}/cm-11")
                await admin.create(path, _cm("late"))
                compact(uncached_plane)

        spy.list_hook = compact_before_second_page
        informer = Informer(
            spy, CONFIG_MAPS, namespace=namespace, options=ReflectorOptions(page_size=5)
        )
        async with running(informer):
            fresh = await converged(informer.list, admin, namespace)
        pages = spy.lists
        assert pages[0]["limit"] == "5"
        assert pages[1].get("continue"), "the second page was requested with a continue token"
        assert "limit" not in pages[2], "then one unpaged list"
        assert "continue" not in pages[2]
        assert f"{namespace}/late" in fresh
        assert f"{namespace}/cm-11" not in fresh
    finally:
        await spy.aclose()
        await admin.aclose()


class _Sink:
    def __init__(self) -> None:
        self.replaced: list[list[dict[str, Any]]] = []

    async def replace(self, objects: list[dict[str, Any]], resource_version: str) -> None:
        self.replaced.append(objects)

    async def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        raise AssertionError("no watch in this test")


async def test_relist_at_an_unservable_rv_falls_back_to_a_consistent_list(
    control_plane: ControlPlane, namespace: str
) -> None:
    """An RV the apiserver cannot serve (e.g. after an etcd restore) ends in a quorum list."""
    spy = SpyClient(control_plane)
    try:
        await spy.create(CONFIG_MAPS.path(namespace), _cm("a"))
        sink = _Sink()
        reflector = Reflector(spy, CONFIG_MAPS, sink, name="ladder", namespace=namespace)
        reflector.last_sync_rv = "999999999"
        before = _metric(
            "exoccm_informer_lists_total", {"informer": "ladder", "kind": "consistent-after-410"}
        )
        await reflector.relist()
        assert [p.get("resourceVersion") for p in spy.lists] == ["999999999", None]
        assert [key_of(o) for o in sink.replaced[0]] == [f"{namespace}/a"]
        assert int(reflector.last_sync_rv) < 999999999
        after = _metric(
            "exoccm_informer_lists_total", {"informer": "ladder", "kind": "consistent-after-410"}
        )
        assert after == before + 1
    finally:
        await spy.aclose()


async def test_a_silent_watch_is_reopened_without_relisting(
    control_plane: ControlPlane, namespace: str
) -> None:
    spy = SpyClient(control_plane)
    options = ReflectorOptions(inactivity_timeout=0.3)
    informer = Informer(spy, CONFIG_MAPS, namespace=namespace, name="silent", options=options)
    try:
        before = _metric(
            "exoccm_informer_watch_restarts_total", {"informer": "silent", "reason": "inactive"}
        )
        async with running(informer):
            await until(lambda: len(spy.watches) >= 3)
        after = _metric(
            "exoccm_informer_watch_restarts_total", {"informer": "silent", "reason": "inactive"}
        )
        assert after >= before + 2
        assert len(spy.lists) == 1
    finally:
        await spy.aclose()
