"""The Exoscale API of one zone, as the controllers use it.

Every NLB mutation waits for its operation and returns the NLB as it is afterwards: read with
``get-load-balancer``, or, when the caller passes the NLB as it was right before (``before``),
worked out from it without a call (:mod:`.effects`). Writes to one NLB are serialized (a lock
per NLB ID, held around the write *and* its operation wait): the API is known to leave
operations pending for minutes under parallel writes to one NLB. Mutations accept a ``guard``
checked right before each request is sent (leader election fencing). Compute and SKS reads are
in :mod:`.reads`.

Obtain instances from :class:`exoccm.exoscale.registry.ExoscaleClients`, not directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, Literal, overload

from exoccm.exoscale import effects
from exoccm.exoscale.errors import InvalidArgumentError, MalformedResponseError
from exoccm.exoscale.estimates import DurationEstimates
from exoccm.exoscale.locks import KeyedLocks
from exoccm.exoscale.models import (
    LoadBalancer,
    LoadBalancerList,
    LoadBalancerService,
    LoadBalancerServiceSpec,
    Operation,
)
from exoccm.exoscale.operations import wait_for_operation
from exoccm.exoscale.options import ClientOptions
from exoccm.exoscale.ratelimit import Priority
from exoccm.exoscale.reads import ZoneReads
from exoccm.exoscale.responses import parse_model
from exoccm.exoscale.session import Guard, ZoneSession


class ZoneClient(ZoneReads):
    """Typed access to one zone's API: the reads of :class:`ZoneReads`, operations, NLBs."""

    def __init__(self, session: ZoneSession, options: ClientOptions):
        super().__init__(session, options)
        self._nlb_locks = KeyedLocks()
        self.durations = DurationEstimates()
        """How long this zone's operations take, by the API operation that starts them."""

    def __repr__(self) -> str:
        return f"ZoneClient(zone={self.zone!r}, endpoint={self.session.base_url!r})"

    # -- plumbing ------------------------------------------------------------------------------

    async def _start(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        guard: Guard | None,
    ) -> Operation:
        answer = await self.session.request(operation, method, path, body=body, guard=guard)
        return parse_model(Operation, answer, operation=operation, zone=self.zone)

    async def _run(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        guard: Guard | None,
    ) -> Operation:
        """Start an operation and wait for its success."""
        started = await self._start(operation, method, path, body=body, guard=guard)
        return await self.wait(started, name=operation)

    async def _run_on_nlb(
        self,
        lb_id: str,
        operation: str,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        guard: Guard | None,
    ) -> Operation:
        async with self._nlb_locks.hold(lb_id):
            return await self._run(operation, method, path, body=body, guard=guard)

    def _referenced_id(self, operation: Operation, name: str) -> str:
        if operation.reference is None or not operation.reference.id:
            raise MalformedResponseError(
                f"operation {operation.id} succeeded but names no resource (reference.id)",
                operation=name,
                zone=self.zone,
            )
        return operation.reference.id

    # -- operations ----------------------------------------------------------------------------

    async def get_operation(self, operation_id: str) -> Operation:
        """Fetch an operation once."""
        seg = self._seg(operation_id, "operation ID", "get-operation")
        return await self._get(Operation, "get-operation", f"/operation/{seg}")

    async def _poll_turn(self) -> None:
        # Polls finish work already started: they go before new requests at the rate limiter.
        await self.session.take_turn(Priority.FINISH)

    async def _poll_operation(self, operation_id: str) -> Operation:
        seg = self._seg(operation_id, "operation ID", "get-operation")
        body = await self.session.request(
            "get-operation", "GET", f"/operation/{seg}", retries=False, prepaid=True
        )
        return parse_model(Operation, body, operation="get-operation", zone=self.zone)

    async def wait(
        self, operation: Operation, *, name: str = "operation", timeout: float | None = None
    ) -> Operation:
        """Poll ``operation`` until it succeeds; raise if it fails or outlives the deadline.

        ``name`` is the API operation that started it (for errors, logs and the learned poll
        timing of that kind); ``timeout`` overrides the client's operation deadline.
        """
        policy = self._options.wait
        if timeout is not None:
            policy = dataclasses.replace(policy, timeout=timeout)
        return await wait_for_operation(
            operation,
            poll=self._poll_operation,
            policy=policy,
            clock=self._options.clock,
            sleep=self._options.sleep,
            name=name,
            zone=self.zone,
            estimate=self.durations[name],
            turn=self._poll_turn,
        )

    # -- network load balancers ----------------------------------------------------------------

    async def list_load_balancers(self, *, prepaid: bool = False) -> tuple[LoadBalancer, ...]:
        """Every NLB of the zone, with their services. ``prepaid``: the caller took the rate-limit
        token (``session.take_turn()``)."""
        result = await self._get(
            LoadBalancerList, "list-load-balancers", "/load-balancer", prepaid=prepaid
        )
        return result.load_balancers

    async def get_load_balancer(self, lb_id: str, *, prepaid: bool = False) -> LoadBalancer:
        """One NLB; :class:`NotFoundError` if it does not exist."""
        seg = self._seg(lb_id, "load balancer ID", "get-load-balancer")
        return await self._get(
            LoadBalancer, "get-load-balancer", f"/load-balancer/{seg}", prepaid=prepaid
        )

    async def create_load_balancer(
        self,
        name: str,
        description: str | None = None,
        labels: dict[str, str] | None = None,
        *,
        guard: Guard | None = None,
        read_back: bool = True,
        on_started: Callable[[str], Awaitable[object]] | None = None,
    ) -> LoadBalancer:
        """Create an NLB, wait until the API reports success, and return it.

        ``on_started`` is awaited with the new NLB's ID as soon as the API's answer names it,
        before the operation is waited for: a caller that loses the rest (a failed or timed-out
        operation, or its process) still knows, or has recorded, which NLB to read.

        With ``read_back=False`` the NLB is not read afterwards: what is returned is what was
        sent plus the ID the operation names, without the IP (for a caller whose next write
        returns the NLB anyway, such as adding its first service).

        Never retried once sent (see :mod:`.retry`): on an error, look the NLB up by its labels
        before creating again.
        """
        body: dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = description
        if labels is not None:
            body["labels"] = dict(labels)
        started = await self._start(
            "create-load-balancer", "POST", "/load-balancer", body=body, guard=guard
        )
        if on_started is not None and started.reference is not None and started.reference.id:
            await on_started(started.reference.id)
        done = await self.wait(started, name="create-load-balancer")
        lb_id = self._referenced_id(done, "create-load-balancer")
        if not read_back:
            return LoadBalancer(
                id=lb_id, name=name, description=description, labels=dict(labels or {})
            )
        return await self.get_load_balancer(lb_id)

    async def update_load_balancer(
        self,
        lb_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        labels: dict[str, str] | None = None,
        guard: Guard | None = None,
        before: LoadBalancer | None = None,
    ) -> LoadBalancer:
        """Change the given fields (``None`` = unchanged); clear fields with
        :meth:`reset_load_balancer_field`. With nothing to change, only reads the NLB (or returns
        ``before``)."""
        seg = self._seg(lb_id, "load balancer ID", "update-load-balancer")
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        if labels is not None:
            body["labels"] = dict(labels)
        if body:
            await self._run_on_nlb(
                lb_id,
                "update-load-balancer",
                "PUT",
                f"/load-balancer/{seg}",
                body=body,
                guard=guard,
            )
        if before is not None:
            return effects.updated(before, name=name, description=description, labels=labels)
        return await self.get_load_balancer(lb_id)

    async def delete_load_balancer(self, lb_id: str, *, guard: Guard | None = None) -> None:
        """Delete an NLB and its services. A retried delete whose first attempt went through
        reports :class:`NotFoundError`: treat it as done."""
        seg = self._seg(lb_id, "load balancer ID", "delete-load-balancer")
        await self._run_on_nlb(
            lb_id, "delete-load-balancer", "DELETE", f"/load-balancer/{seg}", guard=guard
        )

    async def reset_load_balancer_field(
        self,
        lb_id: str,
        field: Literal["description", "labels"],
        *,
        guard: Guard | None = None,
        before: LoadBalancer | None = None,
    ) -> LoadBalancer:
        """Reset ``description`` or ``labels`` of an NLB to empty."""
        operation = "reset-load-balancer-field"
        seg = self._seg(lb_id, "load balancer ID", operation)
        path = f"/load-balancer/{seg}/{self._seg(field, 'field', operation)}"
        await self._run_on_nlb(lb_id, operation, "DELETE", path, guard=guard)
        if before is not None:
            return effects.field_reset(before, field)
        return await self.get_load_balancer(lb_id)

    # -- NLB services --------------------------------------------------------------------------

    async def get_load_balancer_service(self, lb_id: str, service_id: str) -> LoadBalancerService:
        """One service of an NLB."""
        operation = "get-load-balancer-service"
        path = (
            f"/load-balancer/{self._seg(lb_id, 'load balancer ID', operation)}"
            f"/service/{self._seg(service_id, 'service ID', operation)}"
        )
        return await self._get(LoadBalancerService, operation, path)

    @overload
    async def add_load_balancer_service(
        self,
        lb_id: str,
        spec: LoadBalancerServiceSpec,
        *,
        guard: Guard | None = ...,
        read_back: Literal[True] = ...,
    ) -> LoadBalancer: ...

    @overload
    async def add_load_balancer_service(
        self,
        lb_id: str,
        spec: LoadBalancerServiceSpec,
        *,
        guard: Guard | None = ...,
        read_back: Literal[False],
    ) -> None: ...

    async def add_load_balancer_service(
        self,
        lb_id: str,
        spec: LoadBalancerServiceSpec,
        *,
        guard: Guard | None = None,
        read_back: bool = True,
    ) -> LoadBalancer | None:
        """Add a service; return the NLB, in which the new service is ``lb.service_named(spec.name)``.

        The API does not return the new service's ID: it is found by name, as the official
        clients do, so service names must be unique within an NLB. With ``read_back=False`` the
        NLB is not read (nothing is returned): for a caller that reads it later anyway, once for
        several writes.
        """
        operation = "add-service-to-load-balancer"
        if spec.instance_pool_id is None:
            raise InvalidArgumentError(
                "adding an NLB service needs spec.instance_pool_id",
                operation=operation,
                zone=self.zone,
            )
        seg = self._seg(lb_id, "load balancer ID", operation)
        await self._run_on_nlb(
            lb_id,
            operation,
            "POST",
            f"/load-balancer/{seg}/service",
            body=spec.to_api(),
            guard=guard,
        )
        if not read_back:
            return None
        lb = await self.get_load_balancer(lb_id)
        if not effects.has_service(lb, spec):
            raise MalformedResponseError(
                f"the operation succeeded but NLB {lb_id} has no service named {spec.name!r}",
                operation=operation,
                zone=self.zone,
            )
        return lb

    async def update_load_balancer_service(
        self,
        lb_id: str,
        service_id: str,
        spec: LoadBalancerServiceSpec,
        *,
        guard: Guard | None = None,
        before: LoadBalancer | None = None,
    ) -> LoadBalancer:
        """Update a service to ``spec``. ``spec.instance_pool_id`` is ignored: a service's pool
        cannot change (delete and re-add it instead). ``description=None`` leaves the
        description as is; clear it with :meth:`reset_load_balancer_service_field`."""
        operation = "update-load-balancer-service"
        path = (
            f"/load-balancer/{self._seg(lb_id, 'load balancer ID', operation)}"
            f"/service/{self._seg(service_id, 'service ID', operation)}"
        )
        body = spec.to_api()
        body.pop("instance-pool", None)
        await self._run_on_nlb(lb_id, operation, "PUT", path, body=body, guard=guard)
        if before is not None:
            return effects.service_updated(before, service_id, spec)
        return await self.get_load_balancer(lb_id)

    async def delete_load_balancer_service(
        self,
        lb_id: str,
        service_id: str,
        *,
        guard: Guard | None = None,
        before: LoadBalancer | None = None,
    ) -> LoadBalancer:
        """Delete one service of an NLB; return the NLB afterwards."""
        operation = "delete-load-balancer-service"
        path = (
            f"/load-balancer/{self._seg(lb_id, 'load balancer ID', operation)}"
            f"/service/{self._seg(service_id, 'service ID', operation)}"
        )
        await self._run_on_nlb(lb_id, operation, "DELETE", path, guard=guard)
        if before is not None:
            return effects.service_deleted(before, service_id)
        return await self.get_load_balancer(lb_id)

    async def reset_load_balancer_service_field(
        self,
        lb_id: str,
        service_id: str,
        field: Literal["description"],
        *,
        guard: Guard | None = None,
        before: LoadBalancer | None = None,
    ) -> LoadBalancer:
        """Reset a service's ``description`` to empty; return the NLB afterwards."""
        operation = "reset-load-balancer-service-field"
        path = (
            f"/load-balancer/{self._seg(lb_id, 'load balancer ID', operation)}"
            f"/service/{self._seg(service_id, 'service ID', operation)}"
            f"/{self._seg(field, 'field', operation)}"
        )
        await self._run_on_nlb(lb_id, operation, "DELETE", path, guard=guard)
        if before is not None:
            return effects.service_field_reset(before, service_id, field)
        return await self.get_load_balancer(lb_id)
