"""Per-key locks: one holder per key, independent keys, no leftover locks."""

from __future__ import annotations

import anyio
import pytest

from exoccm.exoscale.locks import KeyedLocks

pytestmark = pytest.mark.anyio


async def test_same_key_is_serialized_different_keys_are_not() -> None:
    locks = KeyedLocks()
    events: list[str] = []
    release_a = anyio.Event()

    async def hold(key: str, name: str, until: anyio.Event | None = None) -> None:
        async with locks.hold(key):
            events.append(f"{name}+")
            if until is not None:
                await until.wait()
            events.append(f"{name}-")

    async with anyio.create_task_group() as tg:
        tg.start_soon(hold, "nlb-1", "a", release_a)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(hold, "nlb-1", "b")
        tg.start_soon(hold, "nlb-2", "c")
        await anyio.wait_all_tasks_blocked()
        # c ran on its own key; b waits for a.
        assert events == ["a+", "c+", "c-"]
        assert locks.locked("nlb-1")
        release_a.set()
    assert events == ["a+", "c+", "c-", "a-", "b+", "b-"]
    assert len(locks) == 0


async def test_lock_is_released_on_error() -> None:
    locks = KeyedLocks()
    with pytest.raises(RuntimeError):
        async with locks.hold("k"):
            raise RuntimeError("boom")
    assert not locks.locked("k")
    assert len(locks) == 0
