"""A plan names each NLB it creates to the caller as soon as the API names it.

A listing may leave a new NLB out; a process that did not make it (a new leader) then has no
other trace of it than what the caller recorded. The zone client here is an in-memory stand-in
for :class:`~exoccm.exoscale.client.ZoneClient` with the two calls these plans make.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from exoccm.controllers.inventory import ZoneInventory
from exoccm.controllers.service.apply import apply_plan
from exoccm.controllers.service.desired import (
    DesiredService,
    ownership_labels,
)
from exoccm.controllers.service.diff import AddService, CreateLoadBalancer, Plan
from exoccm.exoscale.errors import (
    ExoscaleError,
    InvalidRequestError,
    OperationTimeoutError,
    ServerError,
)
from exoccm.exoscale.models import Healthcheck, LoadBalancer

NLB = "5f4b3d7e-1c2a-4b8e-9f00-0123456789ab"
LABELS = ownership_labels("prod", "shop", "web", "u1")
WEB = DesiredService(
    name="u1-80",
    description="",
    protocol="tcp",
    port=80,
    target_port=30080,
    strategy="round-robin",
    healthcheck=Healthcheck(mode="tcp", port=30080, interval=10, timeout=5, retries=1),
    instance_pool_id="9d3c5a1e-0000-4000-8000-000000000001",
)


Create = Callable[[Callable[[str], Awaitable[object]], list[str]], Awaitable[LoadBalancer]]


class Client:
    """Creates answer as ``create`` says; adding a service fails with a 503."""

    zone = "de-muc-1"

    def __init__(self, create: Create, heard: list[str]):
        self.create = create
        self.heard = heard

    async def create_load_balancer(
        self,
        name: str,
        description: str | None,
        labels: dict[str, str],
        *,
        read_back: bool,
        on_started: Callable[[str], Awaitable[object]],
    ) -> LoadBalancer:
        return await self.create(on_started, self.heard)

    async def add_load_balancer_service(
        self, lb_id: str, spec: Any, *, read_back: bool = True
    ) -> LoadBalancer:
        raise ServerError(503, "unavailable", operation="add-service-to-load-balancer")


async def named_then_made(
    started: Callable[[str], Awaitable[object]], heard: list[str]
) -> LoadBalancer:
    await started(NLB)
    assert heard == [NLB], "named while the operation is still pending"
    return LoadBalancer(id=NLB, name="k8s-u1", labels=LABELS)


async def named_then_timed_out(
    started: Callable[[str], Awaitable[object]], heard: list[str]
) -> LoadBalancer:
    await started(NLB)
    raise OperationTimeoutError("op-1", 20.0, operation="create-load-balancer")


async def named_when_done(
    started: Callable[[str], Awaitable[object]], heard: list[str]
) -> LoadBalancer:
    return LoadBalancer(id=NLB, name="k8s-u1", labels=LABELS)  # no reference in the first answer


async def refused(started: Callable[[str], Awaitable[object]], heard: list[str]) -> LoadBalancer:
    raise InvalidRequestError(400, "bad name", operation="create-load-balancer")


def run(create: Create, plan: Plan) -> list[str]:
    """Apply ``plan`` (it fails); the IDs the caller heard of, in order."""
    heard: list[str] = []

    async def on_created(lb_id: str) -> None:
        heard.append(lb_id)

    async def main() -> None:
        inventory = ZoneInventory(Client(create, heard))  # type: ignore[arg-type]
        with pytest.raises(ExoscaleError):
            await apply_plan(plan, None, inventory, on_created=on_created)

    anyio.run(main)
    return heard


CREATE = CreateLoadBalancer(name="k8s-u1", description="", labels=LABELS)


def test_a_new_nlb_is_named_before_its_operation_ends_and_its_services_are_added() -> None:
    assert run(named_then_made, Plan((CREATE, AddService(WEB)))) == [NLB]


def test_a_create_named_by_the_api_is_named_although_it_then_failed() -> None:
    assert run(named_then_timed_out, Plan((CREATE, AddService(WEB)))) == [NLB]


def test_a_create_the_api_names_only_once_done_is_named_then() -> None:
    assert run(named_when_done, Plan((CREATE, AddService(WEB)))) == [NLB]


def test_a_create_refused_before_anything_was_made_names_nothing() -> None:
    assert run(refused, Plan((CREATE, AddService(WEB)))) == []
