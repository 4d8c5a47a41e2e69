"""glibc's malloc, told to hand freed memory back: fixed thresholds at start, a trim after sync.

By default glibc raises its mmap threshold (and its trim threshold with it) each time a block
larger than the threshold that it had mapped is freed, up to 32 MiB (mallopt(3)). After exoccm
has freed the bodies of its first large lists, later large blocks then come from the heap, and
what they leave free there stays resident. Fixed thresholds keep large blocks mapped (returned
on free) and the heap's free top trimmed; two arenas instead of eight per core are enough for a
process whose work runs on one event loop thread.

Only on glibc: elsewhere (musl, macOS) nothing is done. A threshold the user set in the
environment (``MALLOC_ARENA_MAX``, ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, or
the same setting in ``GLIBC_TUNABLES``) wins: glibc has applied it already and it is left alone.
Nothing here can stop exoccm from starting.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, cast

# mallopt(3)'s parameter numbers, from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


@dataclass(frozen=True)
class Threshold:
    """One mallopt setting with the environment variable and tunable that override it."""

    variable: str
    tunable: str
    parameter: int
    value: int


# Measured with bench/heartbeats.py (docs/performance.md): blocks of 64 KiB and more mapped on
# their own, the heap trimmed when 128 KiB or more is free at its top, two arenas.
THRESHOLDS = (
    Threshold("MALLOC_ARENA_MAX", "glibc.malloc.arena_max", M_ARENA_MAX, 2),
    Threshold("MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold", M_MMAP_THRESHOLD, 65536),
    Threshold("MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold", M_TRIM_THRESHOLD, 131072),
)


class Libc(Protocol):
    """The part of the C library used here (a ``ctypes.CDLL`` of glibc)."""

    def mallopt(self, parameter: ctypes.c_int, value: ctypes.c_int, /) -> int: ...

    def malloc_trim(self, pad: ctypes.c_size_t, /) -> int: ...


@dataclass(frozen=True)
class Tuning:
    """What :func:`tune` did: the settings applied, the ones the user's environment set, or why
    nothing was done."""

    applied: dict[str, int]
    user_set: tuple[str, ...]
    skipped: str | None = None


def glibc(library: object | None = None) -> Libc | None:
    """``library`` (by default the C library this process runs on) if it is glibc, else ``None``.

    musl has a ``mallopt`` that does nothing; only glibc has ``gnu_get_libc_version``."""
    if library is None:
        try:
            library = ctypes.CDLL(None)
        except OSError:
            return None
    if not all(hasattr(library, name) for name in ("gnu_get_libc_version", "mallopt")):
        return None
    return cast(Libc, library)


def user_set(threshold: Threshold, environ: Mapping[str, str]) -> bool:
    """Whether the environment already sets ``threshold`` (glibc then applied it at start)."""
    if environ.get(threshold.variable, "").strip():
        return True
    tunables = environ.get("GLIBC_TUNABLES", "")
    return any(item.split("=", 1)[0].strip() == threshold.tunable for item in tunables.split(":"))


def tune(environ: Mapping[str, str] = os.environ, library: object | None = None) -> Tuning:
    """Set glibc's malloc thresholds (:data:`THRESHOLDS`) the user has not set; never raises."""
    libc = glibc(library)
    if libc is None:
        return Tuning({}, (), skipped="the C library is not glibc")
    applied: dict[str, int] = {}
    mine = [t for t in THRESHOLDS if not user_set(t, environ)]
    theirs = tuple(t.variable for t in THRESHOLDS if t not in mine)
    for threshold in mine:
        try:
            ok = libc.mallopt(ctypes.c_int(threshold.parameter), ctypes.c_int(threshold.value))
        except (AttributeError, OSError, ctypes.ArgumentError) as error:
            return Tuning(applied, theirs, skipped=f"mallopt failed: {error}")
        if ok == 1:  # mallopt returns 1 on success, 0 on error
            applied[threshold.variable] = threshold.value
    return Tuning(applied, theirs)


def trim(library: object | None = None) -> bool:
    """Hand the heap's free pages back to the system (glibc's ``malloc_trim(0)``): after large
    lists are decoded and their bodies freed. Whether memory was released; never raises."""
    libc = glibc(library)
    if libc is None:
        return False
    try:
        return bool(libc.malloc_trim(ctypes.c_size_t(0)))
    except (AttributeError, OSError, ctypes.ArgumentError):
        return False
