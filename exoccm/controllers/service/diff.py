"""The changes that turn the observed NLB into the desired one: a pure, ordered plan.

NLB services are matched to Service ports by (port, protocol), as the Go CCM does. A pool change
needs delete + add because the API cannot move a service to another pool. On an external NLB only
this Service's NLB services are touched, so NLBs shared between Services keep the others'.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from exoccm.controllers.service.declarations import HEALTH_CHECK
from exoccm.controllers.service.desired import (
    LABEL_MANAGED_BY,
    LABEL_SERVICE_UID,
    MANAGED_BY,
    OWNERSHIP_LABEL_KEYS,
    DesiredLoadBalancer,
    DesiredService,
)
from exoccm.exoscale.models import Healthcheck, LoadBalancer, LoadBalancerService


@dataclass(frozen=True)
class CreateLoadBalancer:
    name: str
    description: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class UpdateLoadBalancer:
    """Only the fields that differ are set."""

    name: str | None = None
    description: str | None = None
    labels: Mapping[str, str] | None = None


@dataclass(frozen=True)
class ResetLoadBalancerDescription:
    """Clearing a description goes through the reset-field endpoint, not an empty string."""


@dataclass(frozen=True)
class ResetLoadBalancerLabels:
    """Clearing all labels goes through the reset-field endpoint too."""


@dataclass(frozen=True)
class AddService:
    service: DesiredService


@dataclass(frozen=True)
class UpdateService:
    service_id: str
    service: DesiredService
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResetServiceDescription:
    service_id: str


@dataclass(frozen=True)
class DeleteService:
    service_id: str
    name: str
    reason: str
    pool_change: bool = False  # deleted to be re-added on another Instance Pool


@dataclass(frozen=True)
class DeleteLoadBalancer:
    load_balancer_id: str
    name: str


Step = (
    CreateLoadBalancer
    | UpdateLoadBalancer
    | ResetLoadBalancerDescription
    | ResetLoadBalancerLabels
    | AddService
    | UpdateService
    | ResetServiceDescription
    | DeleteService
    | DeleteLoadBalancer
)


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return bool(self.steps)

    def describe(self) -> list[str]:
        return [describe_step(step) for step in self.steps]


def describe_step(step: Step) -> str:
    match step:
        case CreateLoadBalancer(name=name):
            return f"create NLB {name}"
        case UpdateLoadBalancer():
            fields = [n for n in ("name", "description", "labels") if getattr(step, n) is not None]
            return f"update NLB {', '.join(fields)}"
        case ResetLoadBalancerDescription():
            return "clear NLB description"
        case ResetLoadBalancerLabels():
            return "clear NLB labels"
        case AddService(service=svc):
            return f"add NLB service {svc.name} ({svc.protocol}/{svc.port} -> {svc.target_port})"
        case UpdateService(service=svc, changed=changed):
            return f"update NLB service {svc.name} ({', '.join(changed)})"
        case ResetServiceDescription(service_id=sid):
            return f"clear description of NLB service {sid}"
        case DeleteService(name=name, reason=reason):
            return f"delete NLB service {name} ({reason})"
        case DeleteLoadBalancer(name=name):
            return f"delete NLB {name}"
    raise AssertionError(step)  # pragma: no cover - exhaustive


# What the API reports for an NLB or NLB service whose last operation failed.
FAILED_STATE = "error"
# ... and for one whose deletion is under way (a delete sent again gets 409 until it ends).
DELETING_STATE = "deleting"


def _blank(value: str | None) -> str:
    return value or ""


def _same(wanted: object, held: object) -> bool:
    """Equal, an unset text and an empty one being the same (the API leaves empty ones out)."""
    return wanted == held or (wanted in (None, "") and held in (None, ""))


def healthcheck_differences(wanted: Healthcheck, held: Healthcheck | None) -> list[str]:
    """Names of the health-check fields an update must change, one per declaration that feeds
    the health check.

    The API merges an update's healthcheck into the current one and cannot clear a field such
    as uri or tls-sni, so after a switch to a mode that does not use it, it lingers: a field
    bound to some modes is compared only in those, or every reconcile would send the same
    update again.
    """
    return [
        f"healthcheck.{annotation.feeds.field.replace('_', '-')}"
        for annotation in HEALTH_CHECK
        if annotation.applies_in(str(wanted.mode))
        and not _same(
            getattr(wanted, annotation.feeds.field),
            getattr(held, annotation.feeds.field) if held is not None else None,
        )
    ]


def service_differences(desired: DesiredService, observed: LoadBalancerService) -> tuple[str, ...]:
    """Names of the fields an update must change (the pool is compared separately)."""
    pairs: list[tuple[str, object, object]] = [
        ("name", desired.name, observed.name),
        ("description", desired.description, _blank(observed.description)),
        ("protocol", desired.protocol, observed.protocol),
        ("strategy", desired.strategy, observed.strategy),
        ("port", desired.port, observed.port),
        ("target-port", desired.target_port, observed.target_port),
    ]
    changed = [name for name, a, b in pairs if a != b]
    return (*changed, *healthcheck_differences(desired.healthcheck, observed.healthcheck))


# An NLB service on an external NLB, as the Service's record of what it created names it.
Claim = tuple[str, int, str]  # (name, port, protocol)


def created_by(service_uid: str, observed: LoadBalancerService, claimed: Collection[Claim]) -> bool:
    """Whether an NLB service on an external NLB is this Service's: its default name carries
    the Service UID, or the Service recorded creating it. A matching ``service-name`` annotation
    alone never makes an existing NLB service the Service's own."""
    return observed.name.startswith(f"{service_uid}-") or (
        (observed.name, observed.port, observed.protocol) in claimed
    )


def _held_by_another(
    service_uid: str,
    held: LoadBalancerService,
    desired: DesiredLoadBalancer,
    claimed: Collection[Claim],
) -> bool:
    """Whether an NLB service on one of this Service's ports of an external NLB is not ours."""
    return desired.external and not created_by(service_uid, held, claimed)


def port_conflicts(
    desired: DesiredLoadBalancer,
    observed: LoadBalancer | None,
    *,
    service_uid: str,
    claimed: Collection[Claim] = (),
) -> list[str]:
    """Ports of an external NLB already served by another Service's (or a hand-made) NLB service.

    Taking them over would make two Services take the port from each other on every sync, so
    the controller refuses instead, and :func:`plan_changes` leaves such ports alone.
    """
    if observed is None:
        return []
    by_key = {(s.port, s.protocol): s for s in observed.services}
    return [
        f"port {svc.port}/{svc.protocol} of external NLB {observed.id} is served by NLB service "
        f"{held.name!r}, which is not this Service's; use another port"
        for svc in desired.services
        if (held := by_key.get(svc.key)) is not None
        and _held_by_another(service_uid, held, desired, claimed)
    ]


def _hand_over(observed: LoadBalancer, service_uid: str) -> list[Step]:
    """Drop the ownership labels of an NLB exoccm made for this Service, now declared external.

    Without this the orphan collector would delete the user's NLB once the Service is gone.
    """
    labels = observed.labels
    if labels.get(LABEL_MANAGED_BY) != MANAGED_BY or labels.get(LABEL_SERVICE_UID) != service_uid:
        return []
    kept = {k: v for k, v in labels.items() if k not in OWNERSHIP_LABEL_KEYS}
    return [UpdateLoadBalancer(labels=kept)] if kept else [ResetLoadBalancerLabels()]


def _load_balancer_changes(
    desired: DesiredLoadBalancer, observed: LoadBalancer, service_uid: str
) -> list[Step]:
    if desired.external:
        # Never renamed or relabelled: someone else owns it (at most, we give it up).
        return _hand_over(observed, service_uid)
    steps: list[Step] = []
    # A failed operation leaves the NLB in state error; a successful write returns it to
    # service, so the name is sent again when nothing else needs changing.
    failed = observed.state == FAILED_STATE
    name = desired.name if desired.name != observed.name or failed else None
    description = None
    reset = False
    if desired.description != _blank(observed.description):
        if desired.description:
            description = desired.description
        else:
            reset = True
    labels = None
    if any(observed.labels.get(k) != v for k, v in desired.labels.items()):
        # Keep labels someone added in the console: only ours are enforced.
        labels = {**observed.labels, **desired.labels}
    if name is not None or description is not None or labels is not None:
        steps.append(UpdateLoadBalancer(name=name, description=description, labels=labels))
    if reset:
        steps.append(ResetLoadBalancerDescription())
    return steps


def plan_changes(
    desired: DesiredLoadBalancer,
    observed: LoadBalancer | None,
    *,
    service_uid: str,
    claimed: Collection[Claim] = (),
) -> Plan:
    """Steps that make ``observed`` match ``desired``; empty when they already match."""
    if observed is None:
        return Plan(
            (
                CreateLoadBalancer(desired.name, desired.description, dict(desired.labels)),
                *(AddService(svc) for svc in desired.services),
            )
        )
    deletes: list[Step] = []
    updates: list[Step] = []
    adds: list[Step] = []
    wanted = {svc.key: svc for svc in desired.services}
    for current in observed.services:
        key = (current.port, current.protocol)
        if key in wanted or current.state == DELETING_STATE:
            continue
        if not desired.external or created_by(service_uid, current, claimed):
            deletes.append(DeleteService(current.id, current.name, "no Service port matches it"))
    by_key = {(s.port, s.protocol): s for s in observed.services}
    for svc in desired.services:
        existing = by_key.get(svc.key)
        if existing is None:
            adds.append(AddService(svc))
        elif _held_by_another(service_uid, existing, desired, claimed):
            continue  # not ours to change: see port_conflicts
        elif existing.instance_pool_id != svc.instance_pool_id:
            deletes.append(
                DeleteService(
                    existing.id,
                    existing.name,
                    f"target Instance Pool changes from {existing.instance_pool_id} "
                    f"to {svc.instance_pool_id}",
                    pool_change=True,
                )
            )
            adds.append(AddService(svc))
        else:
            changed = service_differences(svc, existing)
            if not changed and existing.state == FAILED_STATE:
                changed = ("state",)  # right values, but a failed operation left it in error
            if changed:
                updates.append(UpdateService(existing.id, svc, changed))
                if "description" in changed and not svc.description:
                    updates.append(ResetServiceDescription(existing.id))
    return Plan(
        (*deletes, *_load_balancer_changes(desired, observed, service_uid), *updates, *adds)
    )


def plan_deletion(
    observed: LoadBalancer, *, whole: bool, service_uid: str, claimed: Collection[Claim] = ()
) -> Plan:
    """What removing the Service removes: the whole NLB if it is the Service's own, else only
    the NLB services the Service created on it."""
    if whole:
        return Plan((DeleteLoadBalancer(observed.id, observed.name),))
    return Plan(
        tuple(
            DeleteService(svc.id, svc.name, "the Service is being deleted")
            for svc in observed.services
            if created_by(service_uid, svc, claimed) and svc.state != DELETING_STATE
        )
    )
