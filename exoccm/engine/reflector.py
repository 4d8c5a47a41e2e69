"""List-then-watch on raw JSON, with client-go's reflector recovery rules.

The :class:`Reflector` keeps a :class:`ReflectorSink` (the informer) in step with the apiserver:

* **List** (paginated, ``limit`` 500, following ``continue`` tokens). The first list is a
  consistent read (``resourceVersion=""``; 1.34+ apiservers serve it from the watch cache).
  Later lists are *relists* at the last seen resourceVersion (``NotOlderThan``, cheap for the
  apiserver). The 410 ladder: a relist that answers 410 Gone (or "too large resource version")
  is retried at once as a consistent list; a 410 on a ``continue`` token restarts the list without
  pagination.
* **Watch** from the last resourceVersion with bookmarks on and a random 5-10 min server
  ``timeoutSeconds``. A watch that ends normally is reopened at once; a 410 (an ``ERROR`` event or
  status) relists at the last resourceVersion; connection failures and 429s re-watch after a
  backoff; other errors relist after a backoff. A watch silent for ``inactivity_timeout`` (no line,
  not even a bookmark; the apiserver sends one about every minute) is abandoned and reopened.
* **Backoff** 0.8 s → 30 s, x2 with jitter, reset after 2 min without failure.

Every request has a timeout. Lines are decoded with orjson; no model classes are involved.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import orjson
import structlog

from exoccm.engine import metrics
from exoccm.engine.backoff import Backoff
from exoccm.engine.clock import SYSTEM_CLOCK, Clock
from exoccm.kube.client import KubeClient
from exoccm.kube.errors import (
    KubeApiError,
    KubeConnectionError,
    KubeForbiddenError,
    KubeGoneError,
    KubeServerError,
    KubeTooManyRequestsError,
    KubeUnauthorizedError,
    from_status,
)
from exoccm.kube.objects import Obj
from exoccm.kube.resources import Resource

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReflectorOptions:
    """Timing and paging knobs; the defaults are client-go's."""

    page_size: int = 500
    list_timeout: float = 60.0
    watch_timeout_min: int = 300
    watch_timeout_max: int = 600
    inactivity_timeout: float = 90.0
    backoff_initial: float = 0.8
    backoff_cap: float = 30.0
    backoff_reset: float = 120.0

    def __post_init__(self) -> None:
        if not 1 <= self.watch_timeout_min <= self.watch_timeout_max:
            raise ValueError(
                "watch timeouts need 1 <= watch_timeout_min <= watch_timeout_max "
                f"(got {self.watch_timeout_min}, {self.watch_timeout_max})"
            )
        if self.page_size < 1 or self.inactivity_timeout <= 0 or self.list_timeout <= 0:
            raise ValueError("page_size, inactivity_timeout and list_timeout must be positive")


class ReflectorSink(Protocol):
    """Where a reflector delivers what it lists and watches (the informer)."""

    async def replace(self, objects: list[Obj], resource_version: str) -> None:
        """The full current set of objects, as of ``resource_version`` (already passed through
        the reflector's ``transform`` if it has one)."""
        ...

    async def apply(self, event_type: str, obj: Obj) -> None:
        """One watch event: ``ADDED``, ``MODIFIED`` or ``DELETED``."""
        ...


class WatchExpiredError(Exception):
    """The watch's resourceVersion is no longer available (410 Gone): relist."""


class MalformedEventError(ValueError):
    """A watch line that is not a well-formed watch event."""


class _ShortWatchError(Exception):
    """A watch ended at once without delivering anything: treat like an error (back off)."""


class Reflector:
    """Runs list + watch for one resource until cancelled. See the module documentation."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        sink: ReflectorSink,
        *,
        name: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        options: ReflectorOptions | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        transform: Callable[[Obj], Obj] | None = None,
    ):
        self.client = client
        # Applied to listed objects page by page, so that a large list never holds every raw
        # object at once (5,000 raw Nodes are ~250 MB of dicts); the sink gets them transformed.
        self.transform = transform
        self.resource = resource
        self.sink = sink
        self.name = name
        self.options = options or ReflectorOptions()
        self.path = resource.path(namespace)
        self._selectors: dict[str, str] = {}
        if label_selector:
            self._selectors["labelSelector"] = label_selector
        if field_selector:
            self._selectors["fieldSelector"] = field_selector
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._log = log.bind(informer=name, path=self.path)
        #: The resourceVersion of the last list, event or bookmark applied ("" before any list).
        self.last_sync_rv = ""
        self._need_list = True
        self._events = {
            t: metrics.INFORMER_EVENTS.labels(name, t) for t in ("ADDED", "MODIFIED", "DELETED")
        }

    async def run(self) -> None:
        """List and watch forever, recovering from every error; cancel to stop."""
        opts = self.options
        backoff = Backoff(
            opts.backoff_initial,
            opts.backoff_cap,
            reset_after=opts.backoff_reset,
            clock=self._clock,
            rng=self._rng,
        )
        while True:
            try:
                if self._need_list:
                    await self.relist()
                await self.watch()
            except WatchExpiredError as exc:
                self._log.info("Watch resourceVersion expired; relisting", error=str(exc))
                self._restart("expired")
                self._need_list = True  # at the last resourceVersion, no backoff
            except (KubeConnectionError, KubeTooManyRequestsError, _ShortWatchError) as exc:
                # The apiserver is unreachable or busy: keep the cache and re-watch later.
                delay = backoff.next_delay()
                if isinstance(exc, KubeTooManyRequestsError) and exc.retry_after:
                    delay = max(delay, exc.retry_after)
                self._restart(type(exc).__name__)
                self._log.warning(
                    "List/watch failed; retrying", error=str(exc), retry_in=round(delay, 2)
                )
                await self._clock.sleep(delay)
            except (KubeUnauthorizedError, KubeForbiddenError) as exc:
                delay = backoff.next_delay()
                self._restart("forbidden")
                self._log.error(
                    "Not allowed to list/watch; grant list and watch on this resource to "
                    "exoccm's identity (RBAC)",
                    error=str(exc),
                    retry_in=round(delay, 2),
                )
                await self._clock.sleep(delay)
            except Exception as exc:
                # Anything else (5xx, a malformed line, a sink bug): relist at the last RV.
                delay = backoff.next_delay()
                self._restart("error")
                self._need_list = True
                self._log.warning(
                    "List/watch failed; relisting",
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in=round(delay, 2),
                    exc_info=not isinstance(exc, KubeApiError),
                )
                await self._clock.sleep(delay)

    # -- list -----------------------------------------------------------------------------------

    async def relist(self) -> None:
        """List everything and hand it to the sink (the 410 ladder is applied here)."""
        relist_rv = self.last_sync_rv
        kind = "relist" if relist_rv else "consistent"
        try:
            objects, rv = await self._list_all(relist_rv)
        except (KubeGoneError, KubeServerError) as exc:
            if not relist_rv or not _is_expired_or_too_large(exc):
                raise
            self._log.info(
                "Relist at resourceVersion failed; falling back to a consistent list",
                resource_version=relist_rv,
                error=str(exc),
            )
            kind = "consistent-after-410"
            objects, rv = await self._list_all("")
        metrics.INFORMER_LISTS.labels(self.name, kind).inc()
        await self.sink.replace(objects, rv)
        self.last_sync_rv = rv
        self._need_list = False

    def _ingest_page(self, items: list[Obj]) -> list[Obj]:
        transform = self.transform
        if transform is None:
            return items
        ingested = [transform(obj) for obj in items]
        items.clear()  # drop the raw page now, not when the next page has arrived
        return ingested

    async def _list_all(self, resource_version: str) -> tuple[list[Obj], str]:
        params: dict[str, str | int | bool] = {**self._selectors, "limit": self.options.page_size}
        if resource_version:
            params["resourceVersion"] = resource_version
            params["resourceVersionMatch"] = "NotOlderThan"
        objects: list[Obj] = []
        page = await self.client.list(self.path, params=params, timeout=self.options.list_timeout)
        objects.extend(self._ingest_page(page.items))
        list_rv = page.resource_version
        while page.continue_token:
            # Continue tokens pin the first page's revision: no resourceVersion with them.
            next_params: dict[str, str | int | bool] = {
                **self._selectors,
                "limit": self.options.page_size,
                "continue": page.continue_token,
            }
            try:
                page = await self.client.list(
                    self.path, params=next_params, timeout=self.options.list_timeout
                )
            except KubeGoneError as exc:
                # The snapshot behind the token was compacted: take everything in one go.
                self._log.info("List continue token expired; listing without pages", error=str(exc))
                full = {k: v for k, v in params.items() if k != "limit"}
                page = await self.client.list(
                    self.path, params=full, timeout=self.options.list_timeout
                )
                return self._ingest_page(page.items), page.resource_version
            objects.extend(self._ingest_page(page.items))
        return objects, list_rv

    # -- watch ----------------------------------------------------------------------------------

    async def watch(self) -> None:
        """One watch connection from :attr:`last_sync_rv`, until it ends or goes silent."""
        opts = self.options
        timeout_seconds = self._rng.randint(opts.watch_timeout_min, opts.watch_timeout_max)
        params: dict[str, str | int | bool] = {
            **self._selectors,
            "watch": True,
            "allowWatchBookmarks": True,
            "resourceVersion": self.last_sync_rv,
            "timeoutSeconds": timeout_seconds,
        }
        started = anyio.current_time()
        # If the server does not close the watch at its timeout, we do it a little later.
        hard_deadline = started + timeout_seconds + opts.inactivity_timeout
        delivered = 0
        try:
            # The socket read timeout is a backstop; the line-level silence scope below fires
            # first and reconnects without a backoff.
            async with self.client.stream_lines(
                self.path, params=params, read_timeout=opts.inactivity_timeout + 5.0
            ) as lines:
                refreshed = started
                with anyio.CancelScope(deadline=started + opts.inactivity_timeout) as silence:
                    async for line in lines:
                        await self.handle_line(line)
                        delivered += 1
                        # Moving a deadline reschedules a timer: do it at most once a second.
                        now = anyio.current_time()
                        if now - refreshed >= 1.0:
                            refreshed = now
                            silence.deadline = min(hard_deadline, now + opts.inactivity_timeout)
        except KubeGoneError as exc:
            raise WatchExpiredError(str(exc)) from exc
        if silence.cancelled_caught:
            self._restart("inactive")
            self._log.warning(
                "Watch silent for too long; reconnecting",
                inactivity_timeout=opts.inactivity_timeout,
            )
            return
        self._restart("closed")
        if delivered == 0 and anyio.current_time() - started < 1.0:
            raise _ShortWatchError("watch closed immediately without events")

    async def handle_line(self, line: bytes) -> None:
        """Decode one watch line and apply it (exposed for benchmarks)."""
        event = orjson.loads(line)
        event_type = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            raise MalformedEventError(f"watch event without an object: {line[:200]!r}")
        if event_type == "BOOKMARK":
            self.last_sync_rv = _rv(obj) or self.last_sync_rv
            return
        if event_type == "ERROR":
            error = from_status(int(obj.get("code") or 500), obj, method="WATCH", path=self.path)
            if isinstance(error, KubeGoneError):
                raise WatchExpiredError(str(error))
            raise error
        if event_type not in self._events:
            raise MalformedEventError(f"unknown watch event type {event_type!r}")
        rv = _rv(obj)
        await self.sink.apply(event_type, obj)
        self._events[event_type].inc()
        if rv:
            self.last_sync_rv = rv

    def _restart(self, reason: str) -> None:
        metrics.INFORMER_WATCH_RESTARTS.labels(self.name, reason).inc()


def _rv(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        return str(metadata.get("resourceVersion") or "")
    return ""


def _is_expired_or_too_large(exc: KubeApiError) -> bool:
    if isinstance(exc, KubeGoneError):
        return True
    # An apiserver whose cache lags behind the requested RV answers 504 "Too large resource
    # version"; client-go then falls back to a consistent list as for 410.
    return "too large resource version" in exc.message.lower()
