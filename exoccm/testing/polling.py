"""Waiting for a condition of the test ground, or for a process to answer, with a deadline
(never for a fixed time)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")
LOG_TAIL_LINES = 60


def wait_until(
    condition: Callable[[], T], what: str, timeout: float = 60.0, interval: float = 0.2
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something truthy, and
    return that; TimeoutError naming ``what`` (and the last answer) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = condition()
    while not last:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")
        time.sleep(interval)
        last = condition()
    return last


def wait_answering(
    client: httpx.Client,
    url: str,
    *,
    name: str,
    running: Callable[[], bool],
    log: Path,
    deadline: float,
    error: type[Exception] = RuntimeError,
    interval: float = 0.1,
) -> None:
    """Until ``GET url`` answers 200; ``error`` with the tail of ``log`` if the process ``name``
    stops ``running`` first, or if the ``time.monotonic()`` ``deadline`` passes."""
    last = "no answer yet"
    while True:
        if not running():
            raise error(f"{name} exited early; log tail:\n{tail(log)}")
        try:
            response = client.get(url)
            if response.status_code == 200:
                return
            last = f"{response.status_code}: {response.text[-300:]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        if time.monotonic() >= deadline:
            raise error(f"{name} did not answer in time (last: {last}); log tail:\n{tail(log)}")
        time.sleep(interval)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of the log at ``path``."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
