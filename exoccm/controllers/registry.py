"""Every controller exoccm can run, declared once.

A :class:`ControllerSpec` names a controller (and the names the Go CCM knows it by), says whether
``EXOCCM_CONTROLLERS=*`` turns it on, which informers it reads (resource and projection), which
Kubernetes permissions it needs besides listing and watching those, and how to build it. From
:data:`CONTROLLERS` come:

* the names ``EXOCCM_CONTROLLERS`` accepts and what ``*`` means (:mod:`exoccm.config.types`);
* the informers and controllers ``exoccm run`` starts (:mod:`exoccm.app`);
* the permissions ``exoccm doctor`` checks (:mod:`exoccm.rbac`), which the chart's ClusterRole
  is tested against;
* the controller table of the configuration reference (docs/configuration.md).

Controllers that share state share a factory, called once with those of them that are enabled:
node, lifecycle and csr share one instance locator (:class:`~exoccm.controllers.node.runner.
NodeControllers`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from exoccm.controllers.node.csr import project_csr
from exoccm.controllers.node.runner import NodeControllerConfig, NodeControllers
from exoccm.controllers.projections import project_node, project_service
from exoccm.controllers.service.controller import ServiceControllerConfig, ServiceReconciler
from exoccm.controllers.service.runner import ServiceController
from exoccm.engine.transform import Transform
from exoccm.exoscale.endpoints import reachable_zones
from exoccm.kube.events import EventRecorder
from exoccm.kube.permissions import Permission, permissions
from exoccm.kube.resources import CSRS, EVENTS, NODES, SERVICES, Resource

if TYPE_CHECKING:
    from exoccm.config.settings import Settings
    from exoccm.controllers.inventory import Inventories
    from exoccm.engine.informer import Informer
    from exoccm.kube.client import KubeClient


@dataclass(frozen=True)
class InformerSpec:
    """A cache of one resource, trimmed at ingest by ``projection``; shared by every
    controller that names it."""

    name: str
    resource: Resource
    projection: Transform
    page_size: int | None = None

    @property
    def permissions(self) -> tuple[Permission, ...]:
        return permissions("list watch", self.resource)


@dataclass(frozen=True)
class Wiring:
    """What a factory builds its controllers from."""

    settings: Settings
    kube: KubeClient
    inventories: Inventories
    informers: Mapping[InformerSpec, Informer]
    cluster_id: str
    identity: str  # the Lease holder identity, also the Events' reporting instance


class Runnable(Protocol):
    """Built controllers: ``run`` serves while leading and returns after ``stop``."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


Factory = Callable[[Wiring, frozenset[str]], Runnable]
CloudConfigSection = Literal["loadBalancer", "instances"]


@dataclass(frozen=True)
class ControllerSpec:
    name: str
    summary: str  # one sentence for the docs
    on_by_default: bool  # turned on by EXOCCM_CONTROLLERS=*
    informers: tuple[InformerSpec, ...]
    #: Besides list and watch on its informers' resources.
    permissions: tuple[Permission, ...]
    factory: Factory
    #: Other names EXOCCM_CONTROLLERS accepts: the Go CCM's --controllers names.
    aliases: tuple[str, ...] = ()
    #: The Go CCM's EXOSCALE_SKS_AGENT_RUNNERS task that turns this controller on.
    sks_agent_runner: str | None = None
    #: The cloud-config section whose ``disabled: true`` turns this controller off.
    cloud_config_section: CloudConfigSection | None = None

    @property
    def all_permissions(self) -> tuple[Permission, ...]:
        found = [p for informer in self.informers for p in informer.permissions]
        return tuple(dict.fromkeys([*found, *self.permissions]))


# -- factories -----------------------------------------------------------------------------------


def build_service_controller(
    wiring: Wiring,
    enabled: frozenset[str],  # noqa: ARG001 - the service controller comes alone
) -> ServiceController:
    settings = wiring.settings
    assert settings.zone is not None
    reconciler = ServiceReconciler(
        kube=wiring.kube,
        services=wiring.informers[SERVICES_INFORMER],
        nodes=wiring.informers[NODES_INFORMER],
        inventories=wiring.inventories,
        recorder=EventRecorder(wiring.kube, "service-controller", host=wiring.identity),
        config=ServiceControllerConfig(
            default_zone=settings.zone,
            known_zones=reachable_zones(settings.zone, settings.api_endpoint),
            cluster_id=wiring.cluster_id,
            drift_period=settings.drift_period,
            existing_nlb_namespaces=settings.existing_nlb_namespace_set,
            orphan_delete_limit=settings.orphan_delete_limit,
            orphan_max_share=settings.orphan_max_share,
            # Warnings about exoccm as a whole go on the leader election Lease.
            event_object={
                "kind": "Lease",
                "apiVersion": "coordination.k8s.io/v1",
                "metadata": {
                    "namespace": settings.leader_election_namespace,
                    "name": settings.leader_election_name,
                },
            },
        ),
    )
    return ServiceController(
        reconciler,
        workers=settings.service_workers,
        drift_period=settings.drift_period,
        resync_period=settings.resync_period,
    )


def build_node_controllers(wiring: Wiring, enabled: frozenset[str]) -> NodeControllers:
    config = NodeControllerConfig.from_settings(wiring.settings)
    return NodeControllers(
        kube=wiring.kube,
        nodes=wiring.informers[NODES_INFORMER],
        csrs=wiring.informers.get(CSRS_INFORMER),
        inventories=wiring.inventories,
        recorder=EventRecorder(wiring.kube, "cloud-node-controller", host=wiring.identity),
        config=dataclasses.replace(config, enabled=enabled),
    )


# -- the controllers -----------------------------------------------------------------------------

#: Nodes are listed 100 per page (client-go: 500): a raw Node decodes to ~50 KB of dicts, and the
#: smaller the page, the lower the transient peak of a list and the heap fragmentation it leaves
#: behind (5,000 Nodes: ~30 MB less RSS; see docs/performance.md).
NODE_LIST_PAGE_SIZE = 100
NODES_INFORMER = InformerSpec("nodes", NODES, project_node, page_size=NODE_LIST_PAGE_SIZE)
SERVICES_INFORMER = InformerSpec("services", SERVICES, project_service)
CSRS_INFORMER = InformerSpec("csrs", CSRS, project_csr)

_SIGNERS = Resource("certificates.k8s.io", "v1", "signers", "Signer", namespaced=False)
_EVENTS = permissions("create patch", EVENTS)

CONTROLLERS: tuple[ControllerSpec, ...] = (
    ControllerSpec(
        name="service",
        summary="One Exoscale Network Load Balancer per Service of type LoadBalancer, its "
        "status, finalizer and Events; repairs drift and collects orphaned NLBs.",
        on_by_default=True,
        informers=(NODES_INFORMER, SERVICES_INFORMER),
        permissions=(
            *permissions("get patch", SERVICES),
            *permissions("patch", SERVICES, subresource="status"),
            *_EVENTS,
        ),
        factory=build_service_controller,
        cloud_config_section="loadBalancer",
    ),
    ControllerSpec(
        name="node",
        summary="Initializes new Nodes from their instances: providerID, addresses, instance "
        "type, zone and region labels; removes the uninitialized taint.",
        on_by_default=True,
        informers=(NODES_INFORMER,),
        permissions=(
            *permissions("get patch", NODES),
            *permissions("patch", NODES, subresource="status"),
            *_EVENTS,
        ),
        factory=build_node_controllers,
        aliases=("cloud-node",),
        cloud_config_section="instances",
    ),
    ControllerSpec(
        name="lifecycle",
        summary="Deletes the Nodes of deleted instances and taints those of stopped ones; "
        "refreshes Node addresses.",
        on_by_default=True,
        informers=(NODES_INFORMER,),
        permissions=(*permissions("get patch delete", NODES), *_EVENTS),
        factory=build_node_controllers,
        aliases=("cloud-node-lifecycle",),
        cloud_config_section="instances",
    ),
    ControllerSpec(
        name="csr",
        summary="Approves kubelet serving certificate requests whose names and addresses match "
        "the Node's instance.",
        on_by_default=False,
        informers=(NODES_INFORMER, CSRS_INFORMER),
        permissions=(
            *permissions("get", CSRS),
            *permissions("update", CSRS, subresource="approval"),
            *permissions("approve", _SIGNERS, name="kubernetes.io/kubelet-serving"),
        ),
        factory=build_node_controllers,
        sks_agent_runner="node-csr-validation",
    ),
)


# -- derived -------------------------------------------------------------------------------------


def controller(name: str) -> ControllerSpec:
    """The controller called ``name`` (canonical name); KeyError if there is none."""
    for spec in CONTROLLERS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def selected(names: Iterable[str]) -> tuple[ControllerSpec, ...]:
    """The controllers called ``names``, in registry order."""
    wanted = set(names)
    return tuple(spec for spec in CONTROLLERS if spec.name in wanted)


def informers_of(names: Iterable[str]) -> tuple[InformerSpec, ...]:
    """The informers the controllers ``names`` read, each once, in registry order."""
    found = [informer for spec in selected(names) for informer in spec.informers]
    return tuple(dict.fromkeys(found))


def factories_of(names: Iterable[str]) -> list[tuple[Factory, frozenset[str]]]:
    """Each factory the controllers ``names`` need, with the names it builds, in registry order."""
    groups: dict[Factory, set[str]] = {}
    for spec in selected(names):
        groups.setdefault(spec.factory, set()).add(spec.name)
    return [(factory, frozenset(group)) for factory, group in groups.items()]


def permissions_of(names: Iterable[str]) -> tuple[Permission, ...]:
    """Every permission the controllers ``names`` need, each once."""
    return tuple(dict.fromkeys(p for spec in selected(names) for p in spec.all_permissions))
