"""What the benchmark sees of the cluster, from its own list + watch of Nodes, Leases, Services.

:class:`ResourceWatch` lists a collection page by page, then watches it from the list's
resourceVersion (bookmarks on, reopened when the apiserver ends it, a relist after 410 Gone) and
hands every object to a tracker:

* :class:`NodeTracker` tells a *status report* (a Node update that moves nothing but the
  conditions' ``lastHeartbeatTime``, the resourceVersion and managedFields' times) from any other
  change, and knows which Nodes are initialized (providerID, no uninitialized taint) and Ready;
* :class:`LeaseTracker` counts the Lease renewals of ``kube-node-lease`` (the frequent
  heartbeat);
* :class:`ServiceTracker` records when each Service first shows an ingress IP and counts the
  updates of Services.

While a :class:`Window` is open, the trackers count into it, with the intervals between two
heartbeats of one Node (or Lease). Each tracker keeps a few hashes per object, not the objects.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import orjson
from harness import Kube, log, percentile, service_key

Obj = dict[str, Any]
Handler = Callable[[str, Obj, float], None]
UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"


class ResourceWatch:
    """List + watch of ``path`` (a collection), each object handed to ``handler(type, obj,
    monotonic time)``; listed objects come as ``ADDED``."""

    def __init__(self, kube: Kube, path: str, handler: Handler, *, page: int = 500):
        self.kube = kube
        self.path = path
        self.handler = handler
        self.page = page
        self.synced = anyio.Event()
        self.relists = 0

    async def run(self) -> None:
        while True:
            rv = await self._list()
            self.synced.set()
            await self._watch(rv)
            self.relists += 1
            log(f"relisting {self.path} (its resourceVersion expired)")

    async def _list(self) -> str:
        params = {"limit": str(self.page)}
        while True:
            body = await self.kube.get(self.path, params)
            now = time.monotonic()
            for obj in body.get("items") or []:
                self.handler("ADDED", obj, now)
            meta = body.get("metadata") or {}
            if not meta.get("continue"):
                return str(meta["resourceVersion"])
            params = {"limit": str(self.page), "continue": meta["continue"]}

    async def _watch(self, rv: str) -> None:
        """Until the resourceVersion expires (410): then the caller relists."""
        while True:
            params = {
                "watch": "true",
                "resourceVersion": rv,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "300",
            }
            try:
                async with self.kube.http.stream(
                    "GET", self.path, params=params, timeout=httpx.Timeout(60.0, read=None)
                ) as response:
                    buffer = b""
                    ended = False
                    async for chunk in response.aiter_bytes():
                        buffer += chunk
                        *lines, buffer = buffer.split(b"\n")
                        now = time.monotonic()
                        for line in lines:
                            if not line.strip():
                                continue
                            event = orjson.loads(line)
                            kind, obj = event.get("type"), event.get("object") or {}
                            if kind == "ERROR":
                                if obj.get("code") == 410:
                                    return
                                # Any other error ends this watch; it reopens from ``rv``.
                                log(f"watch of {self.path} ended: {obj.get('message')}")
                                ended = True
                                break
                            rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                            if kind != "BOOKMARK":
                                self.handler(str(kind), obj, now)
                        if ended:
                            break
            except httpx.HTTPError as exc:
                log(f"watch of {self.path} restarted: {exc!r}")
                await anyio.sleep(0.5)


@dataclass
class Window:
    """What the trackers counted while it was open."""

    status_reports: int = 0
    status_report_intervals: list[float] = field(default_factory=list)
    other_node_changes: Counter[str] = field(default_factory=Counter)
    nodes_added: int = 0
    nodes_deleted: int = 0
    lease_renewals: int = 0
    lease_renewal_intervals: list[float] = field(default_factory=list)
    service_updates: int = 0

    def summary(self, nodes: int) -> Obj:
        def spread(values: list[float]) -> Obj:
            if not values:
                return {"count": 0}
            return {
                "count": len(values),
                "min": round(min(values), 1),
                "median": round(percentile(values, 0.5), 1),
                "max": round(max(values), 1),
            }

        return {
            "node_status_reports": self.status_reports,
            "node_status_report_interval_seconds": spread(self.status_report_intervals),
            "nodes_reporting": nodes,
            "other_node_changes": dict(self.other_node_changes),
            "nodes_added": self.nodes_added,
            "nodes_deleted": self.nodes_deleted,
            "node_lease_renewals": self.lease_renewals,
            "node_lease_renewal_interval_seconds": spread(self.lease_renewal_intervals),
            "service_updates": self.service_updates,
        }


def _digest(value: object) -> int:
    return hash(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


_METADATA_BOOKKEEPING = ("resourceVersion", "managedFields", "labels", "annotations")
SECTIONS = ("metadata", "labels", "annotations", "spec", "addresses", "conditions", "status")


def node_sections(node: Obj) -> tuple[int, ...]:
    """A digest of each part of a Node, heartbeat times and bookkeeping left out."""
    meta = node.get("metadata") or {}
    status = node.get("status") or {}
    conditions = [
        {k: v for k, v in c.items() if k != "lastHeartbeatTime"}
        for c in status.get("conditions") or []
    ]
    return (
        _digest({k: v for k, v in meta.items() if k not in _METADATA_BOOKKEEPING}),
        _digest(meta.get("labels")),
        _digest(meta.get("annotations")),
        _digest(node.get("spec")),
        _digest(status.get("addresses")),
        _digest(conditions),
        _digest({k: v for k, v in status.items() if k not in ("conditions", "addresses")}),
    )


def is_initialized(node: Obj) -> bool:
    spec = node.get("spec") or {}
    taints = {t.get("key") for t in spec.get("taints") or []}
    return bool(spec.get("providerID")) and UNINITIALIZED_TAINT not in taints


def is_ready(node: Obj) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@dataclass
class _NodeState:
    sections: tuple[int, ...]
    initialized: bool
    ready: bool
    last_report: float | None  # the last status report, if nothing else changed since


class NodeTracker:
    def __init__(self) -> None:
        self.nodes: dict[str, _NodeState] = {}
        self.window: Window | None = None

    def handle(self, kind: str, obj: Obj, now: float) -> None:
        name = str(obj["metadata"]["name"])
        window = self.window
        if kind == "DELETED":
            self.nodes.pop(name, None)
            if window:
                window.nodes_deleted += 1
            return
        sections = node_sections(obj)
        old = self.nodes.get(name)
        state = _NodeState(sections, is_initialized(obj), is_ready(obj), None)
        if old is None:
            if window and kind == "ADDED":
                window.nodes_added += 1
        elif kind == "MODIFIED":
            changed = [
                SECTIONS[i]
                for i, (a, b) in enumerate(zip(old.sections, sections, strict=True))
                if a != b
            ]
            if not changed:  # only the heartbeat times moved: a status report
                if window:
                    window.status_reports += 1
                    if old.last_report is not None:
                        window.status_report_intervals.append(now - old.last_report)
                state.last_report = now
            elif window:
                window.other_node_changes[",".join(changed)] += 1
        else:  # listed again after a relist
            state.last_report = old.last_report
        self.nodes[name] = state

    def counts(self) -> tuple[int, int, int]:
        """(Nodes, initialized, Ready)."""
        states = list(self.nodes.values())
        return len(states), sum(s.initialized for s in states), sum(s.ready for s in states)


class LeaseTracker:
    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.window: Window | None = None

    def handle(self, kind: str, obj: Obj, now: float) -> None:
        name = str(obj["metadata"]["name"])
        if kind == "DELETED":
            self.last.pop(name, None)
            return
        window = self.window
        if window and kind == "MODIFIED":
            window.lease_renewals += 1
            if name in self.last:
                window.lease_renewal_intervals.append(now - self.last[name])
        self.last[name] = now


class ServiceTracker:
    def __init__(self) -> None:
        self.ingress_at: dict[str, float] = {}
        self.window: Window | None = None

    def handle(self, kind: str, obj: Obj, now: float) -> None:
        if self.window and kind == "MODIFIED":
            self.window.service_updates += 1
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        key = service_key(obj)
        if ingress and key not in self.ingress_at:
            self.ingress_at[key] = now

    def with_ingress(self, keys: list[str]) -> int:
        return sum(key in self.ingress_at for key in keys)
