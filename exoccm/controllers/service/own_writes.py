"""The Services as exoccm last wrote them, until the informer's cache shows those writes.

A reconcile's own writes (finalizer, annotations, status) come back as watch events that queue
the Service again; the next reconcile can start before the last of those events has reached the
cache, see the Service as it was before, and write the same status a second time. Each write
answers with the object as the apiserver stored it, so the controller keeps that answer and reads
it instead of the cache until the cache has caught up: the informer delivers events in order, so
once it has delivered the version exoccm wrote, the cache is at least that fresh. An entry older
than :data:`MAX_AGE` is dropped whatever happened (a relist that skipped the version).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exoccm.engine.informer import Informer, Tombstone, final_state
from exoccm.kube.objects import key_of, resource_version

Obj = dict[str, Any]

MAX_AGE = 10.0


@dataclass(frozen=True)
class _Written:
    version: str
    obj: Obj
    at: float


class OwnWrites:
    """Objects this controller wrote, read in place of the informer's older copies."""

    def __init__(self, informer: Informer, *, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._written: dict[str, _Written] = {}
        informer.add_handler(self._seen, lambda _old, new: self._seen(new), self._gone)

    def remember(self, obj: Obj | None) -> Obj | None:
        """Note ``obj``, what a write to the apiserver answered (None: nothing was written), and
        return it."""
        if obj is not None and (version := resource_version(obj)):
            self._written[key_of(obj)] = _Written(version, obj, self._clock())
        return obj

    def current(self, key: str, cached: Obj | None) -> Obj | None:
        """The freshest known state of ``key``: the cached object, or what exoccm wrote if the
        cache has not shown it yet."""
        written = self._written.get(key)
        if written is None:
            return cached
        if (
            cached is None
            or resource_version(cached) == written.version
            or self._clock() - written.at > MAX_AGE
        ):
            del self._written[key]
            return cached
        return written.obj

    def __len__(self) -> int:
        return len(self._written)

    def _seen(self, obj: Obj, _initial: bool = False) -> None:
        written = self._written.get(key_of(obj))
        if written is not None and resource_version(obj) == written.version:
            del self._written[key_of(obj)]

    def _gone(self, obj: Obj | Tombstone) -> None:
        self._written.pop(key_of(final_state(obj)), None)
