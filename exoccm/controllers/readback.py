"""Reading NLBs right after exoccm wrote them, one call for many when many wait at once.

Some writes leave behind what only the API knows: a new NLB's IP, a new NLB service's ID. Such
an NLB is read once its writes are done. A lone read is a ``get-load-balancer``, sent as soon as
the zone's rate limiter allows. Reads that pile up while one of them waits for the limiter (many
Services converging at once) are served together by one ``list-load-balancers``, which is also
the zone's listing refresh. A listing can be partial or late (see
:mod:`exoccm.controllers.service.authority`): an NLB it leaves out, or shows without the change
just made, is read by ID after all.

The limiter alone does not always hold reads back long enough to pile up: exoccm may be busy
with its own workers rather than with the API's limit. So while reads come often (another one
came less than :data:`GATHER_SECONDS` ago), the first read of a batch waits up to that long, or
until :data:`BATCH_SIZE` reads have joined, before it takes its turn. A read after a quiet spell
(one Service created on its own) goes at once.

A listing carries every NLB of the zone, so it is sent only when it replaces at least one read
per :data:`NLBS_PER_READ` NLBs in the zone (and always at least two).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from exoccm.exoscale.errors import MalformedResponseError
from exoccm.exoscale.models import LoadBalancer

if TYPE_CHECKING:
    from exoccm.controllers.inventory import ZoneInventory

Check = Callable[[LoadBalancer], str | None]
"""What the NLB must show after the writes: None if it does, else what it lacks."""

NLBS_PER_READ = 500
GATHER_SECONDS = 0.5
BATCH_SIZE = 10


class _Batch:
    """Reads that waited for the limiter together."""

    def __init__(self) -> None:
        self.wanted: set[str] = set()
        self.listed: dict[str, LoadBalancer] = {}
        self.full = anyio.Event()
        self.done = anyio.Event()


class ReadBack:
    """The batched reads of one zone's freshly written NLBs."""

    def __init__(
        self,
        inventory: ZoneInventory,
        *,
        clock: Callable[[], float] = time.monotonic,
        gather: float = GATHER_SECONDS,
        batch_size: int = BATCH_SIZE,
    ):
        self._inventory = inventory
        self._clock = clock
        self._gather = gather
        self._batch_size = batch_size
        self._open: _Batch | None = None  # the batch whose first read has not taken its turn
        self._last_read: float | None = None
        self.listings = 0
        """Listings sent to serve several reads (for tests and debugging)."""

    async def read(self, lb_id: str, check: Check) -> LoadBalancer:
        """The NLB ``lb_id`` as the API has it now; raises :class:`MalformedResponseError` if
        the API's answer lacks what ``check`` looks for."""
        now = self._clock()
        frequent = self._last_read is not None and now - self._last_read < self._gather
        self._last_read = now
        batch = self._open
        if batch is None:
            batch = self._open = _Batch()
            batch.wanted.add(lb_id)
            return await self._lead(batch, lb_id, check, gather=frequent)
        batch.wanted.add(lb_id)
        if len(batch.wanted) >= self._batch_size:
            batch.full.set()
        await batch.done.wait()
        return await self._answer(batch, lb_id, check)

    async def _lead(self, batch: _Batch, lb_id: str, check: Check, *, gather: bool) -> LoadBalancer:
        try:
            try:
                # Reads arriving while this one gathers or waits for its token join the batch.
                if gather:
                    with anyio.move_on_after(self._gather):
                        await batch.full.wait()
                await self._inventory.client.session.take_turn()
            finally:
                self._open = None
            if self._worth_listing(len(batch.wanted)):
                self.listings += 1
                batch.listed = dict(await self._inventory.refresh_load_balancers(prepaid=True))
            else:
                return await self._get(lb_id, check, prepaid=True)
        finally:
            batch.done.set()  # the others read by ID what the batch did not give them
        return await self._answer(batch, lb_id, check)

    def _worth_listing(self, reads: int) -> bool:
        zone_size = self._inventory.load_balancer_count()
        return reads >= max(2, math.ceil(zone_size / NLBS_PER_READ))

    async def _answer(self, batch: _Batch, lb_id: str, check: Check) -> LoadBalancer:
        listed = batch.listed.get(lb_id)
        if listed is not None and check(listed) is None:
            return listed
        return await self._get(lb_id, check)

    async def _get(self, lb_id: str, check: Check, *, prepaid: bool = False) -> LoadBalancer:
        client = self._inventory.client
        lb = await client.get_load_balancer(lb_id, prepaid=prepaid)
        problem = check(lb)
        if problem is not None:
            raise MalformedResponseError(
                f"the operations succeeded but NLB {lb_id} {problem}",
                operation="get-load-balancer",
                zone=client.zone,
            )
        return lb
