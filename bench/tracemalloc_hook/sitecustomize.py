"""Bench-only: tracemalloc snapshots of an ``exoccm run`` process, for finding where memory goes.

Put this directory on ``PYTHONPATH`` and set ``BENCH_TRACEMALLOC_DIR`` (with
``PYTHONTRACEMALLOC=<frames>`` so tracing starts before exoccm's imports). In an ``exoccm run``
process (other Python processes are left alone) a daemon thread then writes, every few seconds,
``peak.snapshot`` whenever the traced memory is the highest seen so far (by 1 MiB or more) and
``latest.snapshot`` once a minute. Read them with ``bench/tracemalloc_report.py``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

CHECK_EVERY_S = 5.0
LATEST_EVERY_S = 60.0
GROWTH_BYTES = 1 << 20


def _dump(directory: Path, name: str) -> None:
    snapshot = tracemalloc.take_snapshot()
    partial = directory / (name + ".partial")
    snapshot.dump(str(partial))
    partial.replace(directory / name)


def _watch(directory: Path) -> None:
    best = 0
    last_latest = time.monotonic()
    while True:
        time.sleep(CHECK_EVERY_S)  # a daemon thread of its own, not the event loop
        current, _ = tracemalloc.get_traced_memory()
        if current >= best + GROWTH_BYTES:
            best = current
            _dump(directory, "peak.snapshot")
        if time.monotonic() - last_latest >= LATEST_EVERY_S:
            last_latest = time.monotonic()
            _dump(directory, "latest.snapshot")


def _start() -> None:
    target = os.environ.get("BENCH_TRACEMALLOC_DIR")
    if not target or sys.orig_argv[1:4] != ["-m", "exoccm", "run"]:
        return
    if not tracemalloc.is_tracing():
        tracemalloc.start(1)
    directory = Path(target)
    directory.mkdir(parents=True, exist_ok=True)
    threading.Thread(
        target=_watch, args=(directory,), name="tracemalloc-dumps", daemon=True
    ).start()


_start()
