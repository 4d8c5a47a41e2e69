"""Carry out a plan against the Exoscale API, keeping the zone's listing current.

No call is made for what an answer already gave. A plan that writes to an existing NLB was made
on a ``get-load-balancer`` answer (see :mod:`.authority`), and a write whose operation succeeded
changed exactly what it sent: the NLB afterwards is worked out from that answer, without a read.
Only what the API makes up needs a read: a new NLB's IP and a new NLB service's ID. A plan that
creates the NLB or adds NLB services reads the NLB once, after its last step (batched with other
Services' reads when many converge at once, see :mod:`exoccm.controllers.readback`). The NLB
afterwards replaces the cached copy, so the next reconcile sees it without a read. When a write
fails in a way that leaves its outcome unknown (a lost response, a timed-out operation), the
zone's NLB listing is marked stale: the next reconcile re-reads it before deciding anything,
which is how a retried create finds the NLB the first attempt made instead of making a second
one.

As soon as the API names a new NLB (before its operation is waited for), ``on_created`` hears
its ID, so the caller can record it where a later process finds it: a listing may leave a new
NLB out, and a process that did not make it has no other trace of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import structlog

from exoccm.controllers.inventory import ZoneInventory
from exoccm.controllers.readback import Check
from exoccm.controllers.service.desired import LABEL_SERVICE_UID, DesiredService
from exoccm.controllers.service.diff import (
    AddService,
    CreateLoadBalancer,
    DeleteLoadBalancer,
    DeleteService,
    Plan,
    ResetLoadBalancerDescription,
    ResetLoadBalancerLabels,
    ResetServiceDescription,
    Step,
    UpdateLoadBalancer,
    UpdateService,
    describe_step,
)
from exoccm.exoscale import effects
from exoccm.exoscale.errors import (
    ExoscaleError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    NotLeaderError,
)
from exoccm.exoscale.models import LoadBalancer, LoadBalancerServiceSpec

log = structlog.get_logger(__name__)

OnCreated = Callable[[str], Awaitable[object]]  # hears a new NLB's ID as soon as the API names it


def service_spec(service: DesiredService, *, with_pool: bool) -> LoadBalancerServiceSpec:
    """The API body for an NLB service; updates carry no pool (the API cannot change it). The
    health check is already the API's model."""
    return LoadBalancerServiceSpec(
        name=service.name,
        description=service.description or None,
        instance_pool_id=service.instance_pool_id if with_pool else None,
        protocol=service.protocol,
        strategy=service.strategy,
        port=service.port,
        target_port=service.target_port,
        healthcheck=service.healthcheck,
    )


async def _apply_step(
    step: Step, lb: LoadBalancer | None, inventory: ZoneInventory, *, on_created: OnCreated | None
) -> LoadBalancer | None:
    client = inventory.client
    if isinstance(step, CreateLoadBalancer):
        return await _create(step, inventory, on_created=on_created)
    assert lb is not None, "every step but create needs an existing NLB"
    match step:
        case UpdateLoadBalancer(name=name, description=description, labels=labels):
            return await client.update_load_balancer(
                lb.id,
                name=name,
                description=description,
                labels=dict(labels) if labels is not None else None,
                before=lb,
            )
        case ResetLoadBalancerDescription():
            return await client.reset_load_balancer_field(lb.id, "description", before=lb)
        case ResetLoadBalancerLabels():
            return await client.reset_load_balancer_field(lb.id, "labels", before=lb)
        case AddService(service=svc):
            spec = service_spec(svc, with_pool=True)
            await client.add_load_balancer_service(lb.id, spec, read_back=False)
            return lb  # the new service (and its ID) shows in the read after the last step
        case UpdateService(service_id=sid, service=svc):
            return await client.update_load_balancer_service(
                lb.id, sid, service_spec(svc, with_pool=False), before=lb
            )
        case ResetServiceDescription(service_id=sid):
            return await client.reset_load_balancer_service_field(
                lb.id, sid, "description", before=lb
            )
        case DeleteService(service_id=sid):
            try:
                return await client.delete_load_balancer_service(lb.id, sid, before=lb)
            except NotFoundError:
                # Already gone (a retried delete): the NLB without it is the outcome we wanted.
                return effects.service_deleted(lb, sid)
        case DeleteLoadBalancer(load_balancer_id=lb_id):
            with contextlib.suppress(NotFoundError):  # already gone: done
                await client.delete_load_balancer(lb_id)
            return None
    raise AssertionError(step)  # pragma: no cover - exhaustive


def _read_needed(plan: Plan) -> Check | None:
    """What the NLB must show after ``plan``, if the plan made something only a read tells
    (a new NLB's IP, new NLB services' IDs); None when no read is needed."""
    if not any(isinstance(s, CreateLoadBalancer | AddService) for s in plan.steps):
        return None
    added = [
        service_spec(s.service, with_pool=True) for s in plan.steps if isinstance(s, AddService)
    ]

    def check(lb: LoadBalancer) -> str | None:
        missing = [spec.name for spec in added if not effects.has_service(lb, spec)]
        if missing:
            return "has no service named " + ", ".join(repr(name) for name in missing)
        return None

    return check


async def _create(
    step: CreateLoadBalancer, inventory: ZoneInventory, *, on_created: OnCreated | None
) -> LoadBalancer:
    """Create the NLB, noting the attempt in the inventory until its outcome is known, so a
    lost answer never leads to a second NLB (see :mod:`.lookup`), and telling ``on_created``
    its ID as soon as the API names it. Not read: the plan's read after its last step gives
    the IP."""
    uid = step.labels.get(LABEL_SERVICE_UID, "")
    inventory.note_create_sent(uid)
    named: list[str] = []

    async def started(lb_id: str) -> None:
        inventory.note_create_started(uid, lb_id)
        named.append(lb_id)
        if on_created is not None:
            await on_created(lb_id)

    try:
        created = await inventory.client.create_load_balancer(
            step.name,
            step.description or None,
            dict(step.labels),
            read_back=False,
            on_started=started,
        )
    except (NotLeaderError, InvalidRequestError, ForbiddenError):
        inventory.forget_create(uid)  # refused before anything was made
        raise
    inventory.forget_create(uid)
    if not named and on_created is not None:  # the API named it only once done
        await on_created(created.id)
    return created


async def apply_plan(
    plan: Plan,
    observed: LoadBalancer | None,
    inventory: ZoneInventory,
    *,
    on_step: Callable[[str], None] | None = None,
    on_created: OnCreated | None = None,
) -> LoadBalancer | None:
    """Run the steps in order; return the NLB afterwards (None once deleted)."""
    lb = observed
    for step in plan.steps:
        description = describe_step(step)
        if on_step is not None:
            on_step(description)
        try:
            result = await _apply_step(step, lb, inventory, on_created=on_created)
        except NotLeaderError:
            raise  # nothing was sent
        except ExoscaleError:
            inventory.invalidate_load_balancers()
            raise
        if result is None:
            if lb is not None:
                inventory.record_deleted(lb.id)
        else:
            inventory.record(result)
        lb = result
        log.info("Applied NLB step", zone=inventory.zone, step=description)
    check = _read_needed(plan)
    if lb is not None and check is not None:
        try:
            lb = await inventory.read_back.read(lb.id, check)
        except ExoscaleError:
            inventory.invalidate_load_balancers()
            raise
        inventory.record(lb)
    return lb
