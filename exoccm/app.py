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

from exoccm import __version__, allocator
from exoccm.config import Settings
from exoccm.controllers import registry
from exoccm.controllers.inventory import Inventories
from exoccm.engine.informer import Informer
from exoccm.engine.leader import LeaderElectionConfig, LeaderElector, LeadershipLostError
from exoccm.engine.reflector import ReflectorOptions
from exoccm.exoscale import ExoscaleClients
from exoccm.kube import config as kubeconfig
from exoccm.kube.client import KubeClient
from exoccm.kube.resources import NAMESPACES
from exoccm.observability.server import HealthChecks, HttpServer

log = structlog.get_logger(__name__)

USER_AGENT = f"exoccm/{__version__}"
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
            log.info("Shutdown requested")
        self.stopping.set()

    def _informer(self, kube: KubeClient, spec: registry.InformerSpec) -> Informer:
        options = ReflectorOptions(page_size=spec.page_size) if spec.page_size else None
        informer = Informer(
            kube, spec.resource, transform=spec.projection, name=spec.name, options=options
        )
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
                "Starting exoccm",
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
        """The informers and controllers of the enabled controllers, from the registry."""
        enabled = self.settings.enabled_controllers
        wiring = registry.Wiring(
            settings=self.settings,
            kube=kube,
            inventories=Inventories(clients.zone),
            informers={spec: self._informer(kube, spec) for spec in registry.informers_of(enabled)},
            cluster_id=cluster,
            identity=self.options.identity,
        )
        work: list[LeaderWork] = []
        for factory, names in registry.factories_of(enabled):
            built = factory(wiring, names)
            work.append(self._until_stopped(built.run, built.stop))
        return work

    def _until_stopped(self, run: LeaderWork, stop: Callable[[], None]) -> LeaderWork:
        async def serve() -> None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(run)
                await self.stopping.wait()
                stop()

        return serve

    async def _lead(self, work: list[LeaderWork]) -> None:
        log.info("Leading, starting controllers")
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
        log.info("Stopped exoccm", exit_code=exit_code)
        return exit_code

    async def _freeze_after_sync(self) -> None:
        """Move the synced caches out of the cyclic GC's way (they live as long as we do)."""
        for informer in self.informers:
            await informer.wait_synced()
        gc.collect()
        gc.freeze()
        # The initial lists' bodies are freed by now; glibc keeps what they leave in its heap.
        allocator.trim()

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
    tuning = allocator.tune()
    if tuning.skipped:
        log.info("Left the C library's malloc as it is", reason=tuning.skipped)
    else:
        log.info("Set glibc's malloc thresholds", applied=tuning.applied, user_set=tuning.user_set)
    return anyio.run(Application(settings, options).run)
