"""The service controller: one Exoscale NLB per Service of type LoadBalancer.

``reconcile(key)`` is level-triggered: it reads the cached Service and Nodes and the zone's NLB
listing, computes the desired NLB (pure), plans the changes (pure), applies them, then brings
the Service's finalizer, annotations and status in line. A converged Service costs no API call,
neither to Exoscale nor to Kubernetes. Bad input becomes a Warning Event and no cloud call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from exoccm.controllers.inventory import Inventories
from exoccm.controllers.service import kubeside
from exoccm.controllers.service.annotations import LoadBalancerSettings
from exoccm.controllers.service.apply import apply_plan
from exoccm.controllers.service.decide import ServiceContext, decide
from exoccm.controllers.service.diff import DeleteService, plan_deletion
from exoccm.controllers.service.lookup import LoadBalancerNotFoundError, find_load_balancer
from exoccm.engine.controller import DONE, Result, RetryAfterError
from exoccm.engine.informer import Informer
from exoccm.exoscale.errors import ExoscaleError, NotLeaderError, RateLimitedError
from exoccm.kube.client import KubeClient
from exoccm.kube.errors import ConflictError, NotFoundError
from exoccm.kube.events import EventRecorder, EventType
from exoccm.kube.objects import uid_of

log = structlog.get_logger(__name__)

Obj = dict[str, Any]


@dataclass(frozen=True)
class ServiceControllerConfig:
    default_zone: str
    known_zones: frozenset[str]
    cluster_id: str
    drift_period: float = 60.0


class SyncBlockedError(Exception):
    """The NLB or its pool cannot be determined yet; the Warning Event says why."""


class ServiceReconciler:
    """Reconciles one Service key against Exoscale; wiring lives in :mod:`.runner`."""

    def __init__(
        self,
        *,
        kube: KubeClient,
        services: Informer,
        nodes: Informer,
        inventories: Inventories,
        recorder: EventRecorder,
        config: ServiceControllerConfig,
    ):
        self.kube = kube
        self.services = services
        self.nodes = nodes
        self.inventories = inventories
        self.recorder = recorder
        self.config = config
        self.context = ServiceContext(config.default_zone, config.known_zones, config.cluster_id)

    async def _event(self, service: Obj, type_: EventType, reason: str, message: str) -> None:
        await self.recorder.event(service, type_, reason, message, kind="Service", api_version="v1")

    def settings_of(self, service: Obj) -> tuple[LoadBalancerSettings, list[str]]:
        return self.context.settings_of(service)

    def zone_of(self, settings: LoadBalancerSettings) -> str:
        return self.context.zone_of(settings)

    # -- the reconcile ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result:
        service = self.services.get(key)
        if service is None:
            return DONE  # gone; with our finalizer it could not have gone before cleanup
        try:
            if not kubeside.wants_load_balancer(service):
                if kubeside.has_finalizer(service):
                    await self._cleanup(service)
                return DONE
            return await self._ensure(service)
        except NotLeaderError:
            log.info("not leading any more; leaving the Service as it is", service=key)
            return DONE
        except RateLimitedError as exc:
            raise RetryAfterError(exc.retry_after or 5.0, str(exc)) from exc
        except ConflictError as exc:
            # The cached Service is behind the apiserver; the watch brings the new one.
            raise RetryAfterError(1.0, f"conflict writing the Service: {exc}") from exc
        except NotFoundError:
            return DONE  # the Service was deleted while we worked

    async def _ensure(self, service: Obj) -> Result:
        try:
            decision = await decide(service, self.nodes.list(), self.inventories, self.context)
        except ExoscaleError as exc:
            # A listing could not be read (the API down, garbage answers): tell the user as of
            # any sync error; the reconcile is retried with backoff.
            await self._failed(service, exc)
            raise
        if decision.invalid:
            await self._failed(service, "; ".join(decision.invalid))
            return DONE  # nothing to retry until the Service changes
        for note in decision.notes:
            await self._event(service, "Warning", note.reason, note.message)
        if decision.blocked:
            await self._failed(service, decision.blocked)
            raise SyncBlockedError(decision.blocked)  # retried with backoff
        assert decision.found is not None
        lb = decision.found.load_balancer
        plan = decision.plan
        if plan:
            # The finalizer goes on before the first cloud write, so nothing can leak.
            service = await kubeside.add_finalizer(self.kube, service) or service
            await self._event(service, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer")
            try:
                lb = await apply_plan(plan, lb, self.inventories.zone(decision.zone))
            except NotLeaderError:
                raise
            except ExoscaleError as exc:
                await self._failed(service, exc)
                raise
            if any(isinstance(s, DeleteService) and s.pool_change for s in plan.steps):
                await self._event(
                    service, "Normal", "UpdatedLoadBalancer", "Updated load balancer with new hosts"
                )
            await self._event(service, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")
        elif lb is not None:
            # Adopted or converged: whatever we manage must be cleaned up on deletion.
            service = await kubeside.add_finalizer(self.kube, service) or service
        assert lb is not None
        await kubeside.write_annotations(self.kube, service, decision.write_back(lb.id))
        await kubeside.set_ingress(self.kube, service, lb.ip)
        return DONE

    async def _failed(self, service: Obj, problem: object) -> None:
        await self._event(
            service, "Warning", "SyncLoadBalancerFailed", f"Error syncing load balancer: {problem}"
        )

    async def _delete_failed(self, service: Obj, problem: object) -> None:
        await self._event(
            service,
            "Warning",
            "DeleteLoadBalancerFailed",
            f"Error deleting load balancer: {problem}",
        )

    # -- cleanup ------------------------------------------------------------------------------

    async def _cleanup(self, service: Obj) -> None:
        settings, _ = self.settings_of(service)  # bad annotations must not block deletion
        inventory = self.inventories.zone(self.zone_of(settings))
        uid = uid_of(service)
        try:
            found = await find_load_balancer(settings, uid, inventory)
        except LoadBalancerNotFoundError:
            found = None
        except ExoscaleError as exc:
            await self._delete_failed(service, exc)
            raise
        if found is not None and found.load_balancer is not None:
            lb = found.load_balancer
            await self._event(service, "Normal", "DeletingLoadBalancer", "Deleting load balancer")
            plan = plan_deletion(
                lb,
                external=settings.external,
                service_uid=uid,
                owned_names=_owned_names(service, settings),
            )
            try:
                await apply_plan(plan, lb, inventory)
            except ExoscaleError as exc:
                if not isinstance(exc, NotLeaderError):
                    await self._delete_failed(service, exc)
                raise
            await self._event(service, "Normal", "DeletedLoadBalancer", "Deleted load balancer")
        if not service.get("metadata", {}).get("deletionTimestamp"):
            # The Service stays (type changed): it has no load balancer any more.
            service = await kubeside.set_ingress(self.kube, service, None) or service
        await kubeside.remove_finalizer(self.kube, service)


def _owned_names(service: Obj, settings: LoadBalancerSettings) -> frozenset[str]:
    ports = (service.get("spec") or {}).get("ports") or []
    if len(ports) == 1 and settings.service_name:
        return frozenset({settings.service_name})
    return frozenset()
