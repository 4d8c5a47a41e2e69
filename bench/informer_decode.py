"""Informer decode-and-cache cost vs kubernetes-asyncio's Watch, and cache memory per 1,000 Nodes.

Usage::

    .venv/bin/python bench/informer_decode.py [--events 10000] [--nodes 1000] [--repeat 3]

Prints one JSON document. Three measurements:

``in_memory``
    The same recorded watch stream (``--events`` lines of realistic ~15.5 KB Nodes: ADDED for
    each of ``--nodes`` nodes, then MODIFIED heartbeats) is fed line by line to

    * ours: ``Reflector.handle_line`` → orjson → ``NODE_TRANSFORM`` → cache → one handler that
      enqueues the key on a named ``WorkQueue`` (what a controller does);
    * kubernetes-asyncio: exactly what ``Watch.next`` does per line after ``readline()``:
      ``line.decode("utf8")`` then ``Watch.unmarshal_event(line, "V1Node")`` (``json.loads``,
      ``json.dumps`` of the object, model deserialisation), and the ``V1Node`` is put in a dict
      keyed by name (a cache, as ours).

    No I/O on either side: this isolates the decode-and-cache path.

``over_http``
    The same bytes served over loopback by a separate aiohttp process (``GET /api/v1/nodes``
    returns an empty list, ``?watch=1`` streams all lines in 64 KB chunks). Ours runs a whole
    ``Informer`` (list, then watch through ``KubeClient``/httpx); kubernetes-asyncio runs
    ``Watch().stream(CoreV1Api.list_node, ...)`` through its aiohttp client. Time from start to
    the last event cached.

``memory``
    tracemalloc bytes held by a cache of 1,000 distinct decoded Nodes, per transform, and by
    1,000 kubernetes-asyncio ``V1Node`` models.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import orjson
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realistic_nodes import node, watch_stream

from exoccm.engine.informer import Informer
from exoccm.engine.queue import WorkQueue
from exoccm.engine.reflector import ReflectorOptions
from exoccm.engine.transform import (
    DEFAULT_TRANSFORM,
    NODE_TRANSFORM,
    Transform,
    compose,
    identity,
    project,
)
from exoccm.kube.client import KubeClient
from exoccm.kube.config import KubeConfig
from exoccm.kube.objects import Obj, key_of
from exoccm.kube.resources import NODES

TARGET_SPEEDUP = 10.0

# What a CCM's node controllers read (the reference's suggested projection).
CCM_NODE_PROJECTION = compose(
    DEFAULT_TRANSFORM,
    project(
        "metadata.labels",
        "metadata.deletionTimestamp",
        "spec.providerID",
        "spec.taints",
        "status.addresses",
        "status.conditions",
    ),
)


def _offline_client() -> KubeClient:
    # Never used for I/O in the in-memory benchmark; the informer just needs one to exist.
    return KubeClient(KubeConfig(server="http://127.0.0.1:9"))


# -- in memory --------------------------------------------------------------------------------


async def ours_in_memory(lines: list[bytes], transform: Transform) -> float:
    client = _offline_client()
    informer = Informer(client, NODES, name="bench-nodes", transform=transform)
    queue: WorkQueue[str] = WorkQueue("bench-nodes")

    def enqueue(obj: Obj, *_: Any) -> None:
        queue.add(key_of(obj))

    informer.add_handler(on_add=enqueue, on_update=lambda _, new: queue.add(key_of(new)))
    await informer.replace([], "1")  # synced, empty: the watch starts
    handle = informer.reflector.handle_line
    started = time.perf_counter()
    for line in lines:
        await handle(line)
    elapsed = time.perf_counter() - started
    assert len(informer) == len({key_of(orjson.loads(line)["object"]) for line in lines[:2000]})
    await client.aclose()
    return elapsed


async def theirs_in_memory(lines: list[bytes]) -> float:
    from kubernetes_asyncio.watch import Watch

    watch = Watch()
    cache: dict[str, Any] = {}
    started = time.perf_counter()
    for raw in lines:
        event = watch.unmarshal_event(raw.decode("utf8"), "V1Node")
        model = event["object"]
        cache[model.metadata.name] = model
    elapsed = time.perf_counter() - started
    await watch.close()
    return elapsed


# -- over HTTP --------------------------------------------------------------------------------

SERVER = r"""
import sys
from aiohttp import web
payload = open(sys.argv[1], "rb").read()
EMPTY = b'{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"999"},"items":[]}'

async def nodes(request):
    if request.query.get("watch") not in ("1", "true", "True"):
        return web.Response(body=EMPTY, content_type="application/json")
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    for start in range(0, len(payload), 65536):
        await response.write(payload[start:start + 65536])
    await response.write_eof()
    return response

async def ready(app):
    print("ready", flush=True)

app = web.Application()
app.router.add_get("/api/v1/nodes", nodes)
app.on_startup.append(ready)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=None, access_log=None)
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WatchServer:
    def __init__(self, lines: list[bytes]):
        self.tmp = tempfile.TemporaryDirectory(prefix="exoccm-bench-")
        payload = Path(self.tmp.name) / "watch.jsonl"
        payload.write_bytes(b"\n".join(lines) + b"\n")
        script = Path(self.tmp.name) / "server.py"
        script.write_text(SERVER)
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(payload), str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("benchmark watch server did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.tmp.cleanup()


async def ours_over_http(url: str, events: int) -> float:
    client = KubeClient(KubeConfig(server=url))
    informer = Informer(
        client,
        NODES,
        name="bench-http",
        transform=NODE_TRANSFORM,
        options=ReflectorOptions(inactivity_timeout=30),
    )
    seen = 0
    done = anyio.Event()

    def count(*_: Any) -> None:
        nonlocal seen
        seen += 1
        if seen == events:
            done.set()

    informer.add_handler(on_add=count, on_update=count)
    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        await done.wait()
        elapsed = time.perf_counter() - started
        tg.cancel_scope.cancel()
    await client.aclose()
    return elapsed


async def theirs_over_http(url: str, events: int) -> float:
    from kubernetes_asyncio import client as k8s
    from kubernetes_asyncio.watch import Watch

    config = k8s.Configuration(host=url)
    started = time.perf_counter()
    async with k8s.ApiClient(config) as api:
        v1 = k8s.CoreV1Api(api)
        watch = Watch()
        cache: dict[str, Any] = {}
        seen = 0
        async with watch:
            async for event in watch.stream(v1.list_node, timeout_seconds=600):
                model = event["object"]
                cache[model.metadata.name] = model
                seen += 1
                if seen == events:
                    watch.stop()
                    break
    return time.perf_counter() - started


# -- memory -----------------------------------------------------------------------------------


def _held_bytes(build: Callable[[], object]) -> tuple[int, object]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, kept


def memory_per_1000(blobs: list[bytes]) -> dict[str, Any]:
    results: dict[str, Any] = {
        "nodes": len(blobs),
        "json_bytes_per_node": round(statistics.mean(len(b) for b in blobs)),
    }
    variants: dict[str, Transform] = {
        "raw_dict_no_transform": identity,
        "default_transform": DEFAULT_TRANSFORM,
        "node_transform": NODE_TRANSFORM,
        "ccm_projection": CCM_NODE_PROJECTION,
    }
    for label, transform in variants.items():

        def cache(t: Transform = transform) -> dict[str, Obj]:
            return {f"n{i}": t(orjson.loads(b)) for i, b in enumerate(blobs)}

        held, _ = _held_bytes(cache)
        results[label] = _mem(held, len(blobs))

    results["kubernetes_asyncio_v1node"] = _mem(asyncio.run(_model_bytes(blobs)), len(blobs))
    return results


async def _model_bytes(blobs: list[bytes]) -> int:
    from kubernetes_asyncio.client import ApiClient

    async with ApiClient() as api:

        def models() -> dict[str, Any]:
            return {
                f"n{i}": api.deserialize(SimpleNamespace(data=b.decode()), "V1Node")
                for i, b in enumerate(blobs)
            }

        held, _ = _held_bytes(models)
    return held


def _mem(held: int, count: int) -> dict[str, float]:
    return {
        "kb_per_node": round(held / count / 1024, 2),
        "mib_per_1000_nodes": round(held / count * 1000 / 2**20, 2),
    }


# -- main -------------------------------------------------------------------------------------


def _timings(values: list[float], events: int) -> dict[str, float]:
    best = min(values)
    return {
        "best_seconds": round(best, 4),
        "median_seconds": round(statistics.median(values), 4),
        "us_per_event": round(best / events * 1e6, 1),
        "events_per_second": round(events / best),
    }


def main() -> None:
    # Logs to stderr, warnings only: stdout carries the JSON result.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()

    lines = watch_stream(args.events, args.nodes)
    result: dict[str, Any] = {
        "benchmark": "informer_decode",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "events": len(lines),
        "distinct_nodes": args.nodes,
        "mean_event_bytes": round(statistics.mean(len(line) for line in lines)),
        "target_speedup": TARGET_SPEEDUP,
    }

    ours = [anyio.run(ours_in_memory, lines, NODE_TRANSFORM) for _ in range(args.repeat)]
    ours_raw = [anyio.run(ours_in_memory, lines, identity) for _ in range(args.repeat)]
    theirs = [anyio.run(theirs_in_memory, lines) for _ in range(args.repeat)]
    speedup = min(theirs) / min(ours)
    result["in_memory"] = {
        "exoccm_informer_node_transform": _timings(ours, len(lines)),
        "exoccm_informer_no_transform": _timings(ours_raw, len(lines)),
        "kubernetes_asyncio_watch_v1node": _timings(theirs, len(lines)),
        "speedup": round(speedup, 1),
        "target_met": speedup >= TARGET_SPEEDUP,
    }

    if not args.skip_http:
        server = WatchServer(lines)
        try:
            ours_http = [
                anyio.run(ours_over_http, server.url, len(lines)) for _ in range(args.repeat)
            ]
            theirs_http = [
                anyio.run(theirs_over_http, server.url, len(lines)) for _ in range(args.repeat)
            ]
        finally:
            server.close()
        http_speedup = min(theirs_http) / min(ours_http)
        result["over_http"] = {
            "exoccm_informer_node_transform": _timings(ours_http, len(lines)),
            "kubernetes_asyncio_watch_v1node": _timings(theirs_http, len(lines)),
            "speedup": round(http_speedup, 1),
            "target_met": http_speedup >= TARGET_SPEEDUP,
        }

    blobs = [orjson.dumps(node(i, resource_version=1)) for i in range(1000)]
    result["memory_per_1000_nodes"] = memory_per_1000(blobs)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
