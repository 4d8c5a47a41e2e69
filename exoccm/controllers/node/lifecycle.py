"""The node lifecycle controller: the shutdown taint, vanished instances, address refresh.

A reconcile looks at one Node and, apart from confirming a deletion, makes no API call: it reads
the zones' cached instance listings.

* **Ready Node** → no taint ``node.cloudprovider.kubernetes.io/shutdown`` (upstream's rule: a
  Node whose kubelet reports Ready is not shut down). Its removal needs no listing, so a Node of
  a restarted instance is schedulable again as soon as its kubelet reports Ready.
* **NotReady Node** (Ready False or Unknown) whose instance is ``stopping``/``stopped`` → the
  shutdown taint (NoSchedule). Whose instance is in no listing → the Node is deleted, but only
  after get-instance answered 404 in each zone it could be in. A Ready Node is never deleted
  (it has a live kubelet somewhere: upstream deletes NotReady Nodes only, and so do we).
* **Addresses** that differ from what the instance gives → ``nodes/status`` patched (only then).

Listings come from two places. Every ``refresh_period`` one pass re-lists the instances of each
zone in use (one call per zone, whatever the number of Nodes) and re-queues every Node. And
while Nodes are NotReady, :mod:`.monitor` lists their zones every few seconds and re-queues
them, so an instance stopped or deleted is noticed as soon as its kubelet goes silent. Node
events re-queue a Node too (readiness, taints, addresses, providerID, annotations).

Never touched: uninitialized Nodes (the node controller's), Nodes without an
``exoscale://<uuid>`` providerID, and Nodes with an ``external`` override. With
``instances.externalOnly`` every other Node is "not an Exoscale instance" as in the Go CCM: a
NotReady one with an ``exoscale://<uuid>`` providerID is deleted without asking the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import anyio
import structlog

from exoccm.config.cloudconfig import InstanceOverride, InstancesConfig
from exoccm.controllers.inventory import ZoneInventory
from exoccm.controllers.node.desired import (
    address_list,
    addresses_differ,
    instance_node_addresses,
    is_external,
    override_of,
)
from exoccm.controllers.node.metadata import instance_id_from_provider_id
from exoccm.controllers.node.resolve import InstanceLocator, Located
from exoccm.controllers.node.state import (
    SHUTDOWN_TAINT,
    has_taint,
    is_ready,
    is_uninitialized,
    is_uuid,
    node_name,
    provider_id_of,
    taints_of,
    without_taint,
)
from exoccm.controllers.node.writes import delete_node, patch_node, status_patch
from exoccm.engine.controller import DONE, Result, RetryAfterError
from exoccm.engine.informer import Informer
from exoccm.exoscale.errors import ExoscaleError, RateLimitedError
from exoccm.kube.client import KubeClient
from exoccm.kube.errors import KubeConflictError, KubeNotFoundError
from exoccm.kube.events import EventRecorder
from exoccm.kube.objects import Obj, key_of

log = structlog.get_logger(__name__)

Enqueue = Callable[[Iterable[str]], None]
SHUTDOWN_STATES = frozenset({"stopping", "stopped"})


def lifecycle_view(node: Obj) -> tuple[object, ...]:
    """The parts of a Node this controller acts on (other changes do not re-queue it)."""
    meta = node.get("metadata") or {}
    return (
        provider_id_of(node),
        is_ready(node),
        tuple(str(t.get("key")) for t in taints_of(node)),
        tuple(str(a) for a in ((node.get("status") or {}).get("addresses") or [])),
        tuple(sorted((meta.get("annotations") or {}).items())),
    )


class NodeLifecycle:
    """Reconciles one Node key against the listings, plus the periodic refresh pass."""

    def __init__(
        self,
        *,
        kube: KubeClient,
        nodes: Informer,
        locator: InstanceLocator,
        recorder: EventRecorder,
        instances: InstancesConfig,
        refresh_period: float,
    ):
        self.kube = kube
        self.nodes = nodes
        self.locator = locator
        self.recorder = recorder
        self.instances = instances
        self.refresh_period = refresh_period
        self.passes = 0
        self._ready_but_missing: set[str] = set()

    # -- the periodic pass ----------------------------------------------------------------------

    def zones_in_use(self) -> list[ZoneInventory]:
        """The configured zone, every zone already listed, and every zone a Node is labelled
        with (so a restart does not forget Nodes of another zone)."""
        zones, _ = self.locator.zones_for(None)
        seen = {inventory.zone for inventory in zones}
        for node in self.nodes.list():
            if instance_id_from_provider_id(provider_id_of(node)) is None:
                continue
            for inventory in self.locator.zones_for(node)[0]:
                if inventory.zone not in seen:
                    seen.add(inventory.zone)
                    zones.append(inventory)
        return zones

    async def refresh(self, enqueue: Enqueue) -> None:
        """One pass: one list call per zone in use, then every Node re-queued."""
        # With externalOnly the API is not used for instances at all, as in the Go CCM.
        zones = [] if self.instances.external_only else self.zones_in_use()
        for inventory in zones:
            try:
                await inventory.instances.get(max_age=0.0)
            except ExoscaleError as exc:
                log.warning(
                    "Node refresh failed to list instances", zone=inventory.zone, error=str(exc)
                )
        self.passes += 1
        enqueue(key_of(node) for node in self.nodes.list())

    async def run_refresh(self, enqueue: Enqueue, first_pass: anyio.Event | None = None) -> None:
        """A pass now (warming the listings; ``first_pass`` is set after it), then one every
        ``refresh_period`` seconds."""
        while True:
            try:
                await self.refresh(enqueue)
            except Exception:
                # One bad pass must not stop every node controller; the next one may succeed.
                log.exception("Node refresh failed", next_in=self.refresh_period)
            if first_pass is not None:
                first_pass.set()
            await anyio.sleep(self.refresh_period)

    # -- the reconcile --------------------------------------------------------------------------

    def judges(self, node: Obj) -> bool:
        """Whether this controller acts on ``node`` at all (see the module documentation)."""
        if is_uninitialized(node) or is_external(override_of(node, self.instances)):
            return False
        instance_id = instance_id_from_provider_id(provider_id_of(node))
        return instance_id is not None and is_uuid(instance_id)

    async def reconcile(self, key: str) -> Result:
        node = self.nodes.get(key)
        if node is None or not self.judges(node):
            return DONE
        instance_id = instance_id_from_provider_id(provider_id_of(node))
        assert instance_id is not None
        try:
            if is_ready(node):
                node = await self._remove_shutdown_taint(node)
            if self.instances.external_only:
                if not is_ready(node):
                    await self._delete(node, "instances.externalOnly is set and it has no override")
                return DONE
            found = self.locator.locate_node_cached(node)
            if found is None:
                return await self._vanished(node, instance_id)
            self._ready_but_missing.discard(key)
            node = await self._sync_addresses(node, found, override_of(node, self.instances))
            if not is_ready(node) and found.instance.state in SHUTDOWN_STATES:
                await self._add_shutdown_taint(node, found)
        except KubeNotFoundError:
            pass  # the Node went away while we worked
        except RateLimitedError as exc:
            raise RetryAfterError(exc.retry_after or 5.0, str(exc)) from exc
        return DONE

    async def _vanished(self, node: Obj, instance_id: str) -> Result:
        name = node_name(node)
        zones, _ = self.locator.zones_for(node)
        if any(inventory.instances.value is None for inventory in zones):
            return DONE  # not listed yet: the first pass re-queues every Node
        if is_ready(node):
            if key_of(node) not in self._ready_but_missing:
                self._ready_but_missing.add(key_of(node))
                log.warning(
                    "Instance missing but Node Ready",
                    node=name,
                    instance=instance_id,
                    note="deleted only once it is no longer Ready",
                )
            return DONE
        if not await self.locator.confirm_gone(instance_id, node):
            return DONE
        await self._delete(node, f"instance {instance_id} is gone (get-instance: 404)")
        return DONE

    async def _delete(self, node: Obj, why: str) -> None:
        name = node_name(node)
        await self.recorder.event(
            node,
            "Normal",
            "DeletingNode",
            f"Deleting node {name} because it does not exist in the cloud provider",
            kind="Node",
            api_version="v1",
        )
        try:
            await delete_node(self.kube, node)
        except (KubeNotFoundError, KubeConflictError):
            return  # already gone, or replaced by a new Node of the same name
        self._ready_but_missing.discard(key_of(node))
        log.info("Deleted Node", node=name, reason=why)

    async def _sync_addresses(
        self, node: Obj, found: Located, override: InstanceOverride | None
    ) -> Obj:
        addresses = instance_node_addresses(node, found.instance, override)
        if not addresses_differ(node, addresses):
            return node
        log.info("Updated Node addresses", node=node_name(node), addresses=address_list(addresses))

        def build(current: Obj) -> Obj | None:
            wanted = instance_node_addresses(current, found.instance, override)
            return status_patch(address_list(wanted)) if addresses_differ(current, wanted) else None

        return await patch_node(self.kube, node, build, subresource="status")

    async def _remove_shutdown_taint(self, node: Obj) -> Obj:
        if not has_taint(node, SHUTDOWN_TAINT):
            return node
        log.info("Removed shutdown taint from Node", node=node_name(node), reason="node is Ready")

        def build(current: Obj) -> Obj | None:
            if not is_ready(current) or not has_taint(current, SHUTDOWN_TAINT):
                return None
            return {"spec": {"taints": without_taint(taints_of(current), SHUTDOWN_TAINT)}}

        return await patch_node(self.kube, node, build)

    async def _add_shutdown_taint(self, node: Obj, found: Located) -> None:
        if has_taint(node, SHUTDOWN_TAINT):
            return
        log.info(
            "Added shutdown taint to Node",
            node=node_name(node),
            instance=found.instance.id,
            state=found.instance.state,
        )

        def build(current: Obj) -> Obj | None:
            if is_ready(current) or has_taint(current, SHUTDOWN_TAINT):
                return None
            taint = {"key": SHUTDOWN_TAINT, "effect": "NoSchedule"}
            return {"spec": {"taints": [*taints_of(current), taint]}}

        await patch_node(self.kube, node, build)
