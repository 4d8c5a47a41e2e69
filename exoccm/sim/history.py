"""What a zone's listed objects looked like a while ago, for listings that lag.

Before each change to a listed object (an NLB with its services, an instance, a pool, an SKS
cluster), the zone records the object as it was, frozen as JSON, or None when the change
creates it. A lagging listing starts from the present and puts back each object changed after
the moment it shows, as the first of those changes found it. Recording costs one JSON dump per
change and nothing per call; only a lagging listing pays for the rewind.

The history is bounded: entries older than ``keep_seconds`` are dropped (no lag may look further
back), and beyond ``max_entries`` the oldest go too. Then the history's *horizon* moves up and a
listing cannot show a moment before it: it shows the zone as of the horizon instead.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from exoccm.sim.faults import MAX_LAG_SECONDS

Table = Literal["load_balancers", "instances", "instance_pools", "sks_clusters"]
"""The zone's listed tables, by their attribute name on :class:`~exoccm.sim.state.Zone`."""

# Per zone: about 40 MB at most (NLBs with 10 services each), about 10 MB for NLBs with a service
# or two. A long benchmark on the real clock may reach it; a test does not.
MAX_HISTORY_ENTRIES = 10_000

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Entry:
    at: float
    sequence: int
    table: Table
    key: str
    before: bytes | None  # the object before the change, frozen; None: it did not exist


def _order(entry: _Entry) -> tuple[float, int]:
    return entry.at, entry.sequence


class History:
    """Before-images of changes, oldest first; ``now`` gives the time of the change being made."""

    def __init__(
        self,
        now: Callable[[], float],
        *,
        keep_seconds: float = MAX_LAG_SECONDS,
        max_entries: int = MAX_HISTORY_ENTRIES,
    ) -> None:
        self._now = now
        self._keep_seconds = keep_seconds
        self._max_entries = max_entries
        self._entries: list[_Entry] = []
        self._sequence = itertools.count()
        self.horizon = -math.inf

    def __len__(self) -> int:
        return len(self._entries)

    def record(self, table: Table, key: str, before: bytes | None) -> None:
        """Remember that ``key`` in ``table`` was ``before`` (frozen) until now."""
        entry = _Entry(self._now(), next(self._sequence), table, key, before)
        if self._entries and _order(self._entries[-1]) > _order(entry):
            # An Operation settled late records the change at its due time, in the past.
            bisect.insort(self._entries, entry, key=_order)
        else:
            self._entries.append(entry)
        self._trim(entry.at)

    def rewind(
        self,
        table: Table,
        current: Mapping[str, T],
        when: float,
        thaw: Callable[[bytes], T],
    ) -> dict[str, T]:
        """``current`` (the table now) as it was at ``when``, or at the horizon if later;
        ``thaw`` turns a frozen object back into one."""
        when = max(when, self.horizon)
        view = dict(current)
        # An object's state at `when` is what its first change after `when` found.
        first = bisect.bisect_right(self._entries, when, key=lambda e: e.at)
        seen: set[str] = set()
        for entry in self._entries[first:]:
            if entry.table != table or entry.key in seen:
                continue
            seen.add(entry.key)
            if entry.before is None:
                view.pop(entry.key, None)
            else:
                view[entry.key] = thaw(entry.before)
        return view

    def _trim(self, now: float) -> None:
        entries = self._entries
        drop = bisect.bisect_right(entries, now - self._keep_seconds, key=lambda e: e.at)
        excess = len(entries) - drop - self._max_entries
        if excess > 0:
            drop += excess
            self.horizon = max(self.horizon, entries[drop - 1].at)
        if drop:
            del entries[:drop]
