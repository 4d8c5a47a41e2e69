"""NodeControllers as the app drives it: wiring errors, stop, and serving again after a stop."""

from __future__ import annotations

import anyio
import pytest

from exoccm.controllers.node.runner import NodeControllers
from exoccm.controllers.node.state import UNINITIALIZED_TAINT, has_taint
from exoccm.controllers.projections import project_node
from exoccm.engine.informer import Informer
from exoccm.kube.events import EventRecorder
from exoccm.kube.resources import NODES

from .conftest import TEST_LABEL, ZONE, NodeWorld, config_for, until

pytestmark = pytest.mark.anyio


async def test_csr_without_informer_is_a_wiring_error(world: NodeWorld) -> None:
    nodes = Informer(world.kube, NODES, transform=project_node)
    with pytest.raises(ValueError, match="CSR informer"):
        NodeControllers(
            kube=world.kube,
            nodes=nodes,
            csrs=None,
            inventories=world.inventories,
            recorder=EventRecorder(world.kube, "t"),
            config=config_for(enabled=frozenset({"csr"})),
        )


async def test_serves_again_after_a_stop(world: NodeWorld) -> None:
    nodes = Informer(
        world.controller_kube,
        NODES,
        transform=project_node,
        label_selector=f"{TEST_LABEL}={world.tag}",
        name=f"nodes-{world.tag}",
    )
    controllers = NodeControllers(
        kube=world.controller_kube,
        nodes=nodes,
        csrs=None,
        inventories=world.inventories,
        recorder=EventRecorder(world.controller_kube, "t"),
        config=config_for(),
    )
    first = world.sim.add_instance(ZONE, world.name("first"))
    second = world.sim.add_instance(ZONE, world.name("second"))

    async def initialized(suffix: str) -> bool:
        node = await world.node(suffix)
        return node is not None and not has_taint(node, UNINITIALIZED_TAINT)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(nodes.run)
            controllers.stop()  # a stop before serving: run returns at once
            await controllers.run()
            await world.create_node("first", system_uuid=first["id"], uninitialized=True)
            async with anyio.create_task_group() as serving:  # leading
                serving.start_soon(controllers.run)
                await until(lambda: initialized("first"))
                controllers.stop()
            await world.create_node("second", system_uuid=second["id"], uninitialized=True)
            assert not any(c.running for c in controllers.controllers)  # standby: nothing acts
            async with anyio.create_task_group() as serving:  # leading again
                serving.start_soon(controllers.run)
                await until(lambda: initialized("second"))
                controllers.stop()
            tg.cancel_scope.cancel()
