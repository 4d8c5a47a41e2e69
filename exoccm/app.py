"""``exoccm run``: settings → clients → informers → controllers under leader election.

Every replica runs the informers (warm caches, ready for a takeover) and the HTTP endpoints; only
the Lease holder runs the controllers, and every cloud mutation first checks that the Lease is
still certainly ours. SIGTERM stops taking work, lets in-flight reconciles finish (bounded),
releases the Lease and exits 0; a lost Lease stops all leader work at once and exits 1, as
client-go components do, so the Pod restarts clean.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import signal
import socket
import sys
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import structlog

from exoccm import __version__
from exoccm.config import Settings
from exoccm.controllers.inventory import Inventories
from exoccm.controllers.node.csr import project_csr
from exoccm.controllers.node.runner import NodeControllerConfig, NodeControllers
from exoccm.controllers.projections import project_node, project_service
from exoccm.controllers.service.controller import ServiceControllerConfig, ServiceReconciler
from exoccm.controllers.service.runner import ServiceController
from exoccm.engine.informer import Informer
from exoccm.engine.leader import LeaderElectionConfig, LeaderElector, LeadershipLostError
from exoccm.engine.reflector import ReflectorOptions
from exoccm.engine.transform import Transform
from exoccm.exoscale import ExoscaleClients
from exoccm.exoscale.endpoints import reachable_zones
from exoccm.kube import config as kubeconfig
from exoccm.kube.client import KubeClient
from exoccm.kube.events import EventRecorder
from exoccm.kube.resources import CSRS, NAMESPACES, NODES, SERVICES, Resource
from exoccm.observability.server import HealthChecks, HttpServer

log = structlog.get_logger(__name__)

USER_AGENT = f"exoccm/{__version__}"
#: Nodes are listed 100 per page (client-go: 500): a raw Node decodes to ~50 KB of dicts, and the
#: smaller the page, the lower the transient peak of a list and the heap fragmentation it leaves
#: behind (5,000 Nodes: ~30 MB less RSS; see docs/performance.md).
NODE_LIST_PAGE_SIZE = 100
LeaderWork = Callable[[], Coroutine[Any, Any, None]]


def default_identity() -> str:
    """The Lease holder identity: the Pod's name (``POD_NAME``, else the hostname) plus a random
    suffix, so a restarted container never mistakes its predecessor's Lease for its own."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


@dataclass
class RunOptions:
    """What ``exoccm run`` gets besides the settings (tests inject a simulator transport)."""

    kubeconfig: Path | None = None
    exoscale_transport: httpx.AsyncBaseTransport | None = None
    identity: str = field(default_factory=default_identity)
    install_signal_handlers: bool = True


async def cluster_id(settings: Settings, kube: KubeClient) -> str:
    """``EXOCCM_CLUSTER_ID``, else the UID of ``kube-system``: unique per cluster, stable."""
    if settings.cluster_id:
        return settings.cluster_id
    namespace = await kube.get(NAMESPACES.path(name="kube-system"))
    return str(namespace["metadata"]["uid"])


class Application:
    """One exoccm process."""

    def __init__(self, settings: Settings, options: RunOptions):
        self.settings = settings
        self.options = options
        self.stopping = anyio.Event()
        self.checks = HealthChecks()
        self.informers: list[Informer] = []
        self.elector: LeaderElector | None = None

    def request_stop(self) -> None:
        if not self.stopping.is_set():
            log.info("shutdown_requested")
        self.stopping.set()

    def _informer(
        self,
        kube: KubeClient,
        resource: Resource,
        transform: Transform,
        name: str,
        options: ReflectorOptions | None = None,
    ) -> Informer:
        informer = Informer(kube, resource, transform=transform, name=name, options=options)
        self.informers.append(informer)
        return informer

    def _readiness(self) -> str | None:
        pending = [i.name for i in self.informers if not i.has_synced]
        return f"informers not synced: {', '.join(pending)}" if pending else None

    def _liveness(self) -> str | None:
        if self.elector is not None and not self.elector.healthy():
            return "leading but the Lease has not been renewed in time"
        return None

    async def run(self) -> int:
        settings = self.settings
        config = kubeconfig.load(self.options.kubeconfig)
        async with (
            KubeClient(config, user_agent=USER_AGENT) as kube,
            KubeClient(
                config, user_agent=f"{USER_AGENT} leader-election", max_connections=4
            ) as lease_kube,
            ExoscaleClients.from_settings(
                settings, transport=self.options.exoscale_transport
            ) as clients,
        ):
            cluster = await cluster_id(settings, kube)
            log.info(
                "exoccm_starting",
                version=__version__,
                zone=settings.zone,
                cluster_id=cluster,
                controllers=sorted(settings.enabled_controllers),
                identity=self.options.identity,
            )
            work = self._build(kube, clients, cluster)
            server = HttpServer(self.checks, settings.metrics_bind_address, settings.metrics_port)
            self.checks.readiness["informers"] = self._readiness
            self.checks.liveness["leader-election"] = self._liveness
            await server.start()
            try:
                return await self._serve(lease_kube, clients, work)
            finally:
                await server.stop()

    def _build(self, kube: KubeClient, clients: ExoscaleClients, cluster: str) -> list[LeaderWork]:
        settings = self.settings
        assert settings.zone is not None
        inventories = Inventories(clients.zone)
        nodes = self._informer(
            kube, NODES, project_node, "nodes", ReflectorOptions(page_size=NODE_LIST_PAGE_SIZE)
        )
        work: list[LeaderWork] = []
        if "service" in settings.enabled_controllers:
            services = self._informer(kube, SERVICES, project_service, "services")
            reconciler = ServiceReconciler(
                kube=kube,
                services=services,
                nodes=nodes,
                inventories=inventories,
                recorder=EventRecorder(kube, "service-controller", host=self.options.identity),
                config=ServiceControllerConfig(
                    default_zone=settings.zone,
                    known_zones=reachable_zones(settings.zone, settings.api_endpoint),
                    cluster_id=cluster,
                    drift_period=settings.drift_period,
                    existing_nlb_namespaces=settings.existing_nlb_namespace_set,
                    orphan_delete_limit=settings.orphan_delete_limit,
                    orphan_max_share=settings.orphan_max_share,
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
            controller = ServiceController(
                reconciler,
                workers=settings.service_workers,
                drift_period=settings.drift_period,
                resync_period=settings.resync_period,
            )
            work.append(self._until_stopped(controller.run, controller.stop))
        node_config = NodeControllerConfig.from_settings(settings)
        if node_config.enabled:
            csrs = None
            if "csr" in node_config.enabled:
                csrs = self._informer(kube, CSRS, project_csr, "csrs")
            node_controllers = NodeControllers(
                kube=kube,
                nodes=nodes,
                csrs=csrs,
                inventories=inventories,
                recorder=EventRecorder(kube, "cloud-node-controller", host=self.options.identity),
                config=node_config,
            )
            work.append(self._until_stopped(node_controllers.run, node_controllers.stop))
        return work

    def _until_stopped(self, run: LeaderWork, stop: Callable[[], None]) -> LeaderWork:
        async def serve() -> None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(run)
                await self.stopping.wait()
                stop()

        return serve

    async def _lead(self, work: list[LeaderWork]) -> None:
        log.info("leading: starting controllers")
        async with anyio.create_task_group() as tg:
            for serve in work:
                tg.start_soon(serve)
            await self.stopping.wait()

    async def _serve(
        self, lease_kube: KubeClient, clients: ExoscaleClients, work: list[LeaderWork]
    ) -> int:
        settings = self.settings
        exit_code = 0
        async with anyio.create_task_group() as tg:
            if self.options.install_signal_handlers:
                tg.start_soon(self._watch_signals)
            for informer in self.informers:
                tg.start_soon(informer.run)
            watcher = clients.credentials_watcher()
            if watcher is not None:
                tg.start_soon(watcher.run)
            tg.start_soon(self._freeze_after_sync)
            if settings.leader_elect:
                self.elector = LeaderElector(
                    lease_kube,
                    LeaderElectionConfig(
                        namespace=settings.leader_election_namespace,
                        name=settings.leader_election_name,
                        identity=self.options.identity,
                        lease_duration=settings.lease_duration,
                        renew_deadline=settings.renew_deadline,
                        retry_period=settings.retry_period,
                    ),
                )
                clients.set_guard(self.elector.still_leading)
                elector = self.elector

                async def stop_campaign() -> None:
                    await self.stopping.wait()
                    elector.stop()

                tg.start_soon(stop_campaign)
                try:
                    await self.elector.run(lambda: self._lead(work))
                except LeadershipLostError:
                    # Exit 1 so that Kubernetes restarts us as a fresh standby, unless we were
                    # stopping anyway (the apiserver went away while in-flight work drained):
                    # then the stop asked for has happened, and the Lease expires by itself.
                    exit_code = 0 if self.stopping.is_set() else 1
            else:
                await self._lead(work)
            tg.cancel_scope.cancel()
        log.info("exoccm_stopped", exit_code=exit_code)
        return exit_code

    async def _freeze_after_sync(self) -> None:
        """Move the synced caches out of the cyclic GC's way (they live as long as we do)."""
        for informer in self.informers:
            await informer.wait_synced()
        gc.collect()
        gc.freeze()

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                self.request_stop()


def remember_missing_sniffio() -> None:
    """Make ``import sniffio`` fail at once when sniffio is not installed.

    httpcore runs ``import sniffio`` each time it sets up a lock or an event (several times per
    request) and falls back to asyncio when that fails; anyio >= 4.11 no longer installs sniffio,
    and Python does not cache failed imports, so every request paid a search of ``sys.path``
    (encode/httpcore#1103): about 18% of exoccm's CPU while converging 1,000 NLBs. A ``None``
    entry in ``sys.modules`` is Python's own "this import fails" marker.
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def main(settings: Settings, options: RunOptions) -> int:
    """Run until SIGTERM/SIGINT; the process exit code."""
    remember_missing_sniffio()
    return anyio.run(Application(settings, options).run)
