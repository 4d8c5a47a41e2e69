"""The node controller: initializes Nodes tainted ``node.cloudprovider.kubernetes.io/uninitialized``.

For each such Node it finds the instance (see :mod:`.resolve`) or the cloud-config override,
writes the addresses (``nodes/status``), then providerID, instance-type / zone / region labels and
the removal of the taint in one resourceVersion-guarded patch, so the taint goes only once the
Node is complete. A Node unknown to Exoscale stays tainted, gets a Warning Event saying what was
looked up, and is retried with backoff; other Nodes are unaffected.

Initialized Nodes only get their labels kept in line with the cached listing (no API call but,
once per instance type, get-instance-type), as upstream reconciles the labels of initialized Nodes.
"""

from __future__ import annotations

import structlog

from exoccm.config.cloudconfig import InstancesConfig
from exoccm.controllers.matching import node_ips
from exoccm.controllers.node.desired import (
    Desired,
    address_list,
    addresses_differ,
    external_desired,
    instance_desired,
    is_external,
    label_changes,
    needs_instance_type,
    override_of,
    unmatched_provided_ips,
)
from exoccm.controllers.node.metadata import PROVIDER_PREFIX, instance_id_from_provider_id
from exoccm.controllers.node.resolve import InstanceLocator, Located, Miss
from exoccm.controllers.node.state import (
    UNINITIALIZED_TAINT,
    is_uninitialized,
    node_name,
    provider_id_of,
    system_uuid_of,
    taints_of,
    without_taint,
)
from exoccm.controllers.node.writes import patch_node, status_patch
from exoccm.engine.controller import DONE, Result, RetryAfterError
from exoccm.engine.informer import Informer
from exoccm.exoscale.errors import RateLimitedError
from exoccm.kube.client import KubeClient
from exoccm.kube.errors import KubeNotFoundError
from exoccm.kube.events import EventRecorder, EventType
from exoccm.kube.objects import Obj

log = structlog.get_logger(__name__)


class NodeInitializer:
    """Reconciles one Node key; wiring lives in :mod:`.runner`."""

    def __init__(
        self,
        *,
        kube: KubeClient,
        nodes: Informer,
        locator: InstanceLocator,
        recorder: EventRecorder,
        instances: InstancesConfig,
    ):
        self.kube = kube
        self.nodes = nodes
        self.locator = locator
        self.recorder = recorder
        self.instances = instances

    async def _event(self, node: Obj, type_: EventType, reason: str, message: str) -> None:
        await self.recorder.event(node, type_, reason, message, kind="Node", api_version="v1")

    async def reconcile(self, key: str) -> Result:
        node = self.nodes.get(key)
        if node is None:
            return DONE
        try:
            if is_uninitialized(node):
                return await self._initialize(node)
            await self._sync_labels(node)
            return DONE
        except KubeNotFoundError:
            return DONE  # the Node was deleted while we worked
        except RateLimitedError as exc:
            raise RetryAfterError(exc.retry_after or 5.0, str(exc)) from exc

    # -- uninitialized Nodes --------------------------------------------------------------------

    async def _initialize(self, node: Obj) -> Result:
        name = node_name(node)
        override = override_of(node, self.instances)
        if override is not None and is_external(override):
            desired = external_desired(node, override)
        elif self.instances.external_only:
            await self._event(
                node,
                "Warning",
                "InstanceNotFound",
                f"Node {name} matches no external instance override and the cloud-config sets "
                "instances.externalOnly, so it is not looked up in Exoscale and stays "
                "uninitialized; add an override for it or unset externalOnly",
            )
            return DONE  # only a configuration change (a restart) can change the outcome
        elif provider_id_of(node) and not provider_id_of(node).startswith(PROVIDER_PREFIX):
            await self._event(
                node,
                "Warning",
                "InstanceNotFound",
                f"Node {name} has providerID {provider_id_of(node)!r} of another cloud provider "
                "(it is immutable), so exoccm leaves it uninitialized",
            )
            return DONE
        else:
            found = await self.locator.locate_node(node)
            if isinstance(found, Miss):
                return await self._not_found(node, found)
            desired = await self._desired_from_instance(node, found)
        if not await self._apply(node, desired):
            # The cache was behind: the Node was initialized already (by an earlier pass whose
            # write has not reached the cache yet, or by another replica); nothing to report.
            log.debug("Node already initialized", node=name)
            return DONE
        log.info(
            "Successfully initialized node with cloud provider",
            node=name,
            provider_id=desired.provider_id,
            external=override is not None and override.external,
        )
        await self._event(node, "Normal", "Synced", "Node synced successfully")
        return DONE

    async def _desired_from_instance(self, node: Obj, found: Located) -> Desired:
        override = override_of(node, self.instances)
        type_name = None
        if needs_instance_type(override):
            if found.instance.instance_type is None:
                raise ValueError(
                    f"instance {found.instance.id} has no instance type in the API's answer"
                )
            type_name = await self.locator.instance_type_name(
                found.zone, found.instance.instance_type.id
            )
        return instance_desired(node, found.instance, found.zone, override, type_name)

    async def _not_found(self, node: Obj, miss: Miss) -> Result:
        if not miss.conclusive:
            assert miss.retry_in is not None
            # The listing may predate the instance: look again once it can be refreshed.
            raise RetryAfterError(miss.retry_in, "instance listing too recent to refresh yet")
        tried = [f"providerID {provider_id_of(node)!r}"] if provider_id_of(node) else []
        if system_uuid_of(node):
            tried.append(f"systemUUID {system_uuid_of(node)!r}")
        if node_ips(node):
            tried.append(f"IP addresses {', '.join(node_ips(node))}")
        message = (
            f"No Exoscale instance found for Node {node_name(node)}: looked up "
            f"{'; '.join(tried) or 'nothing (no providerID, systemUUID or IP address)'} in zone(s) "
            f"{', '.join(miss.zones)}. The Node stays uninitialized and is retried; if it is "
            "not an Exoscale instance, give it an instances override with external: true"
        )
        log.warning("Instance of the Node not found", node=node_name(node), zones=list(miss.zones))
        await self._event(node, "Warning", "InstanceNotFound", message)
        return Result(requeue=True)  # backoff, counted as a failure

    async def _apply(self, node: Obj, desired: Desired) -> bool:
        """Write ``desired``; True when this call removed the uninitialized taint, False when
        the Node as the apiserver holds it no longer had it."""
        name = node_name(node)
        removed = False
        unmatched = unmatched_provided_ips(node, desired.addresses)
        if unmatched:
            await self._event(
                node,
                "Warning",
                "ProvidedNodeIPNotFound",
                f"The kubelet's --node-ip {', '.join(unmatched)} is not an address of Node "
                f"{name}'s instance (it is used as InternalIP only when the instance has a "
                "private network); the Node gets the instance's addresses",
            )
        # Addresses first: when the taint goes, the Node is complete.
        if desired.addresses is not None:
            wanted = address_list(desired.addresses)
            node = await patch_node(
                self.kube,
                node,
                lambda current: (
                    status_patch(wanted) if addresses_differ(current, desired.addresses) else None
                ),
                subresource="status",
            )

        def spec_patch(current: Obj) -> Obj | None:
            patch: Obj = {}
            labels = label_changes(current, desired.labels)
            if labels:
                patch["metadata"] = {"labels": labels}
            current_id = provider_id_of(current)
            if not current_id:
                patch["spec"] = {"providerID": desired.provider_id}
            elif current_id != desired.provider_id:
                log.warning(  # providerID is immutable once set
                    "Kept the Node's providerID",
                    node=name,
                    provider_id=current_id,
                    expected=desired.provider_id,
                )
            nonlocal removed
            removed = is_uninitialized(current)  # the last attempt's view is what was written
            if removed:
                spec = patch.setdefault("spec", {})
                spec["taints"] = without_taint(taints_of(current), UNINITIALIZED_TAINT)
            return patch or None

        await patch_node(self.kube, node, spec_patch)
        return removed

    # -- initialized Nodes ----------------------------------------------------------------------

    async def _sync_labels(self, node: Obj) -> None:
        override = override_of(node, self.instances)
        if override is not None and is_external(override):
            labels = external_desired(node, override).labels
        elif self.instances.external_only:
            return
        elif instance_id_from_provider_id(provider_id_of(node)) is None:
            return  # not an Exoscale instance we manage
        else:
            found = await self._cached_instance(node)
            if found is None:
                return  # the lifecycle controller decides about vanished instances
            labels = (await self._desired_from_instance(node, found)).labels
        if label_changes(node, labels):
            log.info(
                "Updated Node labels", node=node_name(node), labels=label_changes(node, labels)
            )
            await patch_node(
                self.kube,
                node,
                lambda current: (
                    {"metadata": {"labels": changes}}
                    if (changes := label_changes(current, labels))
                    else None
                ),
            )

    async def _cached_instance(self, node: Obj) -> Located | None:
        found = self.locator.locate_node_cached(node)
        if found is None:
            default = self.locator.inventories.zone(self.locator.default_zone)
            if default.instances.value is None:
                # Cold start: one listing (shared by every Node) instead of nothing to compare.
                await default.instances.get()
                found = self.locator.locate_node_cached(node)
        return found
