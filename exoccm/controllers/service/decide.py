"""What the service controller would do for one Service, decided from caches and listings only.

Shared by the reconcile (which then carries the decision out) and ``exoccm plan`` (which prints
it). Reads the zone's listings (listing them once if needed) but never writes anything.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from exoccm.controllers.inventory import Inventories
from exoccm.controllers.service.annotations import PREFIX, LoadBalancerSettings, parse_annotations
from exoccm.controllers.service.desired import (
    DesiredLoadBalancer,
    desired_load_balancer,
    single_port_annotation_notes,
    spec_problems,
)
from exoccm.controllers.service.diff import Plan, plan_changes, port_conflicts
from exoccm.controllers.service.lookup import (
    Found,
    LoadBalancerNotFoundError,
    find_load_balancer,
)
from exoccm.controllers.service.pool import PoolChoice, PoolError, choose_pool
from exoccm.kube.objects import annotations_of, uid_of

ID_ANNOTATION = PREFIX + "id"
POOL_ANNOTATION = PREFIX + "service-instancepool-id"


@dataclass(frozen=True)
class ServiceContext:
    """What every decision needs besides the Service."""

    default_zone: str
    known_zones: frozenset[str]
    cluster_id: str

    def settings_of(self, service: Mapping[str, Any]) -> tuple[LoadBalancerSettings, list[str]]:
        settings, problems = parse_annotations(
            annotations_of(dict(service)), known_zones=self.known_zones
        )
        return settings, [str(p) for p in problems]

    def zone_of(self, settings: LoadBalancerSettings) -> str:
        return settings.zone or self.default_zone


@dataclass(frozen=True)
class Note:
    """Something worth a Warning Event that does not stop the sync."""

    reason: str
    message: str


@dataclass(frozen=True)
class Decision:
    """The outcome of looking at one Service: either problems to report, or a plan."""

    zone: str
    settings: LoadBalancerSettings
    invalid: tuple[str, ...] = ()  # bad spec or annotations: report, make no cloud call
    blocked: str | None = None  # the NLB or its pool cannot be determined
    notes: tuple[Note, ...] = ()
    found: Found | None = None
    choice: PoolChoice | None = None
    desired: DesiredLoadBalancer | None = None
    plan: Plan = field(default_factory=Plan)

    def write_back(self, load_balancer_id: str) -> dict[str, str]:
        """The annotations exoccm writes on the Service once it has its NLB."""
        values = {ID_ANNOTATION: load_balancer_id}
        if self.choice is not None and self.choice.source != "annotation":
            values[POOL_ANNOTATION] = self.choice.pool_id
        return values


async def decide(
    service: Mapping[str, Any],
    nodes: Collection[Mapping[str, Any]],
    inventories: Inventories,
    context: ServiceContext,
) -> Decision:
    """Validate, find the NLB and its pool, and plan. API errors of the lookups propagate."""
    settings, problems = context.settings_of(service)
    problems += [str(p) for p in spec_problems(service)]
    zone = context.zone_of(settings)
    if problems:
        return Decision(zone, settings, invalid=tuple(problems))
    notes = [Note("IgnoredAnnotation", n) for n in single_port_annotation_notes(service, settings)]
    inventory = inventories.zone(zone)
    uid = uid_of(dict(service))
    try:
        found = await find_load_balancer(settings, uid, inventory)
        choice = await choose_pool(settings, list(nodes), inventory)
    except (LoadBalancerNotFoundError, PoolError) as exc:
        return Decision(zone, settings, blocked=str(exc), notes=tuple(notes))
    if found.load_balancer is None and settings.load_balancer_id:
        notes.append(
            Note(
                "LoadBalancerNotFound",
                f"NLB {settings.load_balancer_id} (annotation {ID_ANNOTATION}) does not exist in "
                f"zone {zone}: creating a new NLB and recording its ID there",
            )
        )
    desired = desired_load_balancer(
        service, settings, zone=zone, instance_pool_id=choice.pool_id, cluster_id=context.cluster_id
    )
    conflicts = port_conflicts(desired, found.load_balancer, service_uid=uid)
    if conflicts:
        return Decision(zone, settings, blocked="; ".join(conflicts), notes=tuple(notes))
    return Decision(
        zone,
        settings,
        notes=tuple(notes),
        found=found,
        choice=choice,
        desired=desired,
        plan=plan_changes(desired, found.load_balancer, service_uid=uid),
    )
