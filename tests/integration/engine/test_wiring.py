"""Informer + controller + leader election wired together, as exoccm's app does it."""

from __future__ import annotations

import uuid

import anyio
import pytest

from exoccm.engine.controller import Controller, Result
from exoccm.engine.informer import Informer
from exoccm.engine.leader import LeaderElectionConfig, LeaderElector
from exoccm.engine.reflector import ReflectorOptions
from exoccm.engine.transform import NODE_TRANSFORM
from exoccm.kube.client import KubeClient
from exoccm.kube.resources import CONFIG_MAPS, LEASES, NODES
from exoccm.testing.controlplane import ControlPlane
from exoccm.testing.nodes import create_node, delete_node, node_manifest

from .conftest import until

pytestmark = pytest.mark.anyio


async def test_informer_queue_controller_and_election(kube: KubeClient, namespace: str) -> None:
    path = CONFIG_MAPS.path(namespace)
    for i in range(40):
        await kube.create(path, {"metadata": {"name": f"old-{i:02}"}})
    configmaps = Informer(kube, CONFIG_MAPS, namespace=namespace, name=f"cm-{namespace}")
    order: list[str] = []

    async def reconcile(key: str) -> Result | None:
        cached = configmaps.get(key)  # reconciles read the cache, never the event
        order.append(key if cached is not None else f"gone:{key}")
        await anyio.sleep(0.02)
        return None

    controller = Controller(f"ctl-{namespace}", reconcile, workers=1)
    controller.watch(configmaps)
    elector = LeaderElector(
        kube,
        LeaderElectionConfig(namespace, "wiring", "replica-1", 4.0, 3.0, 0.4),
    )

    async def lead() -> None:
        await controller.run()  # until stopped gracefully

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(configmaps.run)
            await configmaps.wait_synced()  # standbys keep this cache warm too
            tg.start_soon(elector.run, lead)
            await until(lambda: len(order) >= 2)
            await kube.create(path, {"metadata": {"name": "fresh"}})
            await until(lambda: f"{namespace}/fresh" in order)
            await kube.delete(f"{path}/old-39")
            await until(lambda: f"gone:{namespace}/old-39" in order)
            everything = {f"{namespace}/old-{i:02}" for i in range(39)}
            await until(lambda: everything <= set(order))
            controller.stop()  # SIGTERM: finish in-flight work, then the Lease is released
            await until(lambda: not elector.is_leader)
            tg.cancel_scope.cancel()
    # The fresh change jumped the initial-list backlog (LOW priority).
    assert order.index(f"{namespace}/fresh") < 20, order
    lease = await kube.get(LEASES.path(namespace, "wiring"))
    assert lease["spec"].get("holderIdentity") is None


async def test_node_transform_caches_no_images(
    control_plane: ControlPlane, kube: KubeClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    manifest = node_manifest(f"node-{tag}", labels={"test": tag}, provider_id="exoscale://x")
    manifest["status"]["images"] = [
        {"names": [f"registry/img-{i}:v1"], "sizeBytes": 1} for i in range(5)
    ]
    create_node(control_plane, manifest)
    try:
        nodes = Informer(
            kube,
            NODES,
            name=f"nodes-{tag}",
            label_selector=f"test={tag}",
            transform=NODE_TRANSFORM,
            options=ReflectorOptions(),
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(nodes.run)
            with anyio.fail_after(20):
                await nodes.wait_synced()
            node = nodes.get(f"node-{tag}")
            tg.cancel_scope.cancel()
        assert node is not None
        assert "images" not in node["status"]
        assert "managedFields" not in node["metadata"]
        assert node["spec"]["providerID"] == "exoscale://x"
        raw = await kube.get(NODES.path(name=f"node-{tag}"))
        assert raw["status"]["images"]
        assert raw["metadata"]["managedFields"]
    finally:
        delete_node(control_plane, f"node-{tag}")
