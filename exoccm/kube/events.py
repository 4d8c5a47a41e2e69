"""Kubernetes Events, the user-facing error channel (``kubectl describe service``).

Like client-go's recorder: an identical event (same object, type, reason and message) within the
dedup window bumps ``count`` and ``lastTimestamp`` of the existing Event instead of creating a new
one, and each object has a small token bucket so a hot retry loop cannot flood the apiserver.
Recording never fails the caller: problems are logged.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog

from exoccm.kube.client import KubeClient
from exoccm.kube.errors import KubeError, KubeNotFoundError
from exoccm.kube.resources import EVENTS

log = structlog.get_logger(__name__)

EventType = Literal["Normal", "Warning"]
DEDUP_WINDOW = 600.0
CACHE_SIZE = 4096
BURST = 25
REFILL_SECONDS = 300.0  # one token per 5 minutes per object, as client-go's spam filter


@dataclass(slots=True)
class _Seen:
    name: str
    namespace: str
    count: int
    first: str
    at: float


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


def _now_rfc3339(clock: Callable[[], float]) -> str:
    return datetime.fromtimestamp(clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_reference(obj: dict[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    ref = {
        "kind": str(obj.get("kind", "")),
        "apiVersion": str(obj.get("apiVersion", "")),
        "name": str(meta.get("name", "")),
        "uid": str(meta.get("uid", "")),
    }
    if meta.get("namespace"):
        ref["namespace"] = str(meta["namespace"])
    return ref


class EventRecorder:
    """Writes core/v1 Events for objects on behalf of ``component``."""

    def __init__(
        self,
        kube: KubeClient,
        component: str,
        *,
        host: str = "",
        clock: Callable[[], float] = time.time,
    ):
        self._kube = kube
        self._component = component
        self._host = host
        self._clock = clock
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def remembered(self) -> tuple[int, int]:
        """How many events and per-object buckets the recorder keeps (for tests and debugging)."""
        return len(self._seen), len(self._buckets)

    def _forget_expired(self, now: float) -> None:
        """Drop what can no longer change an outcome, oldest first: an event last seen a dedup
        window ago is recorded anew anyway, and a bucket idle long enough to refill completely
        is as full as a new one. Without this, both caches stay full long after a burst."""
        while self._seen and now - next(iter(self._seen.values())).at >= DEDUP_WINDOW:
            self._seen.popitem(last=False)
        refilled = BURST * REFILL_SECONDS
        while self._buckets and now - next(iter(self._buckets.values())).at >= refilled:
            self._buckets.popitem(last=False)

    def _allow(self, uid: str) -> bool:
        now = self._clock()
        bucket = self._buckets.pop(uid, None) or _Bucket(tokens=BURST, at=now)
        bucket.tokens = min(BURST, bucket.tokens + (now - bucket.at) / REFILL_SECONDS)
        bucket.at = now
        self._buckets[uid] = bucket
        while len(self._buckets) > CACHE_SIZE:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    async def event(
        self,
        obj: dict[str, Any],
        type_: EventType,
        reason: str,
        message: str,
        *,
        kind: str | None = None,
        api_version: str | None = None,
    ) -> None:
        """Record an event about ``obj`` (a raw object; ``kind`` for trimmed cache copies)."""
        ref = object_reference(obj)
        if kind:
            ref["kind"] = kind
        if api_version:
            ref["apiVersion"] = api_version
        # Cluster-scoped objects (Nodes) get their events in "default", as client-go does.
        namespace = ref.get("namespace") or "default"
        message = message[:1024]
        key = (ref["uid"] or ref["name"], ref["kind"], type_, reason, message)
        try:
            await self._record(key, ref, namespace, type_, reason, message)
        except KubeError as exc:
            log.warning("Event not recorded", object=ref.get("name"), reason=reason, error=str(exc))

    async def _record(
        self,
        key: tuple[str, ...],
        ref: dict[str, str],
        namespace: str,
        type_: EventType,
        reason: str,
        message: str,
    ) -> None:
        now = self._clock()
        self._forget_expired(now)
        stamp = _now_rfc3339(self._clock)
        seen = self._seen.get(key)
        if seen is not None and now - seen.at < DEDUP_WINDOW:
            seen.count += 1
            seen.at = now
            self._seen.move_to_end(key)
            try:
                await self._kube.patch(
                    EVENTS.path(seen.namespace, seen.name),
                    {"count": seen.count, "lastTimestamp": stamp},
                )
                return
            except KubeNotFoundError:
                self._seen.pop(key, None)  # expired server-side (event TTL): create anew
        if not self._allow(key[0]):
            log.debug("Event rate-limited", object=ref.get("name"), reason=reason)
            return
        name = f"{ref['name']}.{secrets.token_hex(8)}"
        await self._kube.create(
            EVENTS.path(namespace),
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": ref,
                "reason": reason,
                "message": message,
                "type": type_,
                "source": {"component": self._component, "host": self._host},
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
                "reportingComponent": self._component,
                "reportingInstance": self._host or self._component,
            },
        )
        self._seen[key] = _Seen(name, namespace, 1, stamp, now)
        while len(self._seen) > CACHE_SIZE:
            self._seen.popitem(last=False)
