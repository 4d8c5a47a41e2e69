"""The reconciliation engine: informers → work queue → reconcile workers, under a Lease.

Generic (nothing here knows about Exoscale). Wiring, as exoccm's app does it::

    nodes = Informer(kube, NODES, transform=NODE_TRANSFORM)
    services = Informer(kube, SERVICES)
    controller = Controller("service", reconcile, workers=10, rate_limit=SERVICE_PROFILE)
    controller.watch(services)                                   # key = namespace/name
    controller.watch(nodes, keys=lambda node: ["node-set"], update_filter=provider_changed)
    elector = LeaderElector(lease_kube, LeaderElectionConfig("kube-system", "exoccm", me))

    async def lead() -> None:                                    # runs only while leading
        async with anyio.create_task_group() as tg:
            tg.start_soon(controller.run)

    async with anyio.create_task_group() as tg:
        tg.start_soon(nodes.run)                                 # every replica keeps warm caches
        tg.start_soon(services.run)
        await elector.run(lead)   # returns after controller.stop(); raises LeadershipLostError
        tg.cancel_scope.cancel()

Reconciles call ``elector.still_leading()`` right before each cloud mutation.
"""

from exoccm.engine.clock import SYSTEM_CLOCK, Clock, FakeClock
from exoccm.engine.controller import DONE, Controller, Result, RetryAfterError
from exoccm.engine.informer import HandlerRegistration, Informer, Tombstone, final_state
from exoccm.engine.leader import LeaderElectionConfig, LeaderElector, LeadershipLostError
from exoccm.engine.queue import Priority, QueueShutDownError, WorkQueue
from exoccm.engine.ratelimit import DEFAULT_PROFILE, SERVICE_PROFILE, RateLimitProfile
from exoccm.engine.reflector import ReflectorOptions
from exoccm.engine.transform import (
    DEFAULT_TRANSFORM,
    NODE_TRANSFORM,
    Transform,
    compose,
    project,
)

__all__ = [
    "DEFAULT_PROFILE",
    "DEFAULT_TRANSFORM",
    "DONE",
    "NODE_TRANSFORM",
    "SERVICE_PROFILE",
    "SYSTEM_CLOCK",
    "Clock",
    "Controller",
    "FakeClock",
    "HandlerRegistration",
    "Informer",
    "LeaderElectionConfig",
    "LeaderElector",
    "LeadershipLostError",
    "Priority",
    "QueueShutDownError",
    "RateLimitProfile",
    "ReflectorOptions",
    "Result",
    "RetryAfterError",
    "Tombstone",
    "Transform",
    "WorkQueue",
    "compose",
    "final_state",
    "project",
]
