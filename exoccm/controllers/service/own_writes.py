"""The Services as exoccm last wrote them, read while the informer's cache is behind.

A reconcile's own writes (finalizer, annotations, status) come back as watch events that queue
the Service again; the next reconcile can start before the last of those events has reached the
cache, see the Service as it was before, and write the same status a second time. Each write
answers with the object as the apiserver stored it, so the controller keeps that answer and reads
it instead of the cached copy as long as the cached copy is a version known to come before it
(the one the write was made on, or an earlier write's answer). Any other version in the cache is
read as it is: it may be someone else's later change, and resource versions are not compared for
order. An answer older than :data:`MAX_AGE` seconds is dropped whatever the cache shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from exoccm.kube.objects import Obj, key_of, resource_version

MAX_AGE = 10.0


@dataclass(frozen=True)
class _Written:
    obj: Obj
    earlier: frozenset[str]  # resource versions known to come before obj's
    at: float


class OwnWrites:
    """Answers of this controller's writes, read in place of older cached copies."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._written: dict[str, _Written] = {}

    def remember(self, before: Obj, answer: Obj | None) -> Obj | None:
        """Note ``answer``, what a write made on ``before`` returned (None: nothing was
        written), and return it."""
        if answer is None:
            return None
        key = key_of(answer)
        earlier = {resource_version(before)}
        previous = self._written.get(key)
        if previous is not None:
            earlier |= previous.earlier | {resource_version(previous.obj)}
        earlier.discard(resource_version(answer))
        self._written[key] = _Written(answer, frozenset(earlier), self._clock())
        return answer

    def current(self, key: str, cached: Obj | None) -> Obj | None:
        """The freshest known state of ``key``: exoccm's last write while the cache shows a
        version before it, else the cached object."""
        written = self._written.get(key)
        if written is None:
            return cached
        if (
            cached is not None
            and resource_version(cached) in written.earlier
            and self._clock() - written.at <= MAX_AGE
        ):
            return written.obj
        del self._written[key]
        return cached

    def __len__(self) -> int:
        return len(self._written)
