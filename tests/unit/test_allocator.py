"""exoccm.allocator: glibc's malloc thresholds set at start, unless the user set them; nothing
done on another C library; never an exception."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from dataclasses import dataclass, field

from exoccm import allocator
from exoccm.allocator import M_ARENA_MAX, M_MMAP_THRESHOLD, M_TRIM_THRESHOLD


@dataclass
class RecordingGlibc:
    """Stands for glibc in the calls that cannot be observed on the real one (which settings
    were asked for); the real one is used below where the effect can be seen."""

    answer: int = 1
    calls: list[tuple[int, int]] = field(default_factory=list)
    trims: list[int] = field(default_factory=list)

    def gnu_get_libc_version(self) -> bytes:
        return b"2.36"

    def mallopt(self, parameter: ctypes.c_int, value: ctypes.c_int) -> int:
        self.calls.append((parameter.value, value.value))
        return self.answer

    def malloc_trim(self, pad: ctypes.c_size_t) -> int:
        self.trims.append(pad.value)
        return 1


class Musl:
    """musl's C library has a mallopt that does nothing, and no gnu_get_libc_version."""

    def __init__(self) -> None:
        self.called = False

    def mallopt(self, parameter: ctypes.c_int, value: ctypes.c_int) -> int:
        self.called = True
        return 0

    def malloc_trim(self, pad: ctypes.c_size_t) -> int:
        self.called = True
        return 0


ALL = [(M_ARENA_MAX, 2), (M_MMAP_THRESHOLD, 65536), (M_TRIM_THRESHOLD, 131072)]


def test_every_threshold_is_set_when_the_environment_sets_none() -> None:
    libc = RecordingGlibc()
    tuning = allocator.tune({}, libc)
    assert libc.calls == ALL
    assert tuning.applied == {
        "MALLOC_ARENA_MAX": 2,
        "MALLOC_MMAP_THRESHOLD_": 65536,
        "MALLOC_TRIM_THRESHOLD_": 131072,
    }
    assert tuning.user_set == ()
    assert tuning.skipped is None


def test_a_variable_the_user_set_wins() -> None:
    libc = RecordingGlibc()
    tuning = allocator.tune({"MALLOC_ARENA_MAX": "4", "MALLOC_TRIM_THRESHOLD_": "0"}, libc)
    assert libc.calls == [(M_MMAP_THRESHOLD, 65536)]
    assert tuning.user_set == ("MALLOC_ARENA_MAX", "MALLOC_TRIM_THRESHOLD_")
    assert tuning.applied == {"MALLOC_MMAP_THRESHOLD_": 65536}


def test_a_glibc_tunable_the_user_set_wins() -> None:
    libc = RecordingGlibc()
    environ = {"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0:glibc.malloc.mmap_threshold=4096"}
    tuning = allocator.tune(environ, libc)
    assert libc.calls == [(M_ARENA_MAX, 2), (M_TRIM_THRESHOLD, 131072)]
    assert tuning.user_set == ("MALLOC_MMAP_THRESHOLD_",)


def test_an_empty_variable_is_not_a_setting() -> None:
    libc = RecordingGlibc()
    allocator.tune({"MALLOC_ARENA_MAX": "", "GLIBC_TUNABLES": ""}, libc)
    assert libc.calls == ALL


def test_nothing_is_done_on_another_c_library() -> None:
    musl = Musl()
    tuning = allocator.tune({}, musl)
    assert not musl.called
    assert tuning.applied == {}
    assert tuning.skipped == "the C library is not glibc"
    assert allocator.trim(musl) is False
    assert not musl.called


def test_a_refused_setting_is_not_reported_as_applied() -> None:
    tuning = allocator.tune({}, RecordingGlibc(answer=0))
    assert tuning.applied == {}
    assert tuning.skipped is None


def test_a_failing_call_does_not_raise() -> None:
    class Broken(RecordingGlibc):
        def mallopt(self, parameter: ctypes.c_int, value: ctypes.c_int) -> int:
            raise OSError("no such symbol")

        def malloc_trim(self, pad: ctypes.c_size_t) -> int:
            raise OSError("no such symbol")

    tuning = allocator.tune({}, Broken())
    assert tuning.skipped == "mallopt failed: no such symbol"
    assert allocator.trim(Broken()) is False


def test_trim_asks_glibc_to_keep_no_padding() -> None:
    libc = RecordingGlibc()
    assert allocator.trim(libc) is True
    assert libc.trims == [0]


# Run in a fresh interpreter, so that nothing earlier moved glibc's thresholds: maps and frees a
# 1 MiB block (which raises glibc's default threshold to 1 MiB), then asks for another.
SECOND_BLOCK_MAPPED = """
import ctypes, sys
from exoccm import allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
        "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "tune":
    assert allocator.tune({}).applied
mapped = libc.mallinfo2().hblks
libc.free(libc.malloc(1 << 20))
block = libc.malloc(1 << 20)
print(libc.mallinfo2().hblks - mapped)
libc.free(block)
"""


def second_block_mapped(mode: str) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}
    done = subprocess.run(
        [sys.executable, "-c", SECOND_BLOCK_MAPPED, mode],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip() == "1"


def test_on_this_glibc_a_large_block_stays_mapped_after_one_was_freed() -> None:
    """The real effect, and why it matters: by default glibc raises its mmap threshold when a
    mapped block is freed, so the next large block comes from the heap (and what it leaves free
    there stays resident); with the fixed threshold it is mapped again, and unmapped on free."""
    assert allocator.glibc() is not None, "the tests run on glibc"
    assert not second_block_mapped("defaults")
    assert second_block_mapped("tune")
