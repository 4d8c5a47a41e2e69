"""Waiting for a condition with a deadline (never a timed assertion)."""

from __future__ import annotations

from collections.abc import Callable

import anyio


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll ``condition`` until it is truthy; fail with TimeoutError after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - the conditions are plain state, not events
            await anyio.sleep(0.001)
