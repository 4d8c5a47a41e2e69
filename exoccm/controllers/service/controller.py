"""The service controller: one Exoscale NLB per Service of type LoadBalancer.

``reconcile(key)`` is level-triggered: it reads the cached Service and Nodes and the zone's NLB
listing, computes the desired NLB (pure), plans the changes (pure), applies them, then brings
the Service's finalizer, annotations and status in line. A converged Service costs no API call,
neither to Exoscale nor to Kubernetes. Bad input becomes a Warning Event and no cloud call.

Writes follow the rule of :mod:`.authority`: a plan that writes to an existing NLB is made again
on a ``get-load-balancer`` answer before it runs, and an NLB of another Service or cluster is
never written to (a Warning names its owner).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from exoccm.controllers.inventory import Inventories
from exoccm.controllers.service import kubeside, records
from exoccm.controllers.service.annotations import LoadBalancerSettings
from exoccm.controllers.service.apply import apply_plan
from exoccm.controllers.service.authority import Authority
from exoccm.controllers.service.decide import (
    Decision,
    Retirement,
    ServiceContext,
    decide_confirmed,
)
from exoccm.controllers.service.diff import DeleteService, Plan, plan_deletion
from exoccm.controllers.service.lookup import LoadBalancerNotFoundError, find_load_balancer
from exoccm.controllers.service.own_writes import OwnWrites
from exoccm.controllers.service.ownership import (
    ServiceDirectory,
    claimants,
    describe_service,
    named_id,
    ownership_of,
)
from exoccm.engine.controller import DONE, Result, RetryAfterError
from exoccm.engine.informer import Informer
from exoccm.exoscale.errors import ExoscaleError, NotLeaderError, RateLimitedError
from exoccm.exoscale.models import LoadBalancer
from exoccm.kube.client import KubeClient
from exoccm.kube.errors import KubeConflictError, KubeError, KubeNotFoundError
from exoccm.kube.events import EventRecorder, EventType
from exoccm.kube.objects import Obj, key_of, uid_of

log = structlog.get_logger(__name__)


NLB_ID_INDEX = "nlb-id"
UID_INDEX = "uid"


@dataclass(frozen=True)
class ServiceControllerConfig:
    default_zone: str
    known_zones: frozenset[str]
    cluster_id: str
    drift_period: float = 60.0
    existing_nlb_namespaces: frozenset[str] | None = None  # None: every namespace
    orphan_delete_limit: int = 10
    orphan_max_share: float = 0.5
    # What Warnings about exoccm as a whole are recorded on (the leader election Lease).
    event_object: Mapping[str, Any] | None = None


class SyncBlockedError(Exception):
    """The NLB or its pool cannot be determined yet; the Warning Event says why."""


class InformerServices:
    """A :class:`~.ownership.ServiceDirectory` over the Service informer's indexes."""

    def __init__(self, services: Informer):
        self._services = services
        services.add_index(NLB_ID_INDEX, lambda s: [i] if (i := named_id(s)) else [])
        services.add_index(UID_INDEX, lambda s: [uid_of(s)])

    def naming(self, lb_id: str) -> list[Mapping[str, Any]]:
        return [
            s
            for s in self._services.by_index(NLB_ID_INDEX, lb_id)
            if kubeside.wants_load_balancer(s)
        ]

    def has_uid(self, uid: str) -> bool:
        return bool(self._services.index_keys(UID_INDEX, uid))


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
        self.directory: ServiceDirectory = InformerServices(services)
        # What the last writes answered, read until the cache shows them (no double writes).
        self.own_writes = OwnWrites()
        # Called with the keys of Services that may take over an NLB another one released.
        self.on_released: Callable[[Iterable[str]], None] = lambda _keys: None
        self.context = ServiceContext(
            config.default_zone,
            config.known_zones,
            config.cluster_id,
            config.existing_nlb_namespaces,
        )

    def _wrote(self, before: Obj, answer: Obj | None) -> Obj | None:
        return self.own_writes.remember(before, answer)

    async def _event(self, service: Obj, type_: EventType, reason: str, message: str) -> None:
        await self.recorder.event(service, type_, reason, message, kind="Service", api_version="v1")

    def settings_of(self, service: Obj) -> tuple[LoadBalancerSettings, list[str]]:
        return self.context.settings_of(service)

    def zone_of(self, settings: LoadBalancerSettings) -> str:
        return self.context.zone_of(settings)

    # -- the reconcile ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result:
        service = self.own_writes.current(key, self.services.get(key))
        if service is None:
            return DONE  # gone; with our finalizer it could not have gone before cleanup
        try:
            if not kubeside.wants_load_balancer(service):
                if kubeside.has_finalizer(service):
                    await self._cleanup(service)
                return DONE
            return await self._ensure(service)
        except NotLeaderError:
            log.info("Not leading any more; leaving the Service as it is", service=key)
            return DONE
        except RateLimitedError as exc:
            raise RetryAfterError(exc.retry_after or 5.0, str(exc)) from exc
        except KubeConflictError as exc:
            # The cached Service is behind the apiserver; the watch brings the new one.
            raise RetryAfterError(1.0, f"conflict writing the Service: {exc}") from exc
        except KubeNotFoundError:
            return DONE  # the Service was deleted while we worked

    async def _decide(self, service: Obj, authority: Authority) -> Decision:
        return await decide_confirmed(
            service,
            self.nodes.list(),
            self.inventories,
            self.context,
            authority=authority,
            directory=self.directory,
        )

    async def _ensure(self, service: Obj) -> Result:
        authority = Authority(self.inventories)
        try:
            decision = await self._decide(service, authority)
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
        if decision.refused:
            # Not this Service's NLB: no write, no retry; the drift pass looks again.
            await self._failed(service, decision.refused)
            return DONE
        if decision.blocked:
            await self._failed(service, decision.blocked)
            raise SyncBlockedError(decision.blocked)  # retried with backoff
        assert decision.found is not None
        lb = decision.found.load_balancer
        plan = decision.plan
        if decision.record is not None:
            # Before the NLB services it names are created, so a crash cannot orphan them.
            service = (
                self._wrote(
                    service, await kubeside.write_record(self.kube, service, decision.record)
                )
                or service
            )
        if plan:
            # The finalizer goes on before the first cloud write, so nothing can leak.
            service = (
                self._wrote(service, await kubeside.add_finalizer(self.kube, service)) or service
            )
            await self._event(service, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer")
            recorded: list[Obj] = []

            async def record_id(lb_id: str) -> None:
                written = await self._record_id(service, decision, lb_id)
                recorded.extend([written] if written is not None else [])

            try:
                lb = await apply_plan(
                    plan, lb, self.inventories.zone(decision.zone), on_created=record_id
                )
            except NotLeaderError:
                raise
            except ExoscaleError as exc:
                await self._failed(service, exc)
                raise
            service = recorded[-1] if recorded else service
            if any(isinstance(s, DeleteService) and s.pool_change for s in plan.steps):
                await self._event(
                    service, "Normal", "UpdatedLoadBalancer", "Updated load balancer with new hosts"
                )
            await self._event(service, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")
        elif lb is not None:
            # Adopted or converged: whatever we manage must be cleaned up on deletion.
            service = (
                self._wrote(service, await kubeside.add_finalizer(self.kube, service)) or service
            )
        assert lb is not None
        service = (
            self._wrote(
                service,
                await kubeside.write_annotations(self.kube, service, decision.write_back(lb.id)),
            )
            or service
        )
        service = (
            self._wrote(service, await kubeside.set_ingress(self.kube, service, lb.ip)) or service
        )
        if decision.retire is not None:
            await self._retire(service, decision.retire, authority)
        return DONE

    async def _record_id(self, service: Obj, decision: Decision, lb_id: str) -> Obj | None:
        """Name a new NLB on its Service at once: until then only listings could show it to a
        later leader, and a listing may leave it out (it would make a second NLB)."""
        try:
            return await kubeside.write_annotations(self.kube, service, decision.write_back(lb_id))
        except KubeError as exc:  # the write after the plan tries again
            log.warning("NLB ID not recorded", service=key_of(service), nlb=lb_id, error=str(exc))
            return None

    async def _retire(self, service: Obj, retire: Retirement, authority: Authority) -> None:
        """Delete the NLB of the zone the Service left, now that its status shows the new one."""
        old = await authority.read(retire.zone, retire.load_balancer.id)
        if old is None:
            return
        ownership = ownership_of(
            old.labels,
            cluster_id=self.config.cluster_id,
            service_uid=uid_of(service),
            directory=self.directory,
        )
        if not ownership.ours:
            return
        message = f"Deleting load balancer {old.id} in zone {retire.zone}: the Service moved"
        await self._event(service, "Normal", "DeletingLoadBalancer", message)
        try:
            await apply_plan(
                plan_deletion(old, whole=True, service_uid=uid_of(service)),
                old,
                self.inventories.survey(retire.zone),
            )
        except ExoscaleError as exc:
            if not isinstance(exc, NotLeaderError):
                await self._delete_failed(service, exc)
            raise
        await self._event(service, "Normal", "DeletedLoadBalancer", "Deleted load balancer")

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

    async def _cleanup_plan(
        self, service: Obj, settings: LoadBalancerSettings, authority: Authority
    ) -> CleanupPlan:
        """What deleting the Service deletes, judged on authoritative reads.

        Only the Service's own NLB goes, and only if no other Service names it (that one takes
        it over); on an NLB that is not its own, only the NLB services it created.
        """
        uid = uid_of(service)
        try:
            found = await find_load_balancer(
                settings,
                uid,
                self.inventories.zone(self.zone_of(settings)),
                authority,
                cluster_id=self.config.cluster_id,
                other_zones=self.config.known_zones,
            )
        except LoadBalancerNotFoundError:
            return CleanupPlan()
        if found.load_balancer is None:
            return CleanupPlan()
        lb = await authority.read(found.zone, found.load_balancer.id)
        if lb is None:
            return CleanupPlan()
        ownership = ownership_of(
            lb.labels, cluster_id=self.config.cluster_id, service_uid=uid, directory=self.directory
        )
        own_services = plan_deletion(
            lb, whole=False, service_uid=uid, claimed=records.claims_on(service, lb.id)
        )
        if ownership.ours and not settings.external:
            owners, sharers = claimants(self.directory, lb.id, service)
            if not owners and not sharers:
                return CleanupPlan(found.zone, lb, plan_deletion(lb, whole=True, service_uid=uid))
            others = [*owners, *sharers]
            note = f"NLB {lb.id} is kept: {describe_service(others[0])} names it too"
            return CleanupPlan(
                found.zone, lb, own_services, note, tuple(key_of(dict(o)) for o in others)
            )
        if ownership.ours or (settings.external and ownership.adoptable):
            return CleanupPlan(found.zone, lb, own_services)
        note = f"NLB {lb.id} belongs to {ownership.describe_owner()}: left untouched"
        return CleanupPlan(found.zone, lb, Plan(), note)

    async def _cleanup(self, service: Obj) -> None:
        settings, _ = self.settings_of(service)  # bad annotations must not block deletion
        try:
            cleanup = await self._cleanup_plan(service, settings, Authority(self.inventories))
        except ExoscaleError as exc:
            await self._delete_failed(service, exc)
            raise
        if cleanup.note:
            await self._event(service, "Normal", "LoadBalancerKept", cleanup.note)
        if cleanup.plan:
            await self._event(service, "Normal", "DeletingLoadBalancer", "Deleting load balancer")
            try:
                await apply_plan(
                    cleanup.plan, cleanup.load_balancer, self.inventories.survey(cleanup.zone)
                )
            except ExoscaleError as exc:
                if not isinstance(exc, NotLeaderError):
                    await self._delete_failed(service, exc)
                raise
            await self._event(service, "Normal", "DeletedLoadBalancer", "Deleted load balancer")
        if not service.get("metadata", {}).get("deletionTimestamp"):
            # The Service stays (type changed): it has no load balancer any more.
            service = (
                self._wrote(service, await kubeside.set_ingress(self.kube, service, None))
                or service
            )
        self._wrote(service, await kubeside.remove_finalizer(self.kube, service))
        if cleanup.hand_to:
            self.on_released(cleanup.hand_to)


@dataclass(frozen=True)
class CleanupPlan:
    zone: str = ""
    load_balancer: LoadBalancer | None = None
    plan: Plan = field(default_factory=Plan)
    note: str | None = None  # why something stays, for an Event
    hand_to: tuple[str, ...] = ()  # keys of the Services that take the kept NLB over
