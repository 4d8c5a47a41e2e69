"""What a request handler receives: the zone, the parsed request, and the cloud's services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from exoccm.sim.cloud import Cloud
from exoccm.sim.faults import Fault
from exoccm.sim.history import Table
from exoccm.sim.state import Fields, Zone

T = TypeVar("T")


@dataclass(slots=True)
class Call:
    """One authenticated, routed API call. ``body`` is the decoded JSON body, or None."""

    cloud: Cloud
    zone: Zone
    operation_id: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    base_url: str
    fault: Fault | None = None  # the operation fault this call received, for the request log
    as_of: float | None = None  # a lagging listing shows the zone as it was then

    def listed(self, table: Table, current: dict[str, T]) -> list[T]:
        """The objects of the zone's ``table`` (``current``) that a listing shows: as they are,
        or, for a lagging listing, as they were at ``as_of``."""
        return self.zone.listed(table, current, self.as_of)

    def start_operation(
        self,
        load_balancer_id: str,
        on_success: Callable[[], None],
        on_failure: Callable[[], None],
    ) -> Fields:
        """Answer a write with a pending Operation whose fate any injected fault decides."""
        self.fault = self.cloud.faults.take(self.operation_id, self.zone.name, "operation")
        return self.cloud.operations.start(
            self.zone,
            operation_id=self.operation_id,
            load_balancer_id=load_balancer_id,
            fault=self.fault,
            on_success=on_success,
            on_failure=on_failure,
        )


Handler = Callable[[Call], Fields]
