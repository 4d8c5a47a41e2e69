"""A process's CPU time and memory as the kernel accounts them, read from ``/proc`` (Linux).

* CPU: ``utime + stime`` of ``/proc/<pid>/stat`` (every thread of the process), in clock ticks;
* memory: ``VmRSS`` (resident now) and ``VmHWM`` (the resident high-water mark since the process
  started, kept by the kernel: a peak no sampling can miss) of ``/proc/<pid>/status``.

:class:`ProcessSampler` samples both in a thread, so per-minute figures need no cooperation
from the process measured.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name (which may hold spaces, inside parentheses); utime and stime
    # are fields 14 and 15 of the whole line (proc(5)).
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` in bytes."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024  # the kernel reports kB
    return out


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic()
    cpu: float  # seconds
    rss: int  # bytes


@dataclass(eq=False)
class ProcessSampler:
    """CPU seconds and RSS of ``pid`` every ``interval`` seconds, in a daemon thread."""

    pid: int
    interval: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def take(self) -> Sample:
        return Sample(time.monotonic(), cpu_seconds(self.pid), memory(self.pid)["VmRSS"])

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self.take())
            except (OSError, ValueError, KeyError):
                return  # the process is gone
            self._stop.wait(self.interval)

    def start(self) -> ProcessSampler:
        self._thread = threading.Thread(target=self._run, name="proc-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.at <= end]

    def cpu_at(self, at: float) -> float:
        """CPU seconds at ``at``, interpolated between the samples around it."""
        samples = self.samples
        times = [s.at for s in samples]
        i = bisect_left(times, at)
        if i == 0:
            return samples[0].cpu
        if i == len(samples):
            return samples[-1].cpu
        before, after = samples[i - 1], samples[i]
        share = (at - before.at) / (after.at - before.at) if after.at > before.at else 0.0
        return before.cpu + share * (after.cpu - before.cpu)

    def cpu_per_minute(self, start: float, end: float) -> list[float]:
        """CPU seconds used in each whole minute from ``start`` until ``end``."""
        minutes = int((end - start) // 60)
        return [
            self.cpu_at(start + 60 * (k + 1)) - self.cpu_at(start + 60 * k) for k in range(minutes)
        ]


def children(parent: int) -> dict[int, str]:
    """The processes whose parent is ``parent``: pid -> command name (at most 15 characters)."""
    out: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        comm = text[text.index("(") + 1 : text.rindex(")")]
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        if ppid == parent:
            out[int(entry.name)] = comm
    return out
