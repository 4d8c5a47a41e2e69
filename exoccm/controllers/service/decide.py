"""What the service controller would do for one Service, decided without writing anything.

Shared by the reconcile (which then carries the decision out) and ``exoccm plan`` (which prints
it). Reads the caches and the zone's listings, and asks the API by ID where a listing cannot
settle a question (see :mod:`.authority`); never writes.

Besides the plan, a decision says when exoccm must not touch the NLB a Service names at all
(``refused``: it belongs to another Service or cluster, or the Service's namespace may not name
existing NLBs), and, after a zone change, which NLB of the old zone to retire once the Service's
status shows the new one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from exoccm.controllers.inventory import Inventories
from exoccm.controllers.service import records
from exoccm.controllers.service.annotations import PREFIX, LoadBalancerSettings, parse_annotations
from exoccm.controllers.service.authority import Authority
from exoccm.controllers.service.desired import (
    DesiredLoadBalancer,
    desired_load_balancer,
    single_port_annotation_notes,
    spec_problems,
)
from exoccm.controllers.service.diff import (
    AddService,
    Claim,
    Plan,
    plan_changes,
    port_conflicts,
)
from exoccm.controllers.service.lookup import (
    Found,
    LoadBalancerNotFoundError,
    find_load_balancer,
    owned_by,
)
from exoccm.controllers.service.ownership import (
    ID_ANNOTATION,
    Holder,
    Ownership,
    ServiceDirectory,
    claimants,
    describe_service,
    ownership_of,
    senior_claimant,
)
from exoccm.controllers.service.pool import PoolChoice, PoolError, choose_pool
from exoccm.exoscale.models import LoadBalancer
from exoccm.kube.objects import annotations_of, namespace_of, uid_of

POOL_ANNOTATION = PREFIX + "service-instancepool-id"
TENANCY_SETTING = "EXOCCM_EXISTING_NLB_NAMESPACES"


@dataclass(frozen=True)
class ServiceContext:
    """What every decision needs besides the Service."""

    default_zone: str
    known_zones: frozenset[str]
    cluster_id: str
    # Namespaces whose Services may name NLBs they did not get from exoccm (None: all).
    existing_nlb_namespaces: frozenset[str] | None = None

    def settings_of(self, service: Mapping[str, Any]) -> tuple[LoadBalancerSettings, list[str]]:
        settings, problems = parse_annotations(
            annotations_of(dict(service)), known_zones=self.known_zones
        )
        return settings, [str(p) for p in problems]

    def zone_of(self, settings: LoadBalancerSettings) -> str:
        return settings.zone or self.default_zone

    def may_name_existing(self, namespace: str) -> bool:
        return self.existing_nlb_namespaces is None or namespace in self.existing_nlb_namespaces


@dataclass(frozen=True)
class Note:
    """Something worth a Warning Event that does not stop the sync."""

    reason: str
    message: str


@dataclass(frozen=True)
class Retirement:
    """The Service's NLB in the zone it left, deleted once its status shows the new NLB."""

    zone: str
    load_balancer: LoadBalancer


@dataclass(frozen=True)
class Decision:
    """The outcome of looking at one Service: problems to report, or a plan."""

    zone: str
    settings: LoadBalancerSettings
    invalid: tuple[str, ...] = ()  # bad spec or annotations: report, make no cloud call
    refused: str | None = None  # the named NLB is not this Service's to use: no write at all
    blocked: str | None = None  # the NLB or its pool cannot be determined (yet)
    notes: tuple[Note, ...] = ()
    found: Found | None = None
    choice: PoolChoice | None = None
    desired: DesiredLoadBalancer | None = None
    plan: Plan = field(default_factory=Plan)
    retire: Retirement | None = None
    # The record to write on the Service before the plan runs (external NLBs), if it changes.
    record: records.Record | None = None

    def write_back(self, load_balancer_id: str) -> dict[str, str]:
        """The annotations exoccm writes on the Service once it has its NLB."""
        values = {ID_ANNOTATION: load_balancer_id}
        if self.choice is not None and self.choice.source != "annotation":
            values[POOL_ANNOTATION] = self.choice.pool_id
        return values


def refusal(
    service: Mapping[str, Any],
    settings: LoadBalancerSettings,
    lb: LoadBalancer,
    ownership: Ownership,
    directory: ServiceDirectory,
    context: ServiceContext,
) -> str | None:
    """Why the Service may not use the NLB it names, or None when it may."""
    namespace = namespace_of(dict(service))
    if ownership.ours and not settings.external:
        return None
    if not context.may_name_existing(namespace):
        what = f"{PREFIX}external" if settings.external else f"NLB {lb.id} (annotation {PREFIX}id)"
        return (
            f"Services of namespace {namespace} may not use existing NLBs ({what}): "
            f"{TENANCY_SETTING} does not list it; remove the annotation to get an NLB of the "
            "Service's own, or ask the cluster operator"
        )
    if ownership.ours:
        return None  # its own NLB, declared external: handed over to the user
    if ownership.holder in (Holder.OTHER_SERVICE, Holder.OTHER_CLUSTER) or (
        settings.external and not ownership.adoptable
    ):
        return (
            f"NLB {lb.id} belongs to {ownership.describe_owner()} (its exoccm labels); exoccm "
            "will not change it for this Service: remove the "
            f"{PREFIX}id and {PREFIX}name annotations to get an NLB of the Service's own"
        )
    if settings.external:
        return None  # not exoccm's: shared, only this Service's own NLB services are touched
    owners, sharers = claimants(directory, lb.id, service)
    if sharers:
        return (
            f"NLB {lb.id} is used as an external NLB by {describe_service(sharers[0])}; set "
            f'{PREFIX}external: "true" here too to share it, or remove {PREFIX}id'
        )
    senior = senior_claimant([*owners, service])
    if senior is not None and uid_of(dict(senior)) != uid_of(dict(service)):
        return (
            f"NLB {lb.id} is also named by {describe_service(senior)}, which claimed it first; "
            f"an NLB serves one Service unless it is external: remove {PREFIX}id to get an NLB "
            f'of this Service\'s own, or set {PREFIX}external: "true" on both'
        )
    return None


def _claims(
    service: Mapping[str, Any],
    lb: LoadBalancer | None,
    desired: DesiredLoadBalancer,
) -> frozenset[Claim]:
    if lb is None or not desired.external:
        return frozenset()
    wanted = [(s.name, s.port, s.protocol) for s in desired.services]
    return records.claims_on(service, lb.id) | records.legacy_claims(service, lb, wanted)


def _record_needed(
    service: Mapping[str, Any],
    lb: LoadBalancer | None,
    claimed: frozenset[Claim],
    plan: Plan,
) -> records.Record | None:
    """The record to write before the plan: custom-named NLB services about to be created on an
    external NLB, and, once, the claims of a Service that never had a record."""
    if lb is None:
        return None
    uid = uid_of(dict(service))
    pending = {
        (step.service.name, step.service.port, step.service.protocol)
        for step in plan.steps
        if isinstance(step, AddService) and not step.service.name.startswith(f"{uid}-")
    }
    existing = {(s.name, s.port, s.protocol) for s in lb.services}
    wanted = frozenset((claimed & existing) | pending)
    current = records.record_of(service)
    if records.has_record(service) and current.get(lb.id, frozenset()) == wanted:
        return None
    return {lb.id: wanted}


async def decide(
    service: Mapping[str, Any],
    nodes: Collection[Mapping[str, Any]],
    inventories: Inventories,
    context: ServiceContext,
    *,
    authority: Authority,
    directory: ServiceDirectory,
) -> Decision:
    """Validate, find the NLB and its pool, check ownership, and plan. API errors propagate."""
    settings, problems = context.settings_of(service)
    problems += [str(p) for p in spec_problems(service)]
    zone = context.zone_of(settings)
    if problems:
        return Decision(zone, settings, invalid=tuple(problems))
    notes = [Note("IgnoredAnnotation", n) for n in single_port_annotation_notes(service, settings)]
    inventory = inventories.zone(zone)
    uid = uid_of(dict(service))
    retire: Retirement | None = None
    try:
        found = await find_load_balancer(
            settings,
            uid,
            inventory,
            authority,
            cluster_id=context.cluster_id,
            other_zones=context.known_zones,
        )
        lb = found.load_balancer
        if lb is not None:
            ownership = ownership_of(
                lb.labels, cluster_id=context.cluster_id, service_uid=uid, directory=directory
            )
            refused = refusal(service, settings, lb, ownership, directory, context)
            if refused:
                return Decision(zone, settings, refused=refused, notes=tuple(notes), found=found)
            if found.zone != zone:
                if not ownership.ours:
                    return Decision(
                        zone,
                        settings,
                        blocked=(
                            f"NLB {lb.id} (annotation {ID_ANNOTATION}) is in zone {found.zone}, "
                            f"not in the Service's zone {zone}: set {PREFIX}zone to "
                            f"{found.zone}, or remove {ID_ANNOTATION} to get a new NLB in {zone}"
                        ),
                        notes=tuple(notes),
                    )
                # The user moved the Service to another zone: its NLB there (left from an
                # earlier move, found by labels) or a new one; the old one goes afterwards.
                retire = Retirement(found.zone, lb)
                mine = inventory.find_by_labels(owned_by(uid, context.cluster_id))
                found = Found(mine[0], "labels", zone) if mine else Found(None, "none")
                lb = found.load_balancer
        choice = await choose_pool(
            settings, list(nodes), inventory, stale_annotation_ok=retire is not None
        )
    except (LoadBalancerNotFoundError, PoolError) as exc:
        message = str(exc)
        if retire is not None:
            message = (
                f"cannot move to zone {zone}: {message}; the NLB {retire.load_balancer.id} in "
                f"zone {retire.zone} keeps serving the Service"
            )
        return Decision(zone, settings, blocked=message, notes=tuple(notes))
    if found.id_missing:
        notes.append(
            Note(
                "LoadBalancerNotFound",
                f"NLB {settings.load_balancer_id} (annotation {ID_ANNOTATION}) does not exist in "
                f"any zone: creating a new NLB in zone {zone} and recording its ID there",
            )
        )
    desired = desired_load_balancer(
        service, settings, zone=zone, instance_pool_id=choice.pool_id, cluster_id=context.cluster_id
    )
    claimed = _claims(service, lb, desired)
    conflicts = port_conflicts(desired, lb, service_uid=uid, claimed=claimed)
    if conflicts:
        return Decision(zone, settings, blocked="; ".join(conflicts), notes=tuple(notes))
    plan = plan_changes(desired, lb, service_uid=uid, claimed=claimed)
    return Decision(
        zone,
        settings,
        notes=tuple(notes),
        found=found,
        choice=choice,
        desired=desired,
        plan=plan,
        retire=retire,
        record=_record_needed(service, lb, claimed, plan) if desired.external else None,
    )


async def decide_confirmed(
    service: Mapping[str, Any],
    nodes: Collection[Mapping[str, Any]],
    inventories: Inventories,
    context: ServiceContext,
    *,
    authority: Authority,
    directory: ServiceDirectory,
) -> Decision:
    """:func:`decide`, made again on an authoritative read of the NLB whenever the decision
    would write to it (or refuse it): the plan that runs is always planned on the API's answer,
    never on the listing alone."""
    while True:
        decision = await decide(
            service, nodes, inventories, context, authority=authority, directory=directory
        )
        found = decision.found
        if found is None or found.load_balancer is None:
            return decision
        lb = found.load_balancer
        acts = bool(decision.plan) or decision.record is not None or decision.refused is not None
        if not acts or authority.knows(found.zone, lb.id):
            return decision
        await authority.read(found.zone, lb.id)
