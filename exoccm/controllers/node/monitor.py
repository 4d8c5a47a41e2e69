"""Prompt checks of NotReady Nodes, with one instance listing per zone for all of them.

A kubelet going silent (its Node's Ready condition turning False or Unknown) is the moment an
instance may have been stopped or deleted. While a zone holds Nodes that the lifecycle controller
judges and that are not Ready, this monitor lists the zone's instances every ``period`` seconds
(one call, whatever the number of such Nodes) and queues those Nodes again; the controller then
judges them against that fresh listing. A Node that has just turned NotReady does not wait for
the period: its zone is listed at once, or as soon as the zone's last listing is ``min_gap``
seconds old. While every Node is Ready, the monitor makes no call at all.

A Node belongs to the zone where its instance was last listed; one found in no listing belongs
to every zone it could be in (:meth:`InstanceLocator.zones_for`).

``clock`` must be the clock of the zone inventories (both are ``time.monotonic`` in production):
the monitor compares its own time with the listings' ages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import anyio
import structlog

from exoccm.controllers.inventory import ZoneInventory
from exoccm.controllers.node.resolve import InstanceLocator
from exoccm.controllers.node.state import is_ready
from exoccm.engine.clock import SYSTEM_CLOCK, Clock
from exoccm.engine.informer import Informer, Tombstone, final_state
from exoccm.exoscale.errors import ExoscaleError, RateLimitedError
from exoccm.kube.objects import Obj, key_of

log = structlog.get_logger(__name__)

Enqueue = Callable[[Iterable[str]], None]

NOT_READY_INDEX = "lifecycle-not-ready"
_NOT_READY = "1"
# After an unexpected error, the monitor pauses this long before its next round (seconds).
_ERROR_PAUSE = 5.0


class NotReadyMonitor:
    """See the module documentation. :meth:`run` serves while the node controllers lead."""

    def __init__(
        self,
        *,
        nodes: Informer,
        locator: InstanceLocator,
        judged: Callable[[Obj], bool],
        enqueue: Enqueue,
        period: float,
        min_gap: float,
        clock: Clock = SYSTEM_CLOCK,
    ):
        if period <= 0 or min_gap < 0:
            raise ValueError(
                f"NotReadyMonitor needs period > 0 and min_gap >= 0 (got {period}, {min_gap})"
            )
        self.nodes = nodes
        self.locator = locator
        self.period = period
        self.min_gap = min(min_gap, period)
        self._judged = judged
        self._enqueue = enqueue
        self._clock = clock
        # Node key -> clock time it was seen turning NotReady, until a listing covers it.
        self._turned: dict[str, float] = {}
        self._retry_at: dict[str, float] = {}  # zone -> earliest next listing, after a failure
        self._changed = _Signal()
        #: Rounds done, and the clock time the monitor waits for (None: only for a change).
        self.rounds = 0
        self.next_at: float | None = None
        self._waiting = False
        nodes.add_index(NOT_READY_INDEX, self._index)
        nodes.add_handler(on_add=self._on_add, on_update=self._on_update, on_delete=self._on_delete)

    def __repr__(self) -> str:
        return f"NotReadyMonitor(period={self.period}, min_gap={self.min_gap})"

    # -- which Nodes ----------------------------------------------------------------------------

    def _watched(self, node: Obj) -> bool:
        return not is_ready(node) and self._judged(node)

    def _index(self, node: Obj) -> tuple[str, ...]:
        return (_NOT_READY,) if self._watched(node) else ()

    def _on_add(self, node: Obj, initial: bool) -> None:
        if not initial and self._watched(node):
            self._turned_not_ready(key_of(node))

    def _on_update(self, old: Obj, new: Obj) -> None:
        if old is new:
            return  # a resync, not a change
        if self._watched(new):
            if not self._watched(old):
                self._turned_not_ready(key_of(new))
        else:
            self._turned.pop(key_of(new), None)

    def _on_delete(self, node: Obj | Tombstone) -> None:
        self._turned.pop(key_of(final_state(node)), None)

    def _turned_not_ready(self, key: str) -> None:
        self._turned[key] = self._clock.monotonic()
        self._changed.set()

    def not_ready_by_zone(self) -> dict[str, tuple[ZoneInventory, list[str]]]:
        """The watched NotReady Nodes' keys, by the zone to list for them."""
        groups: dict[str, tuple[ZoneInventory, list[str]]] = {}
        for node in self.nodes.by_index(NOT_READY_INDEX, _NOT_READY):
            found = self.locator.locate_node_cached(node)
            if found is not None:
                zones = [self.locator.inventories.zone(found.zone)]
            else:
                zones = self.locator.zones_for(node)[0]
            for inventory in zones:
                groups.setdefault(inventory.zone, (inventory, []))[1].append(key_of(node))
        return groups

    # -- when ------------------------------------------------------------------------------------

    def due_at(self, inventory: ZoneInventory, keys: list[str]) -> float:
        """When the zone must be checked next (clock time; now or earlier: at once)."""
        now = self._clock.monotonic()
        listed_at = inventory.instances.fetched_at
        retry_at = self._retry_at.get(inventory.zone, -math.inf)
        if listed_at is None:
            return max(now, retry_at)
        turned = [self._turned[key] for key in keys if key in self._turned]
        if any(at >= listed_at for at in turned):
            due = listed_at + self.min_gap  # the listing may predate a Node turning NotReady
        elif turned:
            due = now  # a listing already covers it: only the queueing is left
        else:
            due = listed_at + self.period
        return max(due, retry_at)

    # -- running ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Check zones as they fall due, forever (cancel to stop)."""
        while True:
            self._changed.clear()
            try:
                next_at = await self.check_due()
            except Exception:
                # The monitor must outlive a bad round; the lifecycle refresh still runs.
                log.exception("NotReady monitor round failed", next_in=_ERROR_PAUSE)
                next_at = self._clock.monotonic() + _ERROR_PAUSE
            self.rounds += 1
            self.next_at = next_at
            self._waiting = True
            try:
                await self._changed.wait(self._clock, next_at)
            finally:
                self._waiting = False

    @property
    def idle(self) -> bool:
        """Waiting, with every Node change seen so far taken into account."""
        return self._waiting and not self._changed.is_set()

    async def check_due(self) -> float | None:
        """Check every zone that is due; return when the next one is due (None: no NotReady
        Node, nothing to wait for but a Node turning NotReady)."""
        next_at: float | None = None
        for inventory, keys in self.not_ready_by_zone().values():
            if self.due_at(inventory, keys) <= self._clock.monotonic():
                await self._check(inventory, keys)
            due = self.due_at(inventory, keys)
            next_at = due if next_at is None else min(next_at, due)
        return next_at

    async def _check(self, inventory: ZoneInventory, keys: list[str]) -> None:
        now = self._clock.monotonic()
        listing = inventory.instances
        turned = [self._turned[key] for key in keys if key in self._turned]
        # A listing taken since the last of these Nodes turned NotReady will do; else a new one.
        covered = turned and listing.fetched_at is not None and max(turned) < listing.fetched_at
        try:
            if not covered:
                await listing.get(max_age=0.0)
        except ExoscaleError as exc:
            wait = self.min_gap
            if isinstance(exc, RateLimitedError) and exc.retry_after:
                wait = max(wait, exc.retry_after)
            self._retry_at[inventory.zone] = now + max(wait, 0.1)
            log.warning(
                "NotReady monitor failed to list instances",
                zone=inventory.zone,
                error=str(exc),
                retry_in=wait,
            )
            return
        self._retry_at.pop(inventory.zone, None)
        listed_at = listing.fetched_at
        for key in keys:
            at = self._turned.get(key)
            if at is not None and listed_at is not None and at <= listed_at:
                del self._turned[key]
        self._enqueue(keys)


class _Signal:
    """An event that can be cleared and awaited with a deadline on a :class:`Clock`."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def clear(self) -> None:
        if self._event.is_set():
            self._event = anyio.Event()

    async def wait(self, clock: Clock, deadline: float | None) -> None:
        await clock.wait(self._event, deadline)
