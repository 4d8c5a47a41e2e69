"""The Exoscale API of one zone, as the controllers use it.

Every NLB mutation waits for its operation and returns the NLB as it is afterwards. Writes to one
NLB are serialized (a lock per NLB ID, held around the write *and* its operation wait): the API
is known to leave operations pending for minutes under parallel writes to one NLB. Mutations
accept a ``guard`` checked right before each request is sent (leader election fencing).

Obtain instances from :class:`exoccm.exoscale.registry.ExoscaleClients`, not directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from exoccm.exoscale.errors import InvalidArgumentError, MalformedResponseError
from exoccm.exoscale.estimates import DurationEstimates
from exoccm.exoscale.locks import KeyedLocks
from exoccm.exoscale.models import (
    Instance,
    InstanceList,
    InstancePool,
    InstancePoolList,
    InstanceType,
    InstanceTypeList,
    LoadBalancer,
    LoadBalancerList,
    LoadBalancerService,
    LoadBalancerServiceSpec,
    Operation,
    SksCluster,
    SksClusterList,
    Zone,
    ZoneList,
)
from exoccm.exoscale.operations import wait_for_operation
from exoccm.exoscale.options import ClientOptions
from exoccm.exoscale.ratelimit import Priority
from exoccm.exoscale.responses import parse_model
from exoccm.exoscale.session import Guard, ZoneSession, path_segment

ModelT = TypeVar("ModelT", bound=BaseModel)


class ZoneClient:
    """Typed access to one zone's API."""

    def __init__(self, session: ZoneSession, options: ClientOptions):
        self.session = session
        self.zone = session.zone
        self._options = options
        self._nlb_locks = KeyedLocks()
        self._instance_types: dict[str, InstanceType] = {}
        self.durations = DurationEstimates()
        """How long this zone's operations take, by the API operation that starts them."""

    def __repr__(self) -> str:
        return f"ZoneClient(zone={self.zone!r}, endpoint={self.session.base_url!r})"

    # -- plumbing ------------------------------------------------------------------------------

    def _seg(self, value: str, what: str, operation: str) -> str:
        return path_segment(value, what=what, operation=operation, zone=self.zone)

    async def _get(
        self,
        model: type[ModelT],
        operation: str,
        path: str,
        *,
        params: dict[str, str | None] | None = None,
        signed: bool = True,
    ) -> ModelT:
        data = await self.session.request(operation, "GET", path, params=params, signed=signed)
        return parse_model(model, data, operation=operation, zone=self.zone)

    async def _start(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        guard: Guard | None,
    ) -> Operation:
        data = await self.session.request(operation, method, path, body=body, guard=guard)
        return parse_model(Operation, data, operation=operation, zone=self.zone)

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
        data = await self.session.request(
            "get-operation", "GET", f"/operation/{seg}", retries=False, prepaid=True
        )
        return parse_model(Operation, data, operation="get-operation", zone=self.zone)

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

    async def list_load_balancers(self) -> tuple[LoadBalancer, ...]:
        """Every NLB of the zone, with their services."""
        result = await self._get(LoadBalancerList, "list-load-balancers", "/load-balancer")
        return result.load_balancers

    async def get_load_balancer(self, lb_id: str) -> LoadBalancer:
        """One NLB; :class:`NotFoundError` if it does not exist."""
        seg = self._seg(lb_id, "load balancer ID", "get-load-balancer")
        return await self._get(LoadBalancer, "get-load-balancer", f"/load-balancer/{seg}")

    async def create_load_balancer(
        self,
        name: str,
        description: str | None = None,
        labels: dict[str, str] | None = None,
        *,
        guard: Guard | None = None,
        read_back: bool = True,
        on_started: Callable[[str], None] | None = None,
    ) -> LoadBalancer:
        """Create an NLB, wait until the API reports success, and return it.

        ``on_started`` is called with the new NLB's ID as soon as the API's answer names it,
        before the operation is waited for: a caller that loses the rest (a failed or timed-out
        operation) still knows which NLB to read.

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
            on_started(started.reference.id)
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
    ) -> LoadBalancer:
        """Change the given fields (``None`` = unchanged); clear fields with
        :meth:`reset_load_balancer_field`. With nothing to change, only reads the NLB."""
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
    ) -> LoadBalancer:
        """Reset ``description`` or ``labels`` of an NLB to empty."""
        operation = "reset-load-balancer-field"
        seg = self._seg(lb_id, "load balancer ID", operation)
        path = f"/load-balancer/{seg}/{self._seg(field, 'field', operation)}"
        await self._run_on_nlb(lb_id, operation, "DELETE", path, guard=guard)
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

    async def add_load_balancer_service(
        self, lb_id: str, spec: LoadBalancerServiceSpec, *, guard: Guard | None = None
    ) -> LoadBalancer:
        """Add a service; return the NLB, in which the new service is ``lb.service_named(spec.name)``.

        The API does not return the new service's ID: it is found by name, as the official
        clients do, so service names must be unique within an NLB.
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
        lb = await self.get_load_balancer(lb_id)
        if lb.service_named(spec.name) is None:
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
        return await self.get_load_balancer(lb_id)

    async def delete_load_balancer_service(
        self, lb_id: str, service_id: str, *, guard: Guard | None = None
    ) -> LoadBalancer:
        """Delete one service of an NLB; return the NLB afterwards."""
        operation = "delete-load-balancer-service"
        path = (
            f"/load-balancer/{self._seg(lb_id, 'load balancer ID', operation)}"
            f"/service/{self._seg(service_id, 'service ID', operation)}"
        )
        await self._run_on_nlb(lb_id, operation, "DELETE", path, guard=guard)
        return await self.get_load_balancer(lb_id)

    async def reset_load_balancer_service_field(
        self,
        lb_id: str,
        service_id: str,
        field: Literal["description"],
        *,
        guard: Guard | None = None,
    ) -> LoadBalancer:
        """Reset a service's ``description`` to empty; return the NLB afterwards."""
        operation = "reset-load-balancer-service-field"
        path = (
            f"/load-balancer/{self._seg(lb_id, 'load balancer ID', operation)}"
            f"/service/{self._seg(service_id, 'service ID', operation)}"
            f"/{self._seg(field, 'field', operation)}"
        )
        await self._run_on_nlb(lb_id, operation, "DELETE", path, guard=guard)
        return await self.get_load_balancer(lb_id)

    # -- compute -------------------------------------------------------------------------------

    async def list_instances(
        self,
        *,
        ip_address: str | None = None,
        manager_id: str | None = None,
        manager_type: Literal["instance-pool"] | None = None,
    ) -> tuple[Instance, ...]:
        """Instances of the zone, optionally filtered by the API (public IP, managing pool)."""
        params = {"ip-address": ip_address, "manager-id": manager_id, "manager-type": manager_type}
        result = await self._get(InstanceList, "list-instances", "/instance", params=params)
        return result.instances

    async def get_instance(self, instance_id: str) -> Instance:
        """One instance; :class:`NotFoundError` when it is gone."""
        seg = self._seg(instance_id, "instance ID", "get-instance")
        return await self._get(Instance, "get-instance", f"/instance/{seg}")

    async def list_instance_pools(self) -> tuple[InstancePool, ...]:
        """Every Instance Pool of the zone."""
        result = await self._get(InstancePoolList, "list-instance-pools", "/instance-pool")
        return result.instance_pools

    async def get_instance_pool(self, pool_id: str) -> InstancePool:
        """One Instance Pool."""
        seg = self._seg(pool_id, "instance pool ID", "get-instance-pool")
        return await self._get(InstancePool, "get-instance-pool", f"/instance-pool/{seg}")

    async def list_instance_types(self) -> tuple[InstanceType, ...]:
        """Every instance type (also fills the instance-type cache)."""
        result = await self._get(InstanceTypeList, "list-instance-types", "/instance-type")
        for instance_type in result.instance_types:
            self._instance_types[instance_type.id] = instance_type
        return result.instance_types

    async def get_instance_type(self, type_id: str) -> InstanceType:
        """One instance type, fetched once and cached for the life of the client (types never
        change)."""
        cached = self._instance_types.get(type_id)
        if cached is not None:
            return cached
        seg = self._seg(type_id, "instance type ID", "get-instance-type")
        instance_type = await self._get(InstanceType, "get-instance-type", f"/instance-type/{seg}")
        self._instance_types[type_id] = instance_type
        return instance_type

    async def list_zones(self) -> tuple[Zone, ...]:
        """Every zone and its endpoint. Sent unsigned: restricted IAM keys get 403 on it."""
        result = await self._get(ZoneList, "list-zones", "/zone", signed=False)
        return result.zones

    # -- SKS -----------------------------------------------------------------------------------

    async def list_sks_clusters(self) -> tuple[SksCluster, ...]:
        """Every SKS cluster of the zone, with their nodepools."""
        result = await self._get(SksClusterList, "list-sks-clusters", "/sks-cluster")
        return result.sks_clusters

    async def get_sks_cluster(self, cluster_id: str) -> SksCluster:
        """One SKS cluster."""
        seg = self._seg(cluster_id, "SKS cluster ID", "get-sks-cluster")
        return await self._get(SksCluster, "get-sks-cluster", f"/sks-cluster/{seg}")
