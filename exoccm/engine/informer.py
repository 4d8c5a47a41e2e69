"""A shared informer: a local cache of one resource kept current by list + watch, plus handlers.

Objects are plain orjson-decoded dicts, passed through a :mod:`transform <exoccm.engine.transform>`
before they are cached (the default drops ``managedFields`` and kubectl's last-applied
annotation). Handlers are told about every change:

* ``on_add(obj, initial)``: ``initial`` is true for objects of the first list (startup work).
* ``on_update(old, new)``: a resync delivers the cached object as both ``old`` and ``new``
  (``old is new``), so handlers can tell periodic resync work from real changes.
* ``on_delete(obj)``: ``obj`` is the final state from the watch, or a :class:`Tombstone` carrying
  the last known state when the deletion was only noticed by a relist.

Handlers may be plain functions or coroutine functions. They run inline in the watch loop, so
they must be quick (typically they only enqueue keys); a handler that raises is logged and
skipped, never stopping the informer.

Usage::

    nodes = Informer(client, NODES, transform=NODE_TRANSFORM, name="nodes")
    nodes.add_index("provider", lambda node: [node.get("spec", {}).get("providerID", "")])
    nodes.add_handler(on_add=..., on_update=..., on_delete=...)
    async with anyio.create_task_group() as tg:
        tg.start_soon(nodes.run)
        await nodes.wait_synced()
        nodes.get("node-1"), nodes.by_index("provider", "exoscale://...")
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import structlog

from exoccm.engine import metrics
from exoccm.engine.clock import SYSTEM_CLOCK, Clock
from exoccm.engine.reflector import Reflector, ReflectorOptions
from exoccm.engine.store import IndexFunc, Store
from exoccm.engine.transform import DEFAULT_TRANSFORM, Transform
from exoccm.kube.client import KubeClient
from exoccm.kube.objects import Obj, key_of, resource_version
from exoccm.kube.resources import Resource

log = structlog.get_logger(__name__)

_Objs = list[Obj]  # aliases: the method named ``list`` shadows the builtin in class scope
_Keys = list[str]
_YIELD_EVERY = 200  # let other tasks run while a large list is applied


@dataclass(frozen=True)
class Tombstone:
    """A deletion noticed only by a relist: ``obj`` is the last state the cache held."""

    key: str
    obj: Obj


def final_state(obj: Obj | Tombstone) -> Obj:
    """The object a delete handler received, unwrapping a :class:`Tombstone`."""
    return obj.obj if isinstance(obj, Tombstone) else obj


AddHandler = Callable[[Obj, bool], Awaitable[None] | None]
UpdateHandler = Callable[[Obj, Obj], Awaitable[None] | None]
DeleteHandler = Callable[[Obj | Tombstone], Awaitable[None] | None]


@dataclass(eq=False)
class HandlerRegistration:
    """One set of handlers; ``resync_period`` (seconds) replays the cache to it periodically."""

    on_add: AddHandler | None = None
    on_update: UpdateHandler | None = None
    on_delete: DeleteHandler | None = None
    resync_period: float | None = None
    next_resync: float = field(default=0.0, repr=False)


_Handlers = list[HandlerRegistration]


class Informer:
    """Cache + handlers for one resource (optionally one namespace and selectors)."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        *,
        name: str | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Transform | None = DEFAULT_TRANSFORM,
        options: ReflectorOptions | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ):
        self.name = name or resource.plural
        self.resource = resource
        self.transform = transform
        self._store = Store()
        self._handlers: _Handlers = []
        # Registered after the first sync: replayed the cache as adds by the resync loop.
        self._late_registrations: _Handlers = []
        self._handlers_changed = anyio.Event()
        self._synced = anyio.Event()
        self._clock = clock
        self._log = log.bind(informer=self.name)
        self._objects_gauge = metrics.INFORMER_OBJECTS.labels(self.name)
        self.reflector = Reflector(
            client,
            resource,
            self,
            name=self.name,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            options=options,
            clock=clock,
            rng=rng,
            transform=self._ingest,
        )

    def __repr__(self) -> str:
        return f"Informer(name={self.name!r}, objects={len(self._store)}, synced={self.has_synced})"

    # -- cache reads ----------------------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        """The cached object with key ``namespace/name`` (``name`` when cluster-scoped)."""
        return self._store.get(key)

    def list(self) -> _Objs:
        return self._store.list()

    def keys(self) -> _Keys:
        return self._store.keys()

    def __len__(self) -> int:
        return len(self._store)

    def add_index(self, name: str, func: IndexFunc) -> None:
        """Index cached objects by the strings ``func(obj)`` returns (any time, even running)."""
        self._store.add_index(name, func)

    def by_index(self, name: str, value: str) -> _Objs:
        return self._store.by_index(name, value)

    def index_keys(self, name: str, value: str) -> set[str]:
        return self._store.index_keys(name, value)

    @property
    def has_synced(self) -> bool:
        """True once the first full list is in the cache and its handlers have run."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    # -- handlers -------------------------------------------------------------------------------

    def add_handler(
        self,
        on_add: AddHandler | None = None,
        on_update: UpdateHandler | None = None,
        on_delete: DeleteHandler | None = None,
        *,
        resync_period: float | None = None,
    ) -> HandlerRegistration:
        """Register handlers. Registered after the first sync, they first get the cache as adds
        (``initial=True``) on the next event-loop turn."""
        if resync_period is not None and resync_period <= 0:
            raise ValueError(f"resync_period must be positive seconds (got {resync_period})")
        registration = HandlerRegistration(on_add, on_update, on_delete, resync_period)
        if resync_period is not None:
            registration.next_resync = self._clock.monotonic() + resync_period
        self._handlers.append(registration)
        self._handlers_changed.set()
        if self.has_synced and on_add is not None:
            self._late_registrations.append(registration)
        return registration

    # -- running --------------------------------------------------------------------------------

    async def run(self) -> None:
        """List, watch and resync until cancelled."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.reflector.run)
            tg.start_soon(self._resync_loop)

    async def _resync_loop(self) -> None:
        await self._synced.wait()
        while True:
            await self._replay_to_late_registrations()
            due = [h.next_resync for h in self._handlers if h.resync_period is not None]
            self._handlers_changed = anyio.Event()
            await self._clock.wait(self._handlers_changed, min(due) if due else None)
            now = self._clock.monotonic()
            for handler in list(self._handlers):
                if handler.resync_period is not None and handler.next_resync <= now:
                    handler.next_resync = now + handler.resync_period
                    await self._resync(handler)

    async def _resync(self, handler: HandlerRegistration) -> None:
        """Replay the cache as ``update(obj, obj)``: no API call, level-triggered repair."""
        if handler.on_update is None:
            return
        for count, obj in enumerate(self._store.list(), start=1):
            await self._call(handler.on_update, obj, obj)
            if count % _YIELD_EVERY == 0:
                await anyio.lowlevel.checkpoint()

    async def _replay_to_late_registrations(self) -> None:
        pending = self._late_registrations
        while pending:
            handler = pending.pop(0)
            if handler.on_add is None:
                continue
            for obj in self._store.list():
                await self._call(handler.on_add, obj, True)

    # -- ingest (the reflector's sink) ----------------------------------------------------------

    def _ingest(self, obj: Obj) -> Obj:
        return self.transform(obj) if self.transform is not None else obj

    async def replace(self, objects: _Objs, resource_version: str) -> None:
        """Make the cache equal to a full list, telling handlers what changed. The reflector
        has already transformed ``objects``, page by page as they arrived."""
        initial = not self.has_synced
        seen: set[str] = set()
        for count, obj in enumerate(objects, start=1):
            key = key_of(obj)
            seen.add(key)
            old = self._store.put(key, obj)
            if old is None:
                await self._dispatch_add(obj, initial)
            elif _rv(old) != _rv(obj):
                await self._dispatch_update(old, obj)
            if count % _YIELD_EVERY == 0:
                await anyio.lowlevel.checkpoint()
        for key in [k for k in self._store if k not in seen]:
            old = self._store.delete(key)
            if old is not None:
                await self._dispatch_delete(Tombstone(key, old))
        self._objects_gauge.set(len(self._store))
        if initial:
            self._log.info("Informer synced", objects=len(self._store), rv=resource_version)
            self._synced.set()

    async def apply(self, event_type: str, obj: Obj) -> None:
        """Apply one watch event to the cache and tell handlers."""
        obj = self._ingest(obj)
        key = key_of(obj)
        if event_type == "DELETED":
            self._store.delete(key)
            await self._dispatch_delete(obj)
        else:
            old = self._store.put(key, obj)
            if old is None:
                await self._dispatch_add(obj, False)
            else:
                await self._dispatch_update(old, obj)
        self._objects_gauge.set(len(self._store))

    async def _dispatch_add(self, obj: Obj, initial: bool) -> None:
        for handler in self._handlers:
            if handler.on_add is not None:
                await self._call(handler.on_add, obj, initial)

    async def _dispatch_update(self, old: Obj, new: Obj) -> None:
        for handler in self._handlers:
            if handler.on_update is not None:
                await self._call(handler.on_update, old, new)

    async def _dispatch_delete(self, obj: Obj | Tombstone) -> None:
        for handler in self._handlers:
            if handler.on_delete is not None:
                await self._call(handler.on_delete, obj)

    async def _call(self, func: Callable[..., Awaitable[None] | None], *args: Any) -> None:
        try:
            result = func(*args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self._log.exception("Informer handler failed", handler=getattr(func, "__name__", func))


def _rv(obj: Obj) -> str:
    return resource_version(obj)
